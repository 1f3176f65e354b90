declare module '../../shared/events.js' {
  interface ChannelEventMap {
    /**
     * A moderation step on a message: `hidden` when flags reached FLAG_HIDE_THRESHOLD, `approved`
     * (visible again, flags cleared) or `removed` (deleted) by a moderator.
     */
    'chat.moderation': { action: 'hidden' | 'approved' | 'removed'; mensagem_id: string };
  }
}
export {};
