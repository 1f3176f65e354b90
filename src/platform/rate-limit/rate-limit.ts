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
