import type { ChannelsRepository } from '../channels/channels.repository.js';
import type { EventsRepository } from './events.repository.js';
import type { ChannelEvent, ChannelEventType } from './events.events.js';

/** Reads the event log in the same shape as the events published on the bus. */
export function createEventLogReader(deps: {
  eventsRepository: Pick<EventsRepository, 'listAfter' | 'firstSeq'>;
  channelsRepository: Pick<ChannelsRepository, 'findById'>;
}) {
  return {
    async lastSeq(channelId: string): Promise<number | undefined> {
      return (await deps.channelsRepository.findById(channelId))?.lastSeq;
    },
    firstSeq: (channelId: string) => deps.eventsRepository.firstSeq(channelId),
    async listAfter(channelId: string, afterSeq: number, limit: number): Promise<ChannelEvent[]> {
      const rows = await deps.eventsRepository.listAfter(channelId, afterSeq, limit);
      // The same shape as the unit of work publishes (payload key order may differ: jsonb sorts keys).
      return rows.map((row) => ({
        type: row.type as ChannelEventType,
        seq: row.seq,
        channel: row.channelId,
        created_at: row.createdAt.toISOString(),
        payload: row.payload as ChannelEvent['payload'],
      }));
    },
  };
}
