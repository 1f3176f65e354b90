import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { skipRedisTests, TEST_REDIS_URL, uniqueRedisPrefix } from '../../../test/support/ws.js';
import { createRedisRateLimiter, createRedisWindowCounter, type RateLimiter } from './rate-limit.js';

// Two API nodes share one send budget per user through Redis: each node has its own client and its
// own limiter, pointing at the same prefix.
describe.skipIf(skipRedisTests)('Redis rate limiter', () => {
  const prefix = uniqueRedisPrefix();
  let nodeA: Redis;
  let nodeB: Redis;

  beforeAll(() => {
    nodeA = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: 1 });
    nodeB = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: 1 });
  });

  afterAll(async () => {
    // Remove every key this file created (all of them live under its unique prefix).
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, found] = await nodeA.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
      keys.push(...found);
      cursor = next;
    } while (cursor !== '0');
    if (keys.length > 0) await nodeA.del(...keys);
    expect(await nodeA.keys(`${prefix}*`)).toEqual([]);
    nodeA.disconnect();
    nodeB.disconnect();
  });

  const limiterOn = (redis: Redis, count: number, windowMs: number, keyPrefix = prefix): RateLimiter =>
    createRedisRateLimiter(redis, { rule: { count, windowMs }, prefix: keyPrefix });

  it('two instances on the same prefix share one budget per key', async () => {
    const a = limiterOn(nodeA, 3, 10_000);
    const b = limiterOn(nodeB, 3, 10_000);
    expect((await a.consume('send:shared')).allowed).toBe(true);
    expect((await b.consume('send:shared')).allowed).toBe(true);
    expect((await a.consume('send:shared')).allowed).toBe(true);
    // The budget of 3 is spent across both nodes: both now refuse.
    const refusedB = await b.consume('send:shared');
    const refusedA = await a.consume('send:shared');
    expect(refusedB.allowed).toBe(false);
    expect(refusedA.allowed).toBe(false);
    if (!refusedB.allowed) {
      expect(refusedB.retryAfterMs).toBeGreaterThan(0);
      expect(refusedB.retryAfterMs).toBeLessThanOrEqual(10_000);
    }
    // The window lives in one sorted set under the shared prefix, holding the 3 accepted hits only.
    expect(await nodeA.zcard(`${prefix}ratelimit:send:shared`)).toBe(3);
    const ttl = await nodeA.pttl(`${prefix}ratelimit:send:shared`);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(10_000);
  });

  it('concurrent hits from both instances never exceed the budget', async () => {
    const a = limiterOn(nodeA, 5, 10_000);
    const b = limiterOn(nodeB, 5, 10_000);
    const decisions = await Promise.all(
      Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? a : b).consume('send:burst')),
    );
    expect(decisions.filter((decision) => decision.allowed)).toHaveLength(5);
  });

  it('keys are independent, and so are prefixes', async () => {
    const a = limiterOn(nodeA, 1, 10_000);
    const b = limiterOn(nodeB, 1, 10_000);
    const other = limiterOn(nodeB, 1, 10_000, `${prefix}other:`);
    expect((await a.consume('send:u1')).allowed).toBe(true);
    expect((await b.consume('send:u1')).allowed).toBe(false);
    expect((await b.consume('send:u2')).allowed).toBe(true);
    // Another deployment (another prefix) on the same Redis has its own budget.
    expect((await other.consume('send:u1')).allowed).toBe(true);
  });

  it('the budget comes back once the window has passed', async () => {
    const a = limiterOn(nodeA, 2, 300);
    const b = limiterOn(nodeB, 2, 300);
    expect((await a.consume('send:window')).allowed).toBe(true);
    expect((await b.consume('send:window')).allowed).toBe(true);
    const refused = await a.consume('send:window');
    expect(refused.allowed).toBe(false);
    if (!refused.allowed) expect(refused.retryAfterMs).toBeLessThanOrEqual(300);
    await new Promise((resolve) => setTimeout(resolve, 350));
    expect((await b.consume('send:window')).allowed).toBe(true);
  });

  it('falls back to the node-local budget when Redis cannot answer', async () => {
    const offline = new Redis(TEST_REDIS_URL, {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    offline.on('error', () => undefined);
    const onError = vi.fn();
    const limiter = createRedisRateLimiter(offline, {
      rule: { count: 2, windowMs: 10_000 },
      prefix,
      onError,
    });
    try {
      expect((await limiter.consume('send:offline')).allowed).toBe(true);
      expect((await limiter.consume('send:offline')).allowed).toBe(true);
      expect((await limiter.consume('send:offline')).allowed).toBe(false);
      expect(onError).toHaveBeenCalled();
    } finally {
      offline.disconnect();
    }
  });

  // The spam rules' counters: several keys counted in one round trip, shared by the nodes.
  it('window counters: one call counts every key, both nodes add to the same windows', async () => {
    const a = createRedisWindowCounter(nodeA, { prefix });
    const b = createRedisWindowCounter(nodeB, { prefix });
    const calls = vi.spyOn(nodeA, 'eval');
    expect(await a.hit(['spam:{u1}:rate', 'spam:{u1}:repeat:x'], 10_000)).toEqual([1, 1]);
    expect(calls).toHaveBeenCalledTimes(1);
    expect(await b.hit(['spam:{u1}:rate', 'spam:{u1}:repeat:y'], 10_000)).toEqual([2, 1]);
    expect(await a.hit(['spam:{u1}:rate', 'spam:{u1}:repeat:x'], 10_000)).toEqual([3, 2]);
    expect(await b.hit(['spam:{u2}:rate'], 10_000)).toEqual([1]);
    const ttl = await nodeA.pttl(`${prefix}spam:{u1}:rate`);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(10_000);
    calls.mockRestore();
  });

  it('window counters slide: hits older than the window no longer count', async () => {
    const a = createRedisWindowCounter(nodeA, { prefix });
    expect(await a.hit(['slide'], 300)).toEqual([1]);
    expect(await a.hit(['slide'], 300)).toEqual([2]);
    await new Promise((resolve) => setTimeout(resolve, 350));
    expect(await a.hit(['slide'], 300)).toEqual([1]);
  });

  it('window counters count locally when Redis cannot answer', async () => {
    const offline = new Redis(TEST_REDIS_URL, {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    offline.on('error', () => undefined);
    const onError = vi.fn();
    const counter = createRedisWindowCounter(offline, { prefix, onError });
    try {
      expect(await counter.hit(['k'], 10_000)).toEqual([1]);
      expect(await counter.hit(['k'], 10_000)).toEqual([2]);
      expect(onError).toHaveBeenCalled();
    } finally {
      offline.disconnect();
    }
  });
});
