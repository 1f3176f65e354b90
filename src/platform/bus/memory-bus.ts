import type { Bus, BusHandler } from './bus.js';

/** How long one turn of the event loop may spend delivering before it lets I/O in again. */
const DELIVERY_SLICE_MS = 2;

export type MemoryBusOptions = {
  /** Gets what a subscriber threw; delivery carries on. */
  onError?: (error: unknown) => void;
};

/** In-process bus for the embedded single-node mode and for tests. */
export function createMemoryBus(options: MemoryBusOptions = {}): Bus {
  // Without a reporter a subscriber's bug must still show somewhere, but never end the process.
  const onError = options.onError ?? ((error: unknown) => console.error(error));
  const topics = new Map<string, Set<BusHandler>>();
  // One FIFO for every topic: delivery is asynchronous like Redis (publishers never run
  // subscriber code inline) and in publish order. It runs in slices, so a burst of events (a
  // group write of many messages) does not hold back reading the next sends and database replies.
  let queue: Array<{ topic: string; handler: BusHandler; message: string }> = [];
  let scheduled = false;

  function deliver() {
    const deadline = performance.now() + DELIVERY_SLICE_MS;
    let index = 0;
    while (index < queue.length) {
      const { topic, handler, message } = queue[index++]!;
      try {
        handler(message);
      } catch (error) {
        // Reported, not rethrown: an uncaught exception would shut the whole node down.
        onError(new Error(`a subscriber of bus topic ${topic} failed`, { cause: error }));
      }
      if (performance.now() > deadline) break;
    }
    queue = queue.slice(index);
    scheduled = queue.length > 0;
    if (scheduled) setImmediate(deliver);
  }

  return {
    async publish(topic, message) {
      const handlers = topics.get(topic);
      if (!handlers) return;
      for (const handler of handlers) queue.push({ topic, handler, message });
      if (!scheduled && queue.length > 0) {
        scheduled = true;
        setImmediate(deliver);
      }
    },
    async subscribe(topic, handler) {
      let handlers = topics.get(topic);
      if (!handlers) {
        handlers = new Set();
        topics.set(topic, handlers);
      }
      handlers.add(handler);
      return async () => {
        handlers.delete(handler);
        if (handlers.size === 0) topics.delete(topic);
      };
    },
    async close() {
      topics.clear();
      queue = [];
    },
  };
}
