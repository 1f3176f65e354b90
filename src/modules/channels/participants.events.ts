import type { ChannelEventPolicies, UserRef } from '../../shared/events.js';

export type ParticipantAction = 'joined' | 'left' | 'removed' | 'role_changed';

declare module '../../shared/events.js' {
  interface ChannelEventMap {
    'chat.participant': { action: ParticipantAction; user: UserRef; is_admin?: boolean; is_owner?: boolean };
  }
}

export const participantEventPolicies: ChannelEventPolicies = {
  'chat.participant': {
    // The user who left or was removed loses the channel with this event, live or replayed.
    endsAccess: (event, viewer) =>
      (event.payload.action === 'removed' || event.payload.action === 'left') &&
      event.payload.user.id === viewer.id
        ? 'revoked'
        : undefined,
  },
};
