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
  // --- spam rules ---
  // A message hidden by a spam rule is pending review for everyone else, but its sender sees it
  // as sent (moderators too, for their own): telling a spammer which sends were caught teaches
  // them the thresholds. A message hidden by flags stays hidden from its author like from others.
  /** Whether this viewer sent this message that a spam rule hid (row or view fields). */
  isOwnSpam: (message: { isSpam: boolean; hidden: boolean; senderId: string | null }, viewer: Viewer) =>
    message.isSpam && message.hidden && message.senderId === viewer.id,
  /** The sender's copy of their own spam message: as if it had been sent normally. */
  asSent<M extends Pick<MessageView, 'hidden_at' | 'is_spam'>>(message: M): M {
    return message.is_spam && message.hidden_at !== null
      ? { ...message, hidden_at: null, is_spam: false }
      : message;
  },
  /** A message as this viewer gets it once they may read it (their own spam: as sent). */
  viewFor(message: MessageView, viewer: Viewer): MessageView {
    return messageVisibility.isOwnSpam(
      {
        isSpam: message.is_spam,
        hidden: message.hidden_at !== null,
        senderId: message.remetente?.id ?? null,
      },
      viewer,
    )
      ? messageVisibility.asSent(message)
      : message;
  },
  // --- end spam rules ---
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
    // The spam sender's own copy (see messageVisibility.asSent).
    personal: (event) =>
      event.payload.is_spam && event.payload.remetente
        ? {
            viewerId: event.payload.remetente.id,
            event: { ...event, payload: messageVisibility.asSent(event.payload) } as ChannelEvent<T>,
          }
        : undefined,
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
