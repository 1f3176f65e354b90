declare module '../../shared/events.js' {
  interface ChannelEventMap {
    /** A moderation step on a message: `hidden` when flags reached FLAG_HIDE_THRESHOLD. */
    'chat.moderation': { action: 'hidden'; mensagem_id: string };
  }
}
export {};
