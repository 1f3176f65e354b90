import type { UserRef } from '../../shared/events.js';
import type { ReplyPreview } from '../messages/messages.replies.js';

declare module '../../shared/events.js' {
  interface UserEventMap {
    /** A new message in one of the user's channels (never their own). */
    'chat.notification': {
      channel: string;
      mensagem_id: string;
      remetente: UserRef | null;
      /** The first 140 characters; null on end-to-end encrypted channels. */
      preview: string | null;
      /** The message's `reply_to` as the receiver may see it (as in `chat.message`). */
      reply_to: ReplyPreview | null;
    };
  }
}
