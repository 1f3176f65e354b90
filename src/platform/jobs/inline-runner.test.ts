import { afterEach, describe, expect, it, vi } from 'vitest';
import { createInlineJobRunner } from './inline-runner.js';
import {
  backoffDelayMs,
  createJobRegistry,
  defineJob,
  type AnyJobDefinition,
  type JobContext,
  type JobRegistry,
  type JobRunner,
} from './jobs.js';

// The embedded runner: the processors run in this process, after enqueue returns, with the retry
// policy and the schedules the worker has.

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitUntil(check: () => boolean, what: string, timeoutMs = 5_000) {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

const fakeLogger = () => ({ debug: vi.fn(), info: vi.fn(), warn: vi.fn(), error: vi.fn() });

const runners: JobRunner[] = [];
afterEach(async () => {
  await Promise.all(runners.splice(0).map((runner) => runner.close()));
});

function inlineRunner<Jobs extends AnyJobDefinition>(registry: JobRegistry<Jobs>, concurrency = 2) {
  const logger = fakeLogger();
  const runner = createInlineJobRunner({ registry, settings: { concurrency }, logger });
  runners.push(runner as JobRunner);
  return { runner, logger };
}

describe('job registry', () => {
  it('refuses two jobs of one name and queue names BullMQ cannot store', () => {
    const job = defineJob({ name: 'twice', process: async (_payload: null) => undefined });
    expect(() => createJobRegistry([job, job])).toThrow(/"twice" is defined twice/);
    expect(() =>
      createJobRegistry([
        defineJob({ name: 'x', queue: 'a:b', process: async (_payload: null) => undefined }),
      ]),
    ).toThrow(/may not contain ':'/);
  });

  it('backs off exponentially: the n-th retry waits backoffMs × 2^(n−1)', () => {
    expect([1, 2, 3, 4].map((retry) => backoffDelayMs(retry, 1_000))).toEqual([1_000, 2_000, 4_000, 8_000]);
  });
});

describe('inline job runner', () => {
  it('runs an enqueued job in process, after enqueue has returned, with its payload', async () => {
    const seen: Array<{ payload: { text: string }; context: JobContext }> = [];
    const { runner, logger } = inlineRunner(
      createJobRegistry([
        defineJob({
          name: 'test.echo',
          async process(payload: { text: string }, context) {
            seen.push({ payload, context });
          },
        }),
      ]),
    );
    await runner.start();
    await runner.enqueue('test.echo', { text: 'hello' }, { jobId: 'echo-1' });
    expect(seen).toEqual([]);
    await waitUntil(() => seen.length === 1, 'the job');
    expect(seen).toEqual([{ payload: { text: 'hello' }, context: { jobId: 'echo-1', attempt: 1 } }]);
    // The same id again is not a second job.
    await runner.enqueue('test.echo', { text: 'hello' }, { jobId: 'echo-1' });
    await sleep(50);
    expect(seen).toHaveLength(1);
    expect((await runner.counts())[0]).toEqual({
      queue: 'default',
      counts: { waiting: 0, active: 0, delayed: 0, completed: 1, failed: 0, paused: 0 },
    });
    expect(logger.warn).not.toHaveBeenCalled();
    expect(logger.error).not.toHaveBeenCalled();
  });

  it('keeps jobs waiting until start()', async () => {
    const ran = vi.fn(async (_payload: Record<string, never>) => undefined);
    const { runner } = inlineRunner(createJobRegistry([defineJob({ name: 'test.later', process: ran })]));
    await runner.enqueue('test.later', {});
    await sleep(50);
    expect(ran).not.toHaveBeenCalled();
    expect((await runner.counts())[0]!.counts.waiting).toBe(1);
    await runner.start();
    await waitUntil(() => ran.mock.calls.length === 1, 'the job after start');
  });

  it('retries a failing job with exponential backoff until it succeeds', async () => {
    const tries: Array<{ attempt: number; at: number }> = [];
    const { runner, logger } = inlineRunner(
      createJobRegistry([
        defineJob({
          name: 'test.flaky',
          backoffMs: 40,
          async process(_payload: null, { attempt }) {
            tries.push({ attempt, at: performance.now() });
            if (attempt < 3) throw new Error(`failure ${attempt}`);
          },
        }),
      ]),
    );
    await runner.start();
    await runner.enqueue('test.flaky', null);
    await waitUntil(() => tries.length === 1, 'the first try');
    await sleep(10);
    expect((await runner.counts())[0]!.counts).toMatchObject({ delayed: 1, completed: 0 });
    await waitUntil(() => tries.length === 3, 'the retries');
    await sleep(20);
    expect(tries.map((attempt) => attempt.attempt)).toEqual([1, 2, 3]);
    // 40 ms before the first retry, 80 ms before the second.
    expect(tries[1]!.at - tries[0]!.at).toBeGreaterThanOrEqual(39);
    expect(tries[2]!.at - tries[1]!.at).toBeGreaterThanOrEqual(79);
    expect((await runner.counts())[0]!.counts).toEqual({
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

  it('gives up after the allowed attempts: the job is failed and logged as an error', async () => {
    const process = vi.fn(async (_payload: null) => {
      throw new Error('always');
    });
    const { runner, logger } = inlineRunner(
      createJobRegistry([defineJob({ name: 'test.broken', attempts: 3, backoffMs: 5, process })]),
    );
    await runner.start();
    await runner.enqueue('test.broken', null);
    await waitUntil(() => logger.error.mock.calls.length === 1, 'the final failure');
    expect(process).toHaveBeenCalledTimes(3);
    expect((await runner.counts())[0]!.counts).toMatchObject({ failed: 1, completed: 0, delayed: 0 });
  });

  it('runs a periodic job at once and then every interval, and stops on close', async () => {
    const runs: number[] = [];
    const { runner } = inlineRunner(
      createJobRegistry([
        defineJob({
          name: 'test.tick',
          queue: 'maintenance',
          async process(_payload: Record<string, never>) {
            runs.push(performance.now());
          },
        }),
      ]),
    );
    runner.schedule('test.tick', { everyMs: 50, payload: {} });
    await sleep(80);
    expect(runs).toEqual([]);
    const started = performance.now();
    await runner.start();
    await waitUntil(() => runs.length >= 4, 'four runs');
    expect(runs[0]! - started).toBeLessThan(40);
    // Runs are an interval apart: never two in one period.
    for (let i = 1; i < runs.length; i++) expect(runs[i]! - runs[i - 1]!).toBeGreaterThan(30);
    await runner.close();
    const count = runs.length;
    await sleep(200);
    expect(runs).toHaveLength(count);
  });

  it('skips a period while the previous run is still going', async () => {
    let active = 0;
    let overlapped = false;
    let runs = 0;
    const { runner } = inlineRunner(
      createJobRegistry([
        defineJob({
          name: 'test.slow-tick',
          async process(_payload: null) {
            active += 1;
            overlapped ||= active > 1;
            runs += 1;
            await sleep(70);
            active -= 1;
          },
        }),
      ]),
    );
    runner.schedule('test.slow-tick', { everyMs: 20, payload: null });
    await runner.start();
    await sleep(300);
    await runner.close();
    expect(overlapped).toBe(false);
    expect(runs).toBeGreaterThanOrEqual(2);
    expect(runs).toBeLessThanOrEqual(5);
  });

  it('close() lets the active job finish and drops the ones still waiting', async () => {
    const finished: string[] = [];
    const { runner, logger } = inlineRunner(
      createJobRegistry([
        defineJob({
          name: 'test.work',
          async process(payload: { id: string }) {
            await sleep(100);
            finished.push(payload.id);
          },
        }),
      ]),
      1,
    );
    await runner.start();
    await runner.enqueue('test.work', { id: 'first' });
    await runner.enqueue('test.work', { id: 'second' });
    await sleep(30);
    expect((await runner.counts())[0]!.counts).toMatchObject({ active: 1, waiting: 1 });
    await runner.close();
    expect(finished).toEqual(['first']);
    expect(logger.warn).toHaveBeenCalledWith({ dropped: 1 }, 'job runner closed with jobs that had not run');
    await expect(runner.enqueue('test.work', { id: 'third' })).rejects.toThrow(/closed/);
  });

  it('types the payload by job name', async () => {
    const { runner } = inlineRunner(
      createJobRegistry([
        defineJob({ name: 'test.typed', process: async (_payload: { n: number }) => undefined }),
      ]),
    );
    // @ts-expect-error: the payload of test.typed is { n: number }
    await runner.enqueue('test.typed', { n: 'one' });
    // @ts-expect-error: no job of that name
    await expect(runner.enqueue('test.unknown', {})).rejects.toThrow(/unknown job "test.unknown"/);
  });
});
