import type { UserRef } from '../../shared/events.js';

declare module '../../shared/events.js' {
  interface ChannelEventMap {
    'chat.reaction': {
      mensagem_id: string;
      reactions: Record<string, number>;
      actor: UserRef;
      emoji: string;
      action: 'added' | 'removed';
    };
  }
}
