import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import type { Bus, BusHandler } from './bus.js';

export type RedisBusOptions = {
  url: string;
  prefix: string;
  /** Gets Redis errors. */
  onError?: (error: unknown) => void;
  /** Gets what a subscriber threw (delivery carries on); onError when not given. */
  onSubscriberError?: (error: unknown) => void;
  onReconnect?: () => void;
  /** Metrics: gets each reconnection of either connection, once (onReconnect may fire twice). */
  onConnectionRestored?: (connection: 'publisher' | 'subscriber') => void;
  /** Metrics: gets, once, a reader of how many messages wait for Redis (read at scrape time). */
  exposeBacklog?: (read: () => number) => void;
  /** How many messages it keeps for Redis while the publisher is away; the oldest go first. */
  maxUnpublished?: number;
};

const MAX_UNPUBLISHED = 10_000;
/** Publishes sent together when catching up; ioredis pipelines them on the one connection. */
const RESEND_BATCH = 500;

/**
 * Redis pub/sub bus for several nodes. Local subscribers get a message straight away (so a node
 * keeps delivering locally while Redis is down); Redis carries it to the other nodes, and each node
 * ignores its own messages coming back. Publishing never waits for a Redis that is down: what the
 * publisher could not send is kept (bounded) and sent, in order, once it is back. Other nodes may
 * never have lost Redis themselves, so nothing else would tell them to look in the event log.
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
  const onSubscriberError = options.onSubscriberError ?? onError;
  publisher.on('error', onError);
  subscriber.on('error', onError);
  // Every 'ready' after the first, of either connection, is a reconnection: the caller re-reads
  // what it may have missed.
  for (const [name, connection] of [
    ['subscriber', subscriber],
    ['publisher', publisher],
  ] as const) {
    let ready = false;
    connection.on('ready', () => {
      if (ready) {
        options.onConnectionRestored?.(name);
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
    for (const handler of [...handlers]) {
      try {
        handler(message);
      } catch (error) {
        // Reported, not thrown: ioredis rethrows a listener's error as an uncaught exception,
        // which would shut the whole node down.
        onSubscriberError(new Error(`a subscriber of bus topic ${topic} failed`, { cause: error }));
      }
    }
  };

  // Messages Redis has not taken yet, oldest first; `order` is publish order.
  type Unpublished = { order: number; channel: string; payload: string };
  const maxUnpublished = options.maxUnpublished ?? MAX_UNPUBLISHED;
  let unpublished: Unpublished[] = [];
  let nextOrder = 0;
  let isDropReported = false;
  let isResending = false;
  let isClosed = false;
  options.exposeBacklog?.(() => unpublished.length);

  const keepUnpublished = (message: Unpublished) => {
    // A publish that failed after later ones were kept goes back in its place.
    let index = unpublished.length;
    while (index > 0 && unpublished[index - 1]!.order > message.order) index -= 1;
    unpublished.splice(index, 0, message);
    if (unpublished.length <= maxUnpublished) return;
    unpublished.splice(0, unpublished.length - maxUnpublished);
    if (isDropReported) return;
    isDropReported = true;
    onError(
      new Error(
        `redis bus: more than ${maxUnpublished} messages unpublished while Redis was away; dropping the oldest`,
      ),
    );
  };

  const sendToRedis = (message: Unpublished) =>
    publisher.publish(message.channel, message.payload).then(
      () => true,
      (error: unknown) => {
        onError(error);
        keepUnpublished(message);
        return false;
      },
    );

  /** Sends what was kept, in order; stops at a failure (the next 'ready' or publish goes on). */
  async function resendUnpublished() {
    if (isResending) return;
    isResending = true;
    try {
      while (unpublished.length > 0 && publisher.status === 'ready' && !isClosed) {
        const batch = unpublished.splice(0, RESEND_BATCH);
        const sent = await Promise.all(batch.map(sendToRedis));
        if (sent.includes(false)) break;
      }
      if (unpublished.length === 0) isDropReported = false;
    } finally {
      isResending = false;
    }
  }
  publisher.on('ready', () => void resendUnpublished());

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
      const entry = { order: nextOrder++, channel: redisTopic(topic), payload: `${nodeId}\n${message}` };
      // Behind what is still kept, so Redis gets everything in publish order.
      if (publisher.status !== 'ready' || unpublished.length > 0 || isResending) {
        keepUnpublished(entry);
        if (publisher.status === 'ready') void resendUnpublished();
        return;
      }
      await sendToRedis(entry);
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
      isClosed = true;
      unpublished = [];
      local.clear();
      await Promise.allSettled([subscriber.quit(), publisher.quit()]);
      subscriber.disconnect();
      publisher.disconnect();
    },
  };
}
