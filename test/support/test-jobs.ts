import { deleteRedisKeys } from './redis.js';
import { spawn, type ChildProcess } from 'node:child_process';
import type { Redis } from 'ioredis';
import { createJobRegistry, defineJob } from '../../src/platform/jobs/jobs.js';

// Jobs for the BullMQ tests, shared by the test and the worker processes it spawns
// (test/support/job-worker-process.ts). Their processors leave their traces in Redis, under the
// run's own prefix, so the test sees what every process did.

const ROOT = new URL('../..', import.meta.url).pathname;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export const testJobKeys = (prefix: string) => ({
  /** One entry per run of test.tick: `<jobId> <pid> <time>`. */
  ticks: `${prefix}test:ticks`,
  /** Runs started, runs completed, and the pid of the first run's process, per test.hold job id. */
  holdStarts: (jobId: string) => `${prefix}test:hold:${jobId}:starts`,
  holdCompletions: (jobId: string) => `${prefix}test:hold:${jobId}:completions`,
  holdHolder: (jobId: string) => `${prefix}test:hold:${jobId}:holder`,
  /** Tries of test.flaky, per job id. */
  flakyTries: (jobId: string) => `${prefix}test:flaky:${jobId}:tries`,
});

export function createTestJobRegistry(redis: Redis, prefix: string) {
  const keys = testJobKeys(prefix);
  return createJobRegistry([
    defineJob({
      name: 'test.tick',
      queue: 'ticks',
      async process(_payload: Record<string, never>, { jobId }) {
        await redis.rpush(keys.ticks, `${jobId} ${process.pid} ${Date.now()}`);
      },
    }),
    defineJob({
      name: 'test.hold',
      queue: 'holds',
      // The first run never ends (its process is killed); the next one completes.
      async process(_payload: Record<string, never>, { jobId }) {
        const run = await redis.incr(keys.holdStarts(jobId));
        if (run === 1) {
          await redis.set(keys.holdHolder(jobId), String(process.pid));
          await sleep(120_000);
        }
        await redis.incr(keys.holdCompletions(jobId));
      },
    }),
    defineJob({
      name: 'test.flaky',
      queue: 'flaky',
      backoffMs: 100,
      // Fails twice, then succeeds; records when each try started.
      async process(payload: { failures: number }, { jobId, attempt }) {
        await redis.rpush(keys.flakyTries(jobId), `${attempt} ${Date.now()}`);
        if (attempt <= payload.failures) throw new Error(`failure ${attempt}`);
      },
    }),
  ]);
}

/** Deletes every key of a test run's prefix (queues included). */
export const deleteKeys = deleteRedisKeys;

export type WorkerProcess = { child: ChildProcess; output: () => string; exited: Promise<number | null> };

/**
 * Starts a worker process on the test registry (job-worker-process.ts) and waits until its BullMQ
 * workers are ready. `env` carries REDIS_URL, REDIS_PREFIX and the WORKER_* settings;
 * TICK_EVERY_MS schedules test.tick.
 */
export async function startTestWorker(env: Record<string, string>): Promise<WorkerProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/support/job-worker-process.ts'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const keep = (chunk: Buffer) => (output = (output + chunk.toString()).slice(-20_000));
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`worker did not start:\n${output}`)), 30_000);
    child.stdout!.on('data', () => {
      if (output.includes('test worker ready')) {
        clearTimeout(timer);
        resolve();
      }
    });
    void exited.then((code) => reject(new Error(`worker exited with ${code}:\n${output}`)));
  });
  return { child, output: () => output, exited };
}
