import { spawn, type ChildProcess } from 'node:child_process';
import { and, asc, eq, lte } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chatEvents } from '../src/modules/events/events.table.js';
import { createTestApp, TEST_JWT_SECRET, type TestApp } from './support/app.js';
import { chatClient } from './support/chat.js';
import { skipDatabaseTests, testDatabaseKind } from './support/database.js';
import { makeTempDir } from './support/temp-dirs.js';
import { skipRedisTests, TEST_REDIS_URL, uniqueRedisPrefix } from './support/ws.js';

// `npm run worker` (src/main/worker.ts) against REDIS_URL and a PostgreSQL database: it runs the
// periodic event-log pruning and the jobs the API side enqueues, and stops on SIGTERM.
// PostgreSQL only: the worker refuses an embedded PGlite (it cannot be shared with the API).

const ROOT = new URL('..', import.meta.url).pathname;
const HOUR_MS = 3_600_000;
const SHUTDOWN_TIMEOUT_MS = 5_000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function startWorker(env: Record<string, string>) {
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', 'src/main/worker.ts'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const keep = (chunk: Buffer) => (output = (output + chunk.toString()).slice(-50_000));
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, exited, output: () => output };
}

async function waitUntil(check: () => Promise<boolean> | boolean, what: string, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

describe.skipIf(skipDatabaseTests || skipRedisTests || testDatabaseKind !== 'postgres')(
  'npm run worker',
  () => {
    // The API side: an app on Redis (its runner only enqueues) and its own PostgreSQL database.
    let t: TestApp;
    let prefix: string;

    beforeAll(async () => {
      prefix = uniqueRedisPrefix();
      t = await createTestApp({ REDIS_URL: TEST_REDIS_URL, REDIS_PREFIX: prefix, EVENT_LOG_RETENTION: '1h' });
    });
    afterAll(async () => t?.close());

    async function loggedSeqs(channelId: string): Promise<number[]> {
      const rows = await t.deps.database.db
        .select({ seq: chatEvents.seq })
        .from(chatEvents)
        .where(eq(chatEvents.channelId, channelId))
        .orderBy(asc(chatEvents.seq));
      return rows.map((row) => row.seq);
    }
    async function age(channelId: string, upTo: number) {
      await t.deps.database.db
        .update(chatEvents)
        .set({ createdAt: new Date(Date.now() - 2 * HOUR_MS) })
        .where(and(eq(chatEvents.channelId, channelId), lte(chatEvents.seq, upTo)));
    }
    const maintenance = async () =>
      (await t.deps.jobs.counts()).find((queue) => queue.queue === 'maintenance')!;

    it('prunes the event log on schedule and on demand from the API side, and exits 0 on SIGTERM', async () => {
      const chat = chatClient(t);
      const alice = await t.createUser();
      const { id: channelId } = await chat.createChannel(alice, {});
      for (let i = 0; i < 4; i++) await chat.sendMessage(alice, channelId, { conteudo: `m${i}` });
      await age(channelId, 2);
      expect(await loggedSeqs(channelId)).toEqual([1, 2, 3, 4, 5]);
      // The API process never processes jobs itself.
      expect(t.deps.jobs.mode).toBe('bullmq');

      const worker = startWorker({
        DATABASE_URL: t.database.url!,
        JWT_SECRET: TEST_JWT_SECRET,
        DATA_DIR: makeTempDir('hubx-worker-'),
        REDIS_URL: TEST_REDIS_URL,
        REDIS_PREFIX: prefix,
        EVENT_LOG_RETENTION: '1h',
        SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_TIMEOUT_MS),
      });
      try {
        await waitUntil(() => worker.output().includes('Hubx Chat worker is ready'), 'the worker');
        // The periodic job's first period runs at once.
        await waitUntil(async () => (await loggedSeqs(channelId)).length === 3, 'the scheduled pruning');
        expect(await loggedSeqs(channelId)).toEqual([3, 4, 5]);

        // A job the API side enqueues is processed by the worker.
        await age(channelId, 4);
        await t.deps.jobs.enqueue('events.prune_log', {}, { jobId: 'prune-on-demand' });
        await waitUntil(async () => (await loggedSeqs(channelId)).length === 1, 'the enqueued pruning');
        expect(await loggedSeqs(channelId)).toEqual([5]);
        await waitUntil(async () => (await maintenance()).counts.completed === 2, 'both jobs completed');
        expect((await maintenance()).counts).toMatchObject({ active: 0, waiting: 0, failed: 0, delayed: 1 });
        expect(worker.output()).toContain('pruned the event log');

        const stoppedAt = Date.now();
        worker.child.kill('SIGTERM');
        expect(await worker.exited, worker.output()).toBe(0);
        expect(Date.now() - stoppedAt).toBeLessThan(SHUTDOWN_TIMEOUT_MS);
        expect(worker.output()).toContain('worker shutting down');
        expect(worker.output()).not.toContain('killed by timeout');
      } finally {
        if (worker.child.exitCode === null && worker.child.signalCode === null) worker.child.kill('SIGKILL');
      }
    }, 90_000);

    it('refuses to start without REDIS_URL, saying why', async () => {
      const worker = startWorker({
        DATABASE_URL: t.database.url!,
        JWT_SECRET: TEST_JWT_SECRET,
        DATA_DIR: makeTempDir('hubx-worker-'),
      });
      expect(await worker.exited).toBe(1);
      expect(worker.output()).toContain('set REDIS_URL');
    }, 30_000);
  },
);
