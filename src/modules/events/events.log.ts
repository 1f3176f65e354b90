import type { ChannelsRepository } from '../channels/channels.repository.js';
import type { MessagesRepository } from '../messages/messages.repository.js';
import type { EventsRepository } from './events.repository.js';
import type { ChannelEvent, ChannelEventType } from './events.events.js';

const MESSAGE_EVENTS = new Set<string>(['chat.message', 'chat.message.updated']);

/** Reads the event log in the same shape as the events published on the bus. */
export function createEventLogReader(deps: {
  eventsRepository: Pick<EventsRepository, 'listAfter' | 'firstSeq'>;
  channelsRepository: Pick<ChannelsRepository, 'findById'>;
  messagesRepository: Pick<MessagesRepository, 'findHiddenOrDeleted'>;
}) {
  return {
    async lastSeq(channelId: string): Promise<number | undefined> {
      return (await deps.channelsRepository.findById(channelId))?.lastSeq;
    },
    firstSeq: (channelId: string) => deps.eventsRepository.firstSeq(channelId),
    /**
     * Events after `afterSeq`, in the shape they were published (payload key order may differ:
     * jsonb sorts keys). A logged message that has since been hidden or deleted is replayed with
     * its current state, so a resuming client never gets content that live clients no longer see:
     * hidden ones carry `hidden_at` (their content then reaches staff only), deleted ones no content.
     */
    async listAfter(channelId: string, afterSeq: number, limit: number): Promise<ChannelEvent[]> {
      const rows = await deps.eventsRepository.listAfter(channelId, afterSeq, limit);
      const messageIds = rows
        .filter((row) => MESSAGE_EVENTS.has(row.type))
        .map((row) => String((row.payload as { id?: unknown }).id));
      const states = new Map(
        (await deps.messagesRepository.findHiddenOrDeleted(messageIds)).map((state) => [state.id, state]),
      );
      return rows.map((row) => {
        let payload = row.payload;
        const state = MESSAGE_EVENTS.has(row.type) ? states.get(String(payload.id)) : undefined;
        if (state?.deletedAt) payload = { ...payload, conteudo: '', conteudo_cifrado: null };
        else if (state?.hiddenAt) payload = { ...payload, hidden_at: state.hiddenAt.toISOString() };
        return {
          type: row.type as ChannelEventType,
          seq: row.seq,
          channel: row.channelId,
          created_at: row.createdAt.toISOString(),
          payload: payload as ChannelEvent['payload'],
        };
      });
    },
  };
}
