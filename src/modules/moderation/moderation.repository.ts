import { asc, count, eq } from 'drizzle-orm';
import type { Executor } from '../../platform/db/client.js';
import { users } from '../users/users.table.js';
import { newId } from '../../shared/ids.js';
import {
  chatMessageEdits,
  chatMessageFlags,
  chatModerationLogs,
  type ModerationAction,
} from './moderation.table.js';

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
    /** Records a user's flag; false when that user had already flagged the message. */
    async insertFlag(
      values: { messageId: string; userId: string; motivo: string | null },
      tx: Executor = db,
    ): Promise<boolean> {
      const rows = await tx
        .insert(chatMessageFlags)
        .values({ id: newId(), ...values })
        .onConflictDoNothing({ target: [chatMessageFlags.messageId, chatMessageFlags.userId] })
        .returning({ id: chatMessageFlags.id });
      return rows.length > 0;
    },
    /** Clears a message's flags (a moderator approved it); answers how many there were. */
    async deleteFlags(messageId: string, tx: Executor = db): Promise<number> {
      const rows = await tx
        .delete(chatMessageFlags)
        .where(eq(chatMessageFlags.messageId, messageId))
        .returning({ id: chatMessageFlags.id });
      return rows.length;
    },
    /** A message's earlier versions, oldest first, with who replaced each. */
    async listEdits(messageId: string, tx: Executor = db) {
      return tx
        .select({
          id: chatMessageEdits.id,
          previousContent: chatMessageEdits.previousContent,
          editorId: chatMessageEdits.editorId,
          editorUsername: users.username,
          createdAt: chatMessageEdits.createdAt,
        })
        .from(chatMessageEdits)
        .leftJoin(users, eq(users.id, chatMessageEdits.editorId))
        .where(eq(chatMessageEdits.messageId, messageId))
        .orderBy(asc(chatMessageEdits.createdAt), asc(chatMessageEdits.id));
    },
    /** How many distinct users flagged the message. */
    async countFlaggers(messageId: string, tx: Executor = db): Promise<number> {
      const [row] = await tx
        .select({ n: count() })
        .from(chatMessageFlags)
        .where(eq(chatMessageFlags.messageId, messageId));
      return row?.n ?? 0;
    },
  };
}
export type ModerationRepository = ReturnType<typeof createModerationRepository>;
