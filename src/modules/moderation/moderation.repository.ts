import type { Executor } from '../../platform/db/client.js';
import { newId } from '../../shared/ids.js';
import { chatMessageEdits, chatModerationLogs, type ModerationAction } from './moderation.table.js';

export function createModerationRepository({ db }: { db: Executor }) {
  return {
    async insertEdit(
      values: { messageId: string; previousContent: string; editorId: string },
      tx: Executor = db,
    ) {
      await tx.insert(chatMessageEdits).values({ id: newId(), ...values });
    },
    async insertLog(
      values: {
        messageId: string;
        action: ModerationAction;
        moderatorId: string;
        previousContent?: string | null;
      },
      tx: Executor = db,
    ) {
      await tx.insert(chatModerationLogs).values({ id: newId(), ...values });
    },
  };
}
export type ModerationRepository = ReturnType<typeof createModerationRepository>;
