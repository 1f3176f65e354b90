import type { MessageView } from './messages.views.js';

declare module '../../shared/events.js' {
  interface ChannelEventMap {
    /** A new message; its `seq` is the event's. */
    'chat.message': MessageView;
    'chat.message.updated': MessageView;
    'chat.message.deleted': { mensagem_id: string };
    /** `pinned_at: null` is an unpin. */
    'chat.pin': { mensagem_id: string; pinned_at: string | null };
  }
}
