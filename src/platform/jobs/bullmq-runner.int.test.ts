import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { testDatabaseKind } from '../../../test/support/database.js';
import {
  createTestJobRegistry,
  deleteKeys,
  startTestWorker,
  testJobKeys,
  type WorkerProcess,
} from '../../../test/support/test-jobs.js';
import { skipRedisTests, TEST_REDIS_URL, uniqueRedisPrefix } from '../../../test/support/ws.js';
import { createBullmqJobRunner } from './bullmq-runner.js';
import { JobsUnavailableError, type JobRunner } from './jobs.js';

// The BullMQ runner on the real Redis, with worker PROCESSES as in production: each test has its
// own key prefix, deleted afterwards. No database is involved, so the tests run once (in the
// int-pglite project), not again on PostgreSQL.

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitUntil(check: () => Promise<boolean>, what: string, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

const fakeLogger = () => ({ debug: vi.fn(), info: vi.fn(), warn: vi.fn(), error: vi.fn() });

describe.skipIf(skipRedisTests || testDatabaseKind !== 'pglite')('BullMQ job runner (real Redis)', () => {
  let redis: Redis;
  const prefixes: string[] = [];
  const workers: WorkerProcess[] = [];
  const runners: JobRunner[] = [];

  beforeAll(() => {
    redis = new Redis(TEST_REDIS_URL);
  });
  afterEach(async () => {
    for (const worker of workers.splice(0)) {
      if (worker.child.exitCode === null && worker.child.signalCode === null) worker.child.kill('SIGKILL');
      await worker.exited;
    }
    await Promise.all(runners.splice(0).map((runner) => runner.close()));
    for (const prefix of prefixes.splice(0)) await deleteKeys(TEST_REDIS_URL, prefix);
  });
  afterAll(() => redis?.disconnect());

  /** A fresh prefix, and a runner in this process (it enqueues; it processes only if started). */
  function setUp() {
    const prefix = uniqueRedisPrefix();
    prefixes.push(prefix);
    const logger = fakeLogger();
    const runner = createBullmqJobRunner({
      registry: createTestJobRegistry(redis, prefix),
      redis: { url: TEST_REDIS_URL, prefix },
      settings: { concurrency: 2, lockDurationMs: 1_000, stalledIntervalMs: 500 },
      logger,
    });
    runners.push(runner as JobRunner);
    const worker = async (env: Record<string, string> = {}) => {
      const started = await startTestWorker({
        REDIS_URL: TEST_REDIS_URL,
        REDIS_PREFIX: prefix,
        WORKER_CONCURRENCY: '2',
        WORKER_LOCK_DURATION_MS: '1000',
        WORKER_STALLED_INTERVAL_MS: '500',
        ...env,
      });
      workers.push(started);
      return started;
    };
    return { prefix, keys: testJobKeys(prefix), runner, logger, worker };
  }

  async function stop(worker: WorkerProcess) {
    worker.child.kill('SIGTERM');
    expect(await worker.exited, worker.output()).toBe(0);
  }

  it('retries a failing job with exponential backoff until it succeeds, and counts it', async () => {
    const { keys, runner, logger } = setUp();
    await runner.start();
    await runner.enqueue('test.flaky', { failures: 2 }, { jobId: 'flaky-1' });
    await waitUntil(
      async () => (await runner.counts()).find((queue) => queue.queue === 'flaky')!.counts.completed === 1,
      'the job to complete',
    );
    const tries = (await redis.lrange(keys.flakyTries('flaky-1'), 0, -1)).map((entry) =>
      entry.split(' ').map(Number),
    );
    expect(tries.map(([attempt]) => attempt)).toEqual([1, 2, 3]);
    // backoffMs 100: 100 ms before the first retry, 200 ms before the second.
    expect(tries[1]![1]! - tries[0]![1]!).toBeGreaterThanOrEqual(100);
    expect(tries[2]![1]! - tries[1]![1]!).toBeGreaterThanOrEqual(200);
    expect((await runner.counts()).find((queue) => queue.queue === 'flaky')!.counts).toEqual({
      waiting: 0,
      active: 0,
      delayed: 0,
      completed: 1,
      failed: 0,
      paused: 0,
    });
    expect(logger.warn).toHaveBeenCalledTimes(2);
    expect(logger.error).not.toHaveBeenCalled();
  });

  it('fails fast when Redis cannot be reached, instead of holding the caller', async () => {
    const { prefix } = setUp();
    const unreachable = createBullmqJobRunner({
      registry: createTestJobRegistry(redis, prefix),
      redis: { url: 'redis://127.0.0.1:1', prefix },
      settings: { concurrency: 1, lockDurationMs: 1_000, stalledIntervalMs: 500 },
      logger: fakeLogger(),
      redisWaitMs: 300,
    });
    runners.push(unreachable as JobRunner);
    const started = Date.now();
    await expect(unreachable.enqueue('test.flaky', { failures: 0 })).rejects.toBeInstanceOf(
      JobsUnavailableError,
    );
    await expect(unreachable.counts()).rejects.toBeInstanceOf(JobsUnavailableError);
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('runs a periodic job once per period across two worker processes', async () => {
    const { keys, worker } = setUp();
    const everyMs = 300;
    // Both processes upsert the same schedule, as every worker does at start.
    const [first, second] = await Promise.all([
      worker({ TICK_EVERY_MS: String(everyMs) }),
      worker({ TICK_EVERY_MS: String(everyMs) }),
    ]);
    await waitUntil(async () => (await redis.llen(keys.ticks)) >= 8, 'eight periods');
    await Promise.all([stop(first!), stop(second!)]);

    const runs = (await redis.lrange(keys.ticks, 0, -1)).map((entry) => {
      const [jobId, pid, at] = entry.split(' ');
      return { jobId: jobId!, pid: Number(pid), at: Number(at) };
    });
    // Each period is one job, run once...
    expect(new Set(runs.map((run) => run.jobId)).size).toBe(runs.length);
    // ...and there is one job per period, not one per process.
    const span = runs.at(-1)!.at - runs[0]!.at;
    expect(runs.length).toBeLessThanOrEqual(Math.floor(span / everyMs) + 2);
    for (const run of runs) expect([first!.child.pid, second!.child.pid]).toContain(run.pid);
  }, 60_000);

  it('retries a job whose worker process was killed mid-run on another worker, and completes it once', async () => {
    const { keys, runner, worker } = setUp();
    const workersById = new Map<number, WorkerProcess>();
    for (const started of await Promise.all([worker(), worker()]))
      workersById.set(started.child.pid!, started);
    await runner.enqueue('test.hold', {}, { jobId: 'hold-1' });
    await waitUntil(async () => (await redis.get(keys.holdHolder('hold-1'))) !== null, 'the first run');
    const holder = workersById.get(Number(await redis.get(keys.holdHolder('hold-1'))))!;
    const survivor = [...workersById.values()].find((other) => other !== holder)!;
    holder.child.kill('SIGKILL');
    await holder.exited;

    // Its lock expires, a stalled check puts the job back in the queue, the survivor runs it.
    await waitUntil(async () => (await redis.get(keys.holdCompletions('hold-1'))) === '1', 'the retry');
    await sleep(1_500);
    expect(await redis.get(keys.holdStarts('hold-1'))).toBe('2');
    expect(await redis.get(keys.holdCompletions('hold-1'))).toBe('1');
    expect((await runner.counts()).find((queue) => queue.queue === 'holds')!.counts).toEqual({
      waiting: 0,
      active: 0,
      delayed: 0,
      completed: 1,
      failed: 0,
      paused: 0,
    });
    expect(survivor.output()).toContain('job stalled');
    await stop(survivor);
  }, 60_000);
});
