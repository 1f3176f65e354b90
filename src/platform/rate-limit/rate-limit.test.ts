import type { Redis } from 'ioredis';
import { describe, expect, it, vi } from 'vitest';
import {
  createMemoryRateLimiter,
  createMemoryWindowCounter,
  createRedisRateLimiter,
  parseRateLimitRule,
  type RateLimitRule,
} from './rate-limit.js';

/** A clock the test moves by hand. */
function fakeClock(start = 1_000_000) {
  let time = start;
  return {
    now: () => time,
    advance(ms: number) {
      time += ms;
    },
  };
}

describe('parseRateLimitRule', () => {
  it.each([
    ['5/5s', { count: 5, windowMs: 5_000 }],
    ['3/2s', { count: 3, windowMs: 2_000 }],
    ['1/0.5s', { count: 1, windowMs: 500 }],
    ['100/60s', { count: 100, windowMs: 60_000 }],
    [' 3 / 2 s ', { count: 3, windowMs: 2_000 }],
  ])('parses %j', (value, rule) => {
    expect(parseRateLimitRule(value)).toEqual(rule);
  });

  it.each(['0', ' 0 '])('turns limiting off for %j', (value) => {
    expect(parseRateLimitRule(value)).toBeUndefined();
  });

  it.each([
    '',
    'abc',
    '5',
    '5/5',
    '5/s',
    '/5s',
    '5/5m',
    '-1/5s',
    '5/-1s',
    '0/5s',
    '5/0s',
    '5/5s/1',
    '1e3/5s',
  ])('refuses %j with a message naming the value', (value) => {
    expect(() => parseRateLimitRule(value)).toThrow(/invalid rate limit/);
  });
});

describe('createMemoryRateLimiter', () => {
  const rule: RateLimitRule = { count: 3, windowMs: 2_000 };

  it('lets everything through when the rule is off', async () => {
    const limiter = createMemoryRateLimiter(undefined);
    for (let i = 0; i < 1_000; i++) expect(await limiter.consume('k')).toEqual({ allowed: true });
  });

  it('allows `count` hits in the window, then refuses with the time until the oldest expires', async () => {
    const clock = fakeClock();
    const limiter = createMemoryRateLimiter(rule, clock.now);
    expect(await limiter.consume('u')).toEqual({ allowed: true });
    clock.advance(500);
    expect(await limiter.consume('u')).toEqual({ allowed: true });
    clock.advance(500);
    expect(await limiter.consume('u')).toEqual({ allowed: true });
    clock.advance(100);
    // Oldest hit at t0, window 2000, now t0+1100: 900 ms to go.
    expect(await limiter.consume('u')).toEqual({ allowed: false, retryAfterMs: 900 });
  });

  it('does not count refused hits against the budget', async () => {
    const clock = fakeClock();
    const limiter = createMemoryRateLimiter(rule, clock.now);
    for (let i = 0; i < 3; i++) expect((await limiter.consume('u')).allowed).toBe(true);
    for (let i = 0; i < 10; i++) expect((await limiter.consume('u')).allowed).toBe(false);
    clock.advance(2_000);
    // All three hits are exactly one window old: the budget is whole again.
    for (let i = 0; i < 3; i++) expect((await limiter.consume('u')).allowed).toBe(true);
    expect((await limiter.consume('u')).allowed).toBe(false);
  });

  it('slides: each hit frees its slot one window after it was made', async () => {
    const clock = fakeClock();
    const limiter = createMemoryRateLimiter(rule, clock.now);
    await limiter.consume('u'); // t=0
    clock.advance(1_000);
    await limiter.consume('u'); // t=1000
    await limiter.consume('u'); // t=1000
    clock.advance(999); // t=1999: the first hit is still inside the window
    expect(await limiter.consume('u')).toEqual({ allowed: false, retryAfterMs: 1 });
    clock.advance(1); // t=2000: the first hit left the window, one slot free
    expect(await limiter.consume('u')).toEqual({ allowed: true });
    expect(await limiter.consume('u')).toEqual({ allowed: false, retryAfterMs: 1_000 });
    clock.advance(1_000); // t=3000: the two hits of t=1000 left
    expect((await limiter.consume('u')).allowed).toBe(true);
    expect((await limiter.consume('u')).allowed).toBe(true);
    expect((await limiter.consume('u')).allowed).toBe(false);
  });

  it('keeps a separate budget per key', async () => {
    const clock = fakeClock();
    const limiter = createMemoryRateLimiter({ count: 1, windowMs: 1_000 }, clock.now);
    expect((await limiter.consume('send:a')).allowed).toBe(true);
    expect((await limiter.consume('send:a')).allowed).toBe(false);
    expect((await limiter.consume('send:b')).allowed).toBe(true);
    expect((await limiter.consume('send:b')).allowed).toBe(false);
  });

  it('two memory limiters do not share a budget (that is what the Redis limiter is for)', async () => {
    const clock = fakeClock();
    const one = createMemoryRateLimiter({ count: 1, windowMs: 1_000 }, clock.now);
    const two = createMemoryRateLimiter({ count: 1, windowMs: 1_000 }, clock.now);
    expect((await one.consume('k')).allowed).toBe(true);
    expect((await two.consume('k')).allowed).toBe(true);
  });

  it('retryAfterMs is always positive and at most one window', async () => {
    const clock = fakeClock();
    const limiter = createMemoryRateLimiter({ count: 2, windowMs: 1_000 }, clock.now);
    for (let step = 0; step < 50; step++) {
      const decision = await limiter.consume('k');
      if (!decision.allowed) {
        expect(decision.retryAfterMs).toBeGreaterThan(0);
        expect(decision.retryAfterMs).toBeLessThanOrEqual(1_000);
      }
      clock.advance(137);
    }
  });
});

describe('createRedisRateLimiter (with a fake client)', () => {
  const rule: RateLimitRule = { count: 2, windowMs: 1_000 };

  it('never calls Redis when the rule is off', async () => {
    const evalSpy = vi.fn();
    const limiter = createRedisRateLimiter({ eval: evalSpy } as unknown as Redis, {
      rule: undefined,
      prefix: 'p:',
    });
    expect(await limiter.consume('k')).toEqual({ allowed: true });
    expect(evalSpy).not.toHaveBeenCalled();
  });

  it('keys the sorted set under the prefix and maps the script result', async () => {
    const evalSpy = vi.fn().mockResolvedValueOnce(-1).mockResolvedValueOnce(750).mockResolvedValueOnce(0);
    const limiter = createRedisRateLimiter({ eval: evalSpy } as unknown as Redis, { rule, prefix: 'hubx:' });
    expect(await limiter.consume('send:u1')).toEqual({ allowed: true });
    expect(await limiter.consume('send:u1')).toEqual({ allowed: false, retryAfterMs: 750 });
    // A refusal never asks the client to retry in 0 ms.
    expect(await limiter.consume('send:u1')).toEqual({ allowed: false, retryAfterMs: 1 });
    const [, keyCount, key, , window, limit, member] = evalSpy.mock.calls[0]!;
    expect(keyCount).toBe(1);
    expect(key).toBe('hubx:ratelimit:send:u1');
    expect(window).toBe(1_000);
    expect(limit).toBe(2);
    // Every hit is a distinct sorted-set member, or two hits in one millisecond would count once.
    const members = evalSpy.mock.calls.map((call) => call[6] as string);
    expect(new Set(members).size).toBe(3);
    expect(typeof member).toBe('string');
  });

  it('falls back to an in-memory budget and reports the error when Redis fails', async () => {
    const failure = new Error('connection is closed');
    const onError = vi.fn();
    const limiter = createRedisRateLimiter({ eval: vi.fn().mockRejectedValue(failure) } as unknown as Redis, {
      rule,
      prefix: 'p:',
      onError,
    });
    expect((await limiter.consume('k')).allowed).toBe(true);
    expect((await limiter.consume('k')).allowed).toBe(true);
    const third = await limiter.consume('k');
    expect(third.allowed).toBe(false);
    expect(onError).toHaveBeenCalledWith(failure);
    expect(onError).toHaveBeenCalledTimes(3);
  });
});

describe('memory window counter', () => {
  it('counts each key within a sliding window, this hit included', async () => {
    let time = 0;
    const counter = createMemoryWindowCounter(() => time);
    expect(await counter.hit(['a', 'b'], 1_000)).toEqual([1, 1]);
    time = 400;
    expect(await counter.hit(['a'], 1_000)).toEqual([2]);
    time = 1_000; // the first hit (at 0) leaves the window
    expect(await counter.hit(['a', 'b'], 1_000)).toEqual([2, 1]);
    time = 5_000;
    expect(await counter.hit(['a'], 1_000)).toEqual([1]);
  });

  it('a busy key keeps an exact count', async () => {
    let time = 0;
    const counter = createMemoryWindowCounter(() => time);
    let last = 0;
    for (let i = 0; i < 5_000; i++) {
      time = i;
      [last] = (await counter.hit(['busy'], 1_000)) as [number];
    }
    expect(last).toBe(1_000);
  });
});
