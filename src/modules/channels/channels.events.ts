import type { ChannelEventPolicies } from '../../shared/events.js';
import type { ChannelView } from './channels.views.js';

declare module '../../shared/events.js' {
  interface ChannelEventMap {
    /** `created` is a channel's first event (seq 1); after `deleted` its sockets are closed (4404). */
    'chat.channel':
      | { action: 'created'; channel: ChannelView }
      | { action: 'updated'; channel: Pick<ChannelView, 'id' | 'titulo' | 'descricao' | 'categoria'> }
      | { action: 'deleted'; channel: Pick<ChannelView, 'id'> };
  }
}

export const channelEventPolicies: ChannelEventPolicies = {
  'chat.channel': {
    endsAccess: (event) => (event.payload.action === 'deleted' ? 'deleted' : undefined),
  },
};
