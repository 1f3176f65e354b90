import type { Bus, BusHandler } from './bus.js';

/** In-process bus for the embedded single-node mode and for tests. */
export function createMemoryBus(): Bus {
  const topics = new Map<string, Set<BusHandler>>();
  return {
    async publish(topic, message) {
      const handlers = topics.get(topic);
      if (!handlers) return;
      for (const handler of [...handlers]) {
        // Delivery is asynchronous like Redis, so publishers never run subscriber code inline.
        queueMicrotask(() => handler(message));
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
    },
  };
}
