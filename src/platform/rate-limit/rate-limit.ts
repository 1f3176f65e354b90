import type { Redis } from 'ioredis';

export type RateLimitDecision = { allowed: true } | { allowed: false; retryAfterMs: number };

export interface RateLimiter {
  /** Counts one hit for `key`; refuses once the window's budget is spent. */
  consume(key: string): Promise<RateLimitDecision>;
}

export type RateLimitRule = { count: number; windowMs: number };

/** Parses `<count>/<seconds>s` (e.g. `5/5s`); `0` turns limiting off (undefined). */
export function parseRateLimitRule(value: string): RateLimitRule | undefined {
  if (value.trim() === '0') return undefined;
  const match = /^\s*(\d+)\s*\/\s*(\d+(?:\.\d+)?)\s*s\s*$/.exec(value);
  if (!match) throw new Error(`invalid rate limit '${value}': use <count>/<seconds>s, e.g. 5/5s, or 0`);
  const count = Number(match[1]);
  const windowMs = Math.round(Number(match[2]) * 1000);
  if (count < 1 || windowMs < 1) throw new Error(`invalid rate limit '${value}'`);
  return { count, windowMs };
}

const unlimited: RateLimiter = { consume: async () => ({ allowed: true }) };

/** Sliding-log limiter in process memory (one node). */
export function createMemoryRateLimiter(
  rule: RateLimitRule | undefined,
  now = () => Date.now(),
): RateLimiter {
  if (!rule) return unlimited;
  const hits = new Map<string, number[]>();
  return {
    async consume(key) {
      const time = now();
      const recent = (hits.get(key) ?? []).filter((at) => at > time - rule.windowMs);
      if (recent.length >= rule.count) {
        hits.set(key, recent);
        return { allowed: false, retryAfterMs: recent[0]! + rule.windowMs - time };
      }
      recent.push(time);
      hits.set(key, recent);
      if (hits.size > 100_000) {
        for (const [other, times] of hits)
          if (times.every((at) => at <= time - rule.windowMs)) hits.delete(other);
      }
      return { allowed: true };
    },
  };
}

// Sliding log in a sorted set, atomically: drop old hits, count, add when under budget.
const SLIDING_LOG = `
local key, now, window, limit, member = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
local count = redis.call('ZCARD', key)
if count >= limit then
  local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  return tonumber(oldest[2]) + window - now
end
redis.call('ZADD', key, now, member)
redis.call('PEXPIRE', key, window)
return -1`;

/**
 * Shared limiter for several nodes. If Redis cannot answer, it falls back to this node's memory
 * limiter rather than refusing every send or letting every send through.
 */
export function createRedisRateLimiter(
  redis: Redis,
  options: { rule: RateLimitRule | undefined; prefix: string; onError?: (error: unknown) => void },
): RateLimiter {
  const { rule } = options;
  if (!rule) return unlimited;
  const fallback = createMemoryRateLimiter(rule);
  let sequence = 0;
  return {
    async consume(key) {
      const now = Date.now();
      try {
        const result = (await redis.eval(
          SLIDING_LOG,
          1,
          `${options.prefix}ratelimit:${key}`,
          now,
          rule.windowMs,
          rule.count,
          `${now}-${process.pid}-${sequence++}-${Math.random()}`,
        )) as number;
        return result < 0 ? { allowed: true } : { allowed: false, retryAfterMs: Math.max(1, result) };
      } catch (error) {
        options.onError?.(error);
        return fallback.consume(key);
      }
    },
  };
}

/**
 * Sliding-window hit counters (the spam rules' budgets): `hit` adds one hit to each key and
 * answers, per key, the hits within the window including this one. Unlike a limiter it never
 * refuses: the caller decides what a count means.
 */
export interface WindowCounter {
  hit(keys: string[], windowMs: number): Promise<number[]>;
}

/** Window counters in process memory (one node). */
export function createMemoryWindowCounter(now = () => Date.now()): WindowCounter {
  // Per key, hit times oldest first from `head` on: expiring moves `head`, not the array, so a
  // busy key (thousands of hits a minute) costs the same per hit as a quiet one.
  const hits = new Map<string, { times: number[]; head: number }>();
  let nextSweep = 0;
  return {
    async hit(keys, windowMs) {
      const time = now();
      const oldest = time - windowMs;
      // Keys are per user and per content: drop the expired ones about once a window.
      if (time >= nextSweep) {
        for (const [key, log] of hits) if (log.times[log.times.length - 1]! <= oldest) hits.delete(key);
        nextSweep = time + windowMs;
      }
      return keys.map((key) => {
        let log = hits.get(key);
        if (!log) hits.set(key, (log = { times: [], head: 0 }));
        while (log.head < log.times.length && log.times[log.head]! <= oldest) log.head += 1;
        if (log.head > 64 && log.head * 2 > log.times.length) {
          log.times = log.times.slice(log.head);
          log.head = 0;
        }
        log.times.push(time);
        return log.times.length - log.head;
      });
    },
  };
}

// One round trip for every key: per key, drop old hits, add this one, count, keep the key a window.
const WINDOW_HITS = `
local now, window, member = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
local counts = {}
for i, key in ipairs(KEYS) do
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  redis.call('ZADD', key, now, member)
  counts[i] = redis.call('ZCARD', key)
  redis.call('PEXPIRE', key, window)
end
return counts`;

/**
 * Window counters shared by every node through Redis. If Redis cannot answer, this node counts
 * in its own memory meanwhile (budgets are then per node) rather than failing the caller.
 */
export function createRedisWindowCounter(
  redis: Redis,
  options: { prefix: string; onError?: (error: unknown) => void },
): WindowCounter {
  const fallback = createMemoryWindowCounter();
  let sequence = 0;
  return {
    async hit(keys, windowMs) {
      const now = Date.now();
      try {
        const counts = (await redis.eval(
          WINDOW_HITS,
          keys.length,
          ...keys.map((key) => `${options.prefix}${key}`),
          now,
          windowMs,
          `${now}-${process.pid}-${sequence++}-${Math.random()}`,
        )) as number[];
        return counts.map(Number);
      } catch (error) {
        options.onError?.(error);
        return fallback.hit(keys, windowMs);
      }
    },
  };
}
