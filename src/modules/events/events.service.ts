import type { Bus } from '../../platform/bus/bus.js';
import type { Database, Transaction } from '../../platform/db/client.js';
import { runInTransactionScope } from '../../platform/db/transaction-guard.js';
import type { EventsRepository } from './events.repository.js';
import {
  channelTopic,
  type ChannelEvent,
  type ChannelEventPayloads,
  type ChannelEventType,
} from './events.events.js';

/** Records events inside a transaction; they are published only once it has committed. */
export type EventRecorder = {
  record<T extends ChannelEventType>(input: {
    channelId: string;
    type: T;
    payload: ChannelEventPayloads[T];
  }): Promise<ChannelEvent<T>>;
};

export function createUnitOfWork(deps: {
  db: Database;
  eventsRepository: EventsRepository;
  bus: Pick<Bus, 'publish'>;
  onPublishError?: (error: unknown) => void;
}) {
  const { db, eventsRepository, bus } = deps;

  function recorderFor(tx: Transaction, pending: ChannelEvent[]): EventRecorder {
    return {
      async record({ channelId, type, payload }) {
        const eventSeq = await eventsRepository.allocateSeq(tx, channelId);
        const createdAt = await eventsRepository.insert(tx, {
          channelId,
          seq: eventSeq,
          type,
          payload: payload as Record<string, unknown>,
        });
        const event = {
          type,
          seq: eventSeq,
          channel: channelId,
          created_at: createdAt.toISOString(),
          payload,
        };
        pending.push(event);
        return event;
      },
    };
  }

  async function publish(events: ChannelEvent[]) {
    for (const event of events) {
      // The log already holds the event; a failed publish is recovered by clients through `since`.
      await bus.publish(channelTopic(event.channel), JSON.stringify(event)).catch((error: unknown) => {
        deps.onPublishError?.(error);
      });
    }
  }

  return {
    /** Publishes events of a write that committed on its own (a single autocommit statement). */
    publishCommitted: (events: ChannelEvent[]) => publish(events),
    /** Runs `work` in one transaction, then publishes the events it recorded. */
    async run<T>(work: (tx: Transaction, events: EventRecorder) => Promise<T>): Promise<T> {
      const pending: ChannelEvent[] = [];
      const result = await db.transaction((tx) =>
        runInTransactionScope(() => work(tx, recorderFor(tx, pending))),
      );
      await publish(pending);
      return result;
    },
  };
}
export type UnitOfWork = ReturnType<typeof createUnitOfWork>;
