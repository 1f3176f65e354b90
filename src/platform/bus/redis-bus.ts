import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import type { Bus, BusHandler } from './bus.js';

export type RedisBusOptions = {
  url: string;
  prefix: string;
  onError?: (error: unknown) => void;
  onReconnect?: () => void;
};

/**
 * Redis pub/sub bus for several nodes. Local subscribers get a message straight away (so a node
 * keeps delivering locally while Redis is down); Redis carries it to the other nodes, and each node
 * ignores its own messages coming back. Publishing never waits for a Redis that is down: the event
 * log, not the bus, is what makes delivery loss-free.
 */
export async function createRedisBus(options: RedisBusOptions): Promise<Bus & { nodeId: string }> {
  const nodeId = randomUUID();
  const retryStrategy = (attempt: number) => Math.min(100 * 2 ** Math.min(attempt, 6), 5_000);
  const publisher = new Redis(options.url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    retryStrategy,
  });
  const subscriber = new Redis(options.url, {
    autoResubscribe: true,
    maxRetriesPerRequest: null,
    retryStrategy,
  });
  const local = new Map<string, Set<BusHandler>>();
  const onError = options.onError ?? (() => undefined);
  publisher.on('error', onError);
  subscriber.on('error', onError);
  // Every 'ready' after the first, of either connection, is a reconnection: the caller re-reads
  // what it may have missed (publishes skipped while the publisher was down included).
  for (const connection of [subscriber, publisher]) {
    let ready = false;
    connection.on('ready', () => {
      if (ready) {
        options.onReconnect?.();
        // Resubscription completes a little after 'ready': look once more for what fell between.
        setTimeout(() => options.onReconnect?.(), 1_000).unref();
      }
      ready = true;
    });
  }

  const redisTopic = (topic: string) => `${options.prefix}${topic}`;
  const deliver = (topic: string, message: string) => {
    const handlers = local.get(topic);
    if (!handlers) return;
    for (const handler of [...handlers]) handler(message);
  };

  subscriber.on('messageBuffer', (channel: Buffer, payload: Buffer) => {
    // Envelope: <nodeId>\n<message>. Skip what this node published: it was delivered locally already.
    const text = payload.toString('utf8');
    const newline = text.indexOf('\n');
    if (newline < 0 || text.slice(0, newline) === nodeId) return;
    deliver(channel.toString('utf8').slice(options.prefix.length), text.slice(newline + 1));
  });

  await Promise.all([
    new Promise<void>((resolve) =>
      subscriber.status === 'ready' ? resolve() : subscriber.once('ready', resolve),
    ),
    new Promise<void>((resolve) =>
      publisher.status === 'ready' ? resolve() : publisher.once('ready', resolve),
    ),
  ]);

  return {
    nodeId,
    async publish(topic, message) {
      queueMicrotask(() => deliver(topic, message));
      if (publisher.status !== 'ready') return;
      await publisher.publish(redisTopic(topic), `${nodeId}\n${message}`).catch(onError);
    },
    async subscribe(topic, handler) {
      let handlers = local.get(topic);
      if (!handlers) {
        handlers = new Set();
        local.set(topic, handlers);
        // While Redis is down the subscription is queued and made on reconnect (autoResubscribe);
        // waiting for it then would hold up local delivery, so only wait on a live connection.
        const subscribed = subscriber.subscribe(redisTopic(topic)).catch(onError);
        if (subscriber.status === 'ready') await subscribed;
      }
      handlers.add(handler);
      return async () => {
        handlers.delete(handler);
        if (handlers.size === 0 && local.get(topic) === handlers) {
          local.delete(topic);
          await subscriber.unsubscribe(redisTopic(topic)).catch(onError);
        }
      };
    },
    async close() {
      local.clear();
      await Promise.allSettled([subscriber.quit(), publisher.quit()]);
      subscriber.disconnect();
      publisher.disconnect();
    },
  };
}
