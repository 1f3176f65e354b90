import { toCsv } from '../../platform/csv/csv.js';
import type { UnitOfWork } from '../../shared/events.js';
import type { AuthUser } from '../auth/auth.service.js';
import type { ChannelAccess } from '../channels/channels.access.js';
import type { MessageEditor, MessageFinder } from '../messages/messages.service.js';
import { replyVisibility } from '../messages/messages.replies.js';
import type { MessageView } from '../messages/messages.views.js';
import {
  createRestoreEncryptedError,
  createRestoreForbiddenError,
  createVersionNotFoundError,
} from './moderation.errors.js';
import type { ModerationRepository } from './moderation.repository.js';

/** One entry of `GET …/history/` (what an edit replaced). */
export type HistoryEntry = {
  id: string;
  conteudo: string;
  editor: { id: string; username: string } | null;
  created_at: string;
};

/** The columns of `GET …/history/?formato=csv`, in order. */
export const HISTORY_CSV_COLUMNS = ['id', 'conteudo', 'editor', 'created_at'] as const;

/** The history as a CSV document (formula cells neutralized by the shared writer); `editor` is the username. */
export function historyToCsv(entries: readonly HistoryEntry[]): string {
  return toCsv(
    HISTORY_CSV_COLUMNS,
    entries.map((entry) => [entry.id, entry.conteudo, entry.editor?.username ?? '', entry.created_at]),
  );
}

/**
 * Restoring an earlier version of a message (channel admins, owners and moderators): the version's
 * text becomes the message's content through the same write as an edit (history row, `edit` log,
 * `chat.message.updated` to every socket), plus an `edit_restored` log row naming the version.
 */
export function createHistoryRestorer(deps: {
  uow: UnitOfWork;
  access: Pick<ChannelAccess, 'requireReadable'>;
  messages: MessageFinder;
  editor: MessageEditor;
  moderationRepository: Pick<ModerationRepository, 'findEdit' | 'insertLog'>;
}) {
  const { uow, access, messages, editor, moderationRepository } = deps;
  return {
    /**
     * Checks in the order of docs/permissions.md: the channel (404), the message in it (404), the
     * role (403), then the version, which must be one of this message's (404, nothing written).
     */
    async restoreVersion(
      user: AuthUser,
      channelId: string,
      messageId: string,
      versionId: string,
    ): Promise<MessageView> {
      const standing = await access.requireReadable(user, channelId);
      return uow.run(async (tx, events) => {
        const row = await messages.findVisible(standing, messageId, tx, true);
        // The sender alone may edit but not restore: restoring is a moderation act.
        if (!standing.isAdmin) throw createRestoreForbiddenError();
        const version = await moderationRepository.findEdit(row.message.id, versionId, tx);
        if (!version) throw createVersionNotFoundError();
        // A version of an E2EE message is ciphertext under a key version the history does not keep:
        // the server cannot vouch that it still decrypts, so only the sender (who holds the key) edits.
        if (standing.channel.e2eeHabilitado || row.message.conteudoCifrado !== null)
          throw createRestoreEncryptedError();
        const replaced = row.message.conteudo;
        const updated = await editor.applyEdit(tx, events, {
          row,
          editorId: user.id,
          content: { conteudo: version.previousContent },
        });
        await moderationRepository.insertLog(
          {
            messageId: row.message.id,
            channelId: row.message.channelId,
            action: 'edit_restored',
            moderatorId: user.id,
            previousContent: replaced,
            reason: version.id,
          },
          tx,
        );
        return replyVisibility.forViewer(updated.view, {
          id: standing.user.id,
          isModerator: standing.isModerator,
        });
      });
    },
  };
}
export type HistoryRestorer = ReturnType<typeof createHistoryRestorer>;
