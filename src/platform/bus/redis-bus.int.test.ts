import { createServer, Socket, type AddressInfo, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { skipRedisTests, TEST_REDIS_URL, uniqueRedisPrefix } from '../../../test/support/ws.js';
import type { Bus } from './bus.js';
import { createRedisBus, type RedisBusOptions } from './redis-bus.js';
import { createMetrics } from '../metrics/metrics.js';
import { readSample } from '../../../test/support/metrics.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitUntil(condition: () => boolean, timeoutMs: number, what: string) {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

/**
 * A TCP proxy in front of the test Redis: cutting it takes Redis away from the buses behind it
 * only, as a network fault between one node and Redis would, while the others stay connected.
 */
async function startRedisProxy() {
  const target = new URL(TEST_REDIS_URL);
  const sockets = new Set<Socket>();
  let isCut = false;
  const track = (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
  };
  const server: Server = createServer((client) => {
    track(client);
    if (isCut) {
      client.destroy();
      return;
    }
    const upstream = new Socket();
    track(upstream);
    upstream.connect(Number(target.port || 6379), target.hostname);
    client.pipe(upstream).pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `redis://127.0.0.1:${port}`,
    cut() {
      isCut = true;
      for (const socket of sockets) socket.destroy();
    },
    restore() {
      isCut = false;
    },
    async close() {
      this.cut();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

describe.skipIf(skipRedisTests)('Redis bus', () => {
  const cleanups: Array<() => Promise<unknown>> = [];
  afterEach(async () => {
    // Pub/sub leaves no keys behind: closing the connections is the whole cleanup.
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function openBus(options: Partial<RedisBusOptions> & { prefix: string }) {
    const errors: unknown[] = [];
    const bus = await createRedisBus({ url: TEST_REDIS_URL, onError: (e) => errors.push(e), ...options });
    cleanups.push(() => bus.close());
    return { bus, errors };
  }

  /** A sending bus behind a proxy that a test can cut, and what a directly connected bus receives on `t`. */
  async function senderBehindProxy(options: Partial<RedisBusOptions> = {}) {
    const prefix = uniqueRedisPrefix();
    const proxy = await startRedisProxy();
    cleanups.push(() => proxy.close());
    const sender = await openBus({ prefix, url: proxy.url, ...options });
    const receiver = await openBus({ prefix });
    const { seen, subscribed } = record(receiver.bus, 't');
    await subscribed;
    return { proxy, sender, seen };
  }

  function record(bus: Bus, topic: string) {
    const seen: string[] = [];
    const subscribed = bus.subscribe(topic, (message) => seen.push(message));
    return { seen, subscribed };
  }

  it('reports a subscriber that throws and goes on delivering, from Redis and locally', async () => {
    const prefix = uniqueRedisPrefix();
    const sender = await openBus({ prefix });
    const receiver = await openBus({ prefix });
    const failure = new Error('subscriber bug');
    const fail = () => {
      throw failure;
    };
    await receiver.bus.subscribe('t', fail);
    const onT = record(receiver.bus, 't');
    const onU = record(receiver.bus, 'u');
    await sender.bus.subscribe('t', fail);
    const localT = record(sender.bus, 't');
    await Promise.all([onT.subscribed, onU.subscribed, localT.subscribed]);

    await sender.bus.publish('t', 'x');
    await sender.bus.publish('u', 'y');
    await sender.bus.publish('t', 'z');
    await waitUntil(() => onT.seen.length === 2 && onU.seen.length === 1, 5_000, 'the messages');
    expect(onT.seen).toEqual(['x', 'z']);
    expect(onU.seen).toEqual(['y']);
    expect(localT.seen).toEqual(['x', 'z']);
    expect(receiver.errors).toHaveLength(2);
    expect(receiver.errors[0]).toMatchObject({ cause: failure });
    expect(sender.errors).toHaveLength(2);
    expect(sender.errors[0]).toMatchObject({ cause: failure });
  });

  it('publishes what it could not while only its own connection was down, in order, once', async () => {
    const { proxy, sender, seen } = await senderBehindProxy();
    await sender.bus.publish('t', 'before');
    await waitUntil(() => seen.length === 1, 5_000, 'the message sent before the fault');

    proxy.cut();
    await sleep(100);
    for (const message of ['during-1', 'during-2', 'during-3']) await sender.bus.publish('t', message);
    await sleep(300);
    expect(seen).toEqual(['before']);

    // The receiver never lost Redis: nothing but the sender can make up for what it missed.
    proxy.restore();
    await waitUntil(() => seen.length >= 4, 10_000, 'the messages published during the fault');
    await sender.bus.publish('t', 'after');
    await waitUntil(() => seen.length >= 5, 5_000, 'the message sent after the fault');
    await sleep(200);
    expect(seen).toEqual(['before', 'during-1', 'during-2', 'during-3', 'after']);
  });

  it('loses nothing when its connection drops in the middle of a burst', async () => {
    const { proxy, sender, seen } = await senderBehindProxy();

    const published: Array<Promise<void>> = [];
    for (let i = 0; i < 300; i += 1) {
      // Some publishes are in flight when the connection goes, others start while it is gone.
      if (i === 150) proxy.cut();
      published.push(sender.bus.publish('t', String(i)));
      if (i % 10 === 0) await sleep(1);
    }
    await sleep(200);
    proxy.restore();
    await Promise.all(published);
    await waitUntil(() => new Set(seen).size === 300, 10_000, 'every message');
    // A publish Redis took just before the fault may come again (receivers drop repeats by seq).
    const firstArrivals = seen.filter((message, index) => seen.indexOf(message) === index);
    expect(firstArrivals).toEqual(Array.from({ length: 300 }, (_, i) => String(i)));
  });

  it('keeps only the newest messages while its connection is down, and says so once', async () => {
    const { proxy, sender, seen } = await senderBehindProxy({ maxUnpublished: 50 });

    proxy.cut();
    await sleep(100);
    for (let i = 0; i < 80; i += 1) await sender.bus.publish('t', String(i));
    proxy.restore();
    await waitUntil(() => seen.length >= 50, 10_000, 'the kept messages');
    await sleep(200);
    expect(seen).toEqual(Array.from({ length: 50 }, (_, i) => String(i + 30)));
    expect(sender.errors.filter((e) => String(e).includes('dropping the oldest'))).toHaveLength(1);
  });

  it('reports its backlog while Redis is away and each reconnection once, to the metrics', async () => {
    const metrics = createMetrics();
    const { proxy, sender, seen } = await senderBehindProxy({
      onConnectionRestored: (connection) => metrics.busReconnected(connection),
      exposeBacklog: (read) => metrics.setBusBacklogSource(read),
    });
    const scrape = async () => {
      const text = await metrics.render();
      return {
        backlog: readSample(text, 'hubx_bus_publish_backlog'),
        publisher: readSample(text, 'hubx_bus_reconnects_total', { connection: 'publisher' }),
        subscriber: readSample(text, 'hubx_bus_reconnects_total', { connection: 'subscriber' }),
      };
    };
    expect(await scrape()).toEqual({ backlog: 0, publisher: 0, subscriber: 0 });

    proxy.cut();
    await sleep(100);
    for (const message of ['a', 'b', 'c']) await sender.bus.publish('t', message);
    expect((await scrape()).backlog).toBe(3);

    proxy.restore();
    await waitUntil(() => seen.length >= 3, 10_000, 'the kept messages');
    // The bus's own onReconnect fires twice per reconnection (once more after a second): one count.
    await sleep(1_200);
    expect(await scrape()).toEqual({ backlog: 0, publisher: 1, subscriber: 1 });
  });
});
