import type {
  ChannelEvent,
  ChannelEventPolicies,
  ChannelEventPolicy,
  ChannelEventRefreshers,
  Viewer,
} from '../../shared/events.js';
import { createReplyRefresher, replyVisibility } from './messages.replies.js';
import type { MessagesRepository } from './messages.repository.js';
import type { MessageView } from './messages.views.js';

/**
 * Who sees what of a message: the one rule behind REST reads, live delivery, `since` replays and
 * notifications. A hidden message's content reaches moderators only; everyone else gets it
 * without content on sockets (so `seq` stays gap-free) and not at all in lists and notifications.
 */
export const messageVisibility = {
  isHidden: (message: Pick<MessageView, 'hidden_at'>) => message.hidden_at !== null,
  seesHidden: (viewer: Viewer) => viewer.isModerator,
  /** Whether the viewer may read this message's content. */
  canSee(message: Pick<MessageView, 'hidden_at'>, viewer: Viewer): boolean {
    return !messageVisibility.isHidden(message) || messageVisibility.seesHidden(viewer);
  },
  withoutContent: (message: MessageView): MessageView => ({
    ...message,
    conteudo: '',
    conteudo_cifrado: null,
  }),
};

type MessageEventType = 'chat.message' | 'chat.message.updated';

function messageEventPolicy<T extends MessageEventType>(): ChannelEventPolicy<T> {
  return {
    redact: (event) => {
      const hidden = messageVisibility.isHidden(event.payload);
      // A reply to a hidden or spam parent: non-moderators get `{id, indisponivel}` (messages.replies.ts).
      const replyRestricted = replyVisibility.isRestricted(event.payload.reply_to);
      if (!hidden && !replyRestricted) return undefined;
      let payload = hidden ? messageVisibility.withoutContent(event.payload) : event.payload;
      if (replyRestricted) payload = { ...payload, reply_to: replyVisibility.redact(payload.reply_to) };
      return { ...event, payload } as ChannelEvent<T>;
    },
    seesOriginal: (_event, viewer) => messageVisibility.seesHidden(viewer),
  };
}

export const messageEventPolicies: ChannelEventPolicies = {
  'chat.message': messageEventPolicy<'chat.message'>(),
  'chat.message.updated': messageEventPolicy<'chat.message.updated'>(),
};

/**
 * A logged message that has since been hidden or deleted is replayed with its current state:
 * hidden ones carry `hidden_at` (the policy above then redacts them), deleted ones no content.
 */
export function createMessageEventRefreshers(deps: {
  messagesRepository: Pick<MessagesRepository, 'findHiddenOrDeleted' | 'findReplyParents'>;
}): ChannelEventRefreshers {
  async function refresh<T extends MessageEventType>(events: Array<ChannelEvent<T>>) {
    const states = new Map(
      (await deps.messagesRepository.findHiddenOrDeleted(events.map((event) => event.payload.id))).map(
        (state) => [state.id, state],
      ),
    );
    return events.map((event) => {
      const state = states.get(event.payload.id);
      if (state?.deletedAt)
        return { ...event, payload: { ...event.payload, conteudo: '', conteudo_cifrado: null } };
      if (state?.hiddenAt)
        return { ...event, payload: { ...event.payload, hidden_at: state.hiddenAt.toISOString() } };
      return event;
    });
  }
  const refreshReplies = createReplyRefresher(deps);
  return {
    'chat.message': async (events) => refreshReplies(await refresh(events)),
    'chat.message.updated': async (events) => refreshReplies(await refresh(events)),
  };
}
