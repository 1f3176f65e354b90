import type { Bus } from '../../platform/bus/bus.js';
import type { Database, Transaction } from '../../platform/db/client.js';
import { runInTransactionScope } from '../../platform/db/transaction-guard.js';
import {
  toChannelEvent,
  type ChannelEvent,
  type EventRecorder,
  type UnitOfWork,
} from '../../shared/events.js';
import { publishOn, topics } from '../../shared/topics.js';
import type { EventsRepository } from './events.repository.js';

/**
 * The one way state changes record their events: in a transaction (`run`) or in a statement that
 * commits on its own (`runCommitted`, the send path's group commit). Either way each event is made
 * by `toChannelEvent` and published on its channel's topic after the commit.
 */
export function createUnitOfWork(deps: {
  db: Database;
  eventsRepository: Pick<EventsRepository, 'allocateSeq' | 'insert'>;
  bus: Pick<Bus, 'publish'>;
  onPublishError?: (error: unknown) => void;
}): UnitOfWork {
  const { db, eventsRepository, bus } = deps;

  const logged =
    (pending: ChannelEvent[]): EventRecorder['logged'] =>
    (draft, seq, createdAt) => {
      const event = toChannelEvent(draft, seq, createdAt);
      pending.push(event as ChannelEvent);
      return event;
    };

  function recorderFor(tx: Transaction, pending: ChannelEvent[]): EventRecorder {
    return {
      async record(draft) {
        const seq = await eventsRepository.allocateSeq(tx, draft.channelId);
        const createdAt = await eventsRepository.insert(tx, {
          channelId: draft.channelId,
          seq,
          type: draft.type,
          payload: draft.payload,
        });
        return logged(pending)(draft, seq, createdAt);
      },
      logged: logged(pending),
    };
  }

  async function publish(events: ChannelEvent[]) {
    for (const event of events) {
      // The log already holds the event; a failed publish is recovered by clients through `since`.
      await publishOn(bus, topics.channel(event.channel), event).catch((error: unknown) => {
        deps.onPublishError?.(error);
      });
    }
  }

  return {
    async run(work) {
      const pending: ChannelEvent[] = [];
      const result = await db.transaction((tx) =>
        runInTransactionScope(() => work(tx, recorderFor(tx, pending))),
      );
      await publish(pending);
      return result;
    },
    async runCommitted(work) {
      const pending: ChannelEvent[] = [];
      const result = await work({ logged: logged(pending) });
      await publish(pending);
      return result;
    },
  };
}
