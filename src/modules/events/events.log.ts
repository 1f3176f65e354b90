import type {
  ChannelEvent,
  ChannelEventRefresher,
  ChannelEventRefreshers,
  ChannelEventType,
} from '../../shared/events.js';
import type { EventsRepository } from './events.repository.js';

/** Reads the event log in the same shape as the events published on the bus. */
export function createEventLogReader(deps: {
  eventsRepository: Pick<EventsRepository, 'listAfter' | 'firstSeq' | 'lastSeq'>;
  /** Per event type, how its module brings logged events up to date before a replay. */
  refreshers: ChannelEventRefreshers;
}) {
  /** Runs each type's refresher once over that type's events, keeping the log's order. */
  async function refresh(events: ChannelEvent[]): Promise<ChannelEvent[]> {
    const byType = new Map<ChannelEventType, number[]>();
    events.forEach((event, index) => {
      if (!deps.refreshers[event.type]) return;
      const indexes = byType.get(event.type) ?? [];
      indexes.push(index);
      byType.set(event.type, indexes);
    });
    const result = [...events];
    for (const [type, indexes] of byType) {
      // The map pairs each type with its own refresher; TypeScript cannot follow that through `type`.
      const refresher = deps.refreshers[type] as ChannelEventRefresher<ChannelEventType>;
      const fresh = await refresher(indexes.map((index) => events[index]!));
      indexes.forEach((index, position) => (result[index] = fresh[position]!));
    }
    return result;
  }

  return {
    /** The channel's last seq; undefined when the channel does not exist (or is deleted). */
    lastSeq: (channelId: string) => deps.eventsRepository.lastSeq(channelId),
    /** The oldest seq the log still holds (retention prunes older ones). */
    firstSeq: (channelId: string) => deps.eventsRepository.firstSeq(channelId),
    /**
     * Events after `afterSeq`, in the shape they were published (payload key order may differ:
     * jsonb sorts keys), each brought to the current state of what it describes by its module.
     */
    async listAfter(channelId: string, afterSeq: number, limit: number): Promise<ChannelEvent[]> {
      const rows = await deps.eventsRepository.listAfter(channelId, afterSeq, limit);
      return refresh(rows.map((row) => row.event));
    },
  };
}
export type EventLogReader = ReturnType<typeof createEventLogReader>;
