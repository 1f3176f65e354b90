import { and, asc, eq, lte } from 'drizzle-orm';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createTestApp, type TestApp, type TestUser } from '../../../test/support/app.js';
import { chatClient } from '../../../test/support/chat.js';
import { skipDatabaseTests } from '../../../test/support/database.js';
import { busEnv, connect, type Frame, listen, buses, type WsClient } from '../../../test/support/ws.js';
import { chatChannels } from '../channels/channels.table.js';
import { chatMessages } from '../messages/messages.table.js';
import { createInlineJobRunner } from '../../platform/jobs/inline-runner.js';
import { createJobRegistry } from '../../platform/jobs/jobs.js';
import { createEventLogPruner, createEventsJobs, EVENT_LOG_PRUNE_INTERVAL_MS } from './events.jobs.js';
import { chatEvents } from './events.table.js';

// EVENT_LOG_RETENTION: the pruner deletes logged events older than the window and nothing else
// (messages and the channel's seq stay), and a client resuming from before what is kept is told
// to resync — on the in-process bus and on Redis pub/sub.

const HOUR_MS = 3_600_000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const isEvent = (frame: Frame) => typeof frame.seq === 'number' && frame.type.startsWith('chat.');

/** A logger that records what the pruner reports. */
const fakeLogger = () => ({ info: vi.fn(), warn: vi.fn() });
/** A logger that records what the job runner reports (a failed or retried job). */
const fakeRunnerLogger = () => ({ debug: vi.fn(), info: vi.fn(), warn: vi.fn(), error: vi.fn() });

async function waitUntil(check: () => boolean, what: string, timeoutMs = 5_000) {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

describe.skipIf(skipDatabaseTests).each(buses)('event log retention ($name)', ({ redis, skip }) => {
  let t: TestApp;
  let base: string;
  let chat: ReturnType<typeof chatClient>;
  let alice: TestUser;
  let bob: TestUser;
  const opened: WsClient[] = [];

  beforeAll(async () => {
    if (skip) return;
    t = await createTestApp({
      ...busEnv(redis),
      EVENT_LOG_RETENTION: '1h',
    });
    base = await listen(t);
    chat = chatClient(t);
    alice = await t.createUser();
    bob = await t.createUser();
  });
  afterEach(async () => {
    vi.restoreAllMocks();
    const sockets = opened.splice(0);
    for (const socket of sockets) socket.close();
    await Promise.all(sockets.map((socket) => socket.waitForClose(2_000)));
  });
  afterAll(async () => t?.close());

  const db = () => t.deps.database.db;

  /** Moves the channel's events up to `upTo` back in time by `ageMs`. */
  async function age(channelId: string, upTo: number, ageMs: number) {
    await db()
      .update(chatEvents)
      .set({ createdAt: new Date(Date.now() - ageMs) })
      .where(and(eq(chatEvents.channelId, channelId), lte(chatEvents.seq, upTo)));
  }

  async function loggedSeqs(channelId: string): Promise<number[]> {
    const rows = await db()
      .select({ seq: chatEvents.seq })
      .from(chatEvents)
      .where(eq(chatEvents.channelId, channelId))
      .orderBy(asc(chatEvents.seq));
    return rows.map((row) => row.seq);
  }

  async function messageIds(channelId: string): Promise<string[]> {
    const rows = await db()
      .select({ id: chatMessages.id })
      .from(chatMessages)
      .where(eq(chatMessages.channelId, channelId))
      .orderBy(asc(chatMessages.seq));
    return rows.map((row) => row.id);
  }

  async function lastSeqOf(channelId: string): Promise<number> {
    const [row] = await db()
      .select({ lastSeq: chatChannels.lastSeq })
      .from(chatChannels)
      .where(eq(chatChannels.id, channelId));
    return row!.lastSeq;
  }

  /** A channel of alice's with bob in it and `count` messages; returns its id and the messages. */
  async function channelWithMessages(count: number) {
    const { id } = await chat.createChannel(alice, { participantes: [bob.id] });
    const sent: Array<{ id: string; seq: number }> = [];
    for (let i = 0; i < count; i++) sent.push(await chat.sendMessage(bob, id, { conteudo: `m${i}` }));
    return { channelId: id, sent };
  }

  /**
   * The pruning as the embedded mode runs it (the composition root schedules it, api.ts starts the
   * runner): the periodic job on the inline runner, at once and then every `everyMs`.
   */
  async function startPeriodicPruning(logger: ReturnType<typeof fakeLogger>, everyMs: number) {
    const runnerLogger = fakeRunnerLogger();
    const runner = createInlineJobRunner({
      registry: createJobRegistry(
        createEventsJobs({
          eventsRepository: t.deps.eventsRepository,
          retentionMs: t.config.realtime.eventLogRetentionMs,
          logger,
        }),
      ),
      settings: { concurrency: 1 },
      logger: runnerLogger,
    });
    runner.schedule('events.prune_log', { everyMs, payload: {} });
    await runner.start();
    return { runner, runnerLogger };
  }

  async function open(channelId: string, since: number): Promise<WsClient> {
    const socket = await connect(`${base}/ws/chat/${channelId}/?token=${alice.token}&since=${since}`);
    opened.push(socket);
    return socket;
  }

  /** Asserts the socket was told to resync at `lastSeq`, and got no logged event. */
  async function expectResync(socket: WsClient, channelId: string, lastSeq: number) {
    expect(await socket.waitFor((frame) => frame.type === 'resync_required')).toEqual({
      type: 'resync_required',
      channel: channelId,
      last_seq: lastSeq,
    });
    await sleep(100);
    expect(socket.frames.filter(isEvent)).toEqual([]);
  }

  it.skipIf(skip)(
    'prunes events older than EVENT_LOG_RETENTION, keeps newer ones, messages and seqs; older since → resync_required',
    async () => {
      // Channel "partly": seqs 1..7 (created + 6 messages); 1..4 are older than the window, 5 just
      // inside it. Channel "wholly": seqs 1..3, all older than the window.
      const partly = await channelWithMessages(6);
      const wholly = await channelWithMessages(2);
      expect(await lastSeqOf(partly.channelId)).toBe(7);
      expect(await lastSeqOf(wholly.channelId)).toBe(3);
      await age(partly.channelId, 5, HOUR_MS - 60_000);
      await age(partly.channelId, 4, 2 * HOUR_MS);
      await age(wholly.channelId, 3, 25 * HOUR_MS);
      const messagesBefore = {
        partly: await messageIds(partly.channelId),
        wholly: await messageIds(wholly.channelId),
      };
      expect(messagesBefore.partly).toEqual(partly.sent.map((message) => message.id));

      // As the embedded mode runs it: the configured retention, the hourly periodic job on the
      // inline runner (it prunes at once when the runner starts, then hourly).
      expect(t.config.realtime.eventLogRetentionMs).toBe(HOUR_MS);
      expect(EVENT_LOG_PRUNE_INTERVAL_MS).toBe(HOUR_MS);
      const logger = fakeLogger();
      const { runner, runnerLogger } = await startPeriodicPruning(logger, EVENT_LOG_PRUNE_INTERVAL_MS);
      try {
        await waitUntil(
          () =>
            logger.info.mock.calls.length +
              logger.warn.mock.calls.length +
              runnerLogger.warn.mock.calls.length +
              runnerLogger.error.mock.calls.length >
            0,
          'the first pruning',
        );
      } finally {
        await runner.close();
      }
      expect(logger.warn).not.toHaveBeenCalled();
      expect(runnerLogger.warn).not.toHaveBeenCalled();
      expect(runnerLogger.error).not.toHaveBeenCalled();
      expect(logger.info).toHaveBeenCalledTimes(1);
      expect(logger.info).toHaveBeenCalledWith({ deleted: 4 + 3 }, 'pruned the event log');

      expect(await loggedSeqs(partly.channelId)).toEqual([5, 6, 7]);
      expect(await loggedSeqs(wholly.channelId)).toEqual([]);
      // Only the log is pruned: every message stays, and so does each channel's position.
      expect(await messageIds(partly.channelId)).toEqual(messagesBefore.partly);
      expect(await messageIds(wholly.channelId)).toEqual(messagesBefore.wholly);
      expect(await lastSeqOf(partly.channelId)).toBe(7);
      expect(await lastSeqOf(wholly.channelId)).toBe(3);
      const listed = await t.inject({
        url: `/api/chat/channels/${partly.channelId}/messages/`,
        headers: alice.auth,
      });
      expect(listed.statusCode, listed.body).toBe(200);
      for (const message of partly.sent) expect(listed.body).toContain(message.id);

      // Resuming from before what is kept: refetch, then go on from the channel's last seq.
      const stale = await Promise.all([0, 1, 3].map((since) => open(partly.channelId, since)));
      for (const socket of stale) await expectResync(socket, partly.channelId, 7);
      const emptied = await Promise.all([0, 2].map((since) => open(wholly.channelId, since)));
      for (const socket of emptied) await expectResync(socket, wholly.channelId, 3);
      // From just before what is kept, or from the end, it is a plain replay.
      const fromKept = await open(partly.channelId, 4);
      const atEnd = await open(wholly.channelId, 3);

      // New events continue the channels' seqs, and every one of those sockets gets them live.
      const nextPartly = await chat.sendMessage(bob, partly.channelId, { conteudo: 'after pruning' });
      const nextWholly = await chat.sendMessage(bob, wholly.channelId, { conteudo: 'after pruning' });
      expect(nextPartly.seq).toBe(8);
      expect(nextWholly.seq).toBe(4);
      for (const socket of [...stale, fromKept]) {
        await socket.waitFor((frame) => isEvent(frame) && frame.seq === 8);
      }
      for (const socket of [...emptied, atEnd]) {
        await socket.waitFor((frame) => isEvent(frame) && frame.seq === 4);
      }
      await sleep(100);
      expect(fromKept.frames.filter(isEvent).map((frame) => frame.seq)).toEqual([5, 6, 7, 8]);
      expect(fromKept.frames.some((frame) => frame.type === 'resync_required')).toBe(false);
      expect(atEnd.frames.filter(isEvent).map((frame) => frame.seq)).toEqual([4]);
      expect(atEnd.frames.some((frame) => frame.type === 'resync_required')).toBe(false);
      for (const socket of stale)
        expect(socket.frames.filter(isEvent).map((frame) => frame.seq)).toEqual([8]);
      for (const socket of emptied) {
        expect(socket.frames.filter(isEvent).map((frame) => frame.seq)).toEqual([4]);
      }
    },
  );

  it.skipIf(skip)('runOnce answers how many it deleted; a second run deletes nothing', async () => {
    const { channelId } = await channelWithMessages(3);
    await age(channelId, 2, HOUR_MS + 60_000);
    const logger = fakeLogger();
    const pruner = createEventLogPruner({
      eventsRepository: t.deps.eventsRepository,
      retentionMs: t.config.realtime.eventLogRetentionMs,
      logger,
    });
    expect(await pruner.runOnce()).toBe(2);
    expect(await loggedSeqs(channelId)).toEqual([3, 4]);
    expect(await pruner.runOnce()).toBe(0);
    expect(await loggedSeqs(channelId)).toEqual([3, 4]);
    expect(logger.info).toHaveBeenCalledTimes(1);
    expect(logger.info).toHaveBeenCalledWith({ deleted: 2 }, 'pruned the event log');
  });

  it.skipIf(skip)(
    'prunes a gap-free prefix: an event stamped out of seq order goes with the older ones before it',
    async () => {
      // A send's created_at is taken before its seq: seq 2 can carry a later time than seq 3.
      const { channelId } = await channelWithMessages(4);
      await age(channelId, 3, 2 * HOUR_MS);
      await db()
        .update(chatEvents)
        .set({ createdAt: new Date(Date.now() - HOUR_MS + 60_000) })
        .where(and(eq(chatEvents.channelId, channelId), eq(chatEvents.seq, 2)));
      const pruner = createEventLogPruner({
        eventsRepository: t.deps.eventsRepository,
        retentionMs: t.config.realtime.eventLogRetentionMs,
        logger: fakeLogger(),
      });
      expect(await pruner.runOnce()).toBe(3);
      // By time alone 2 would stay between two holes, and a resume from 1 would skip 3 unseen.
      expect(await loggedSeqs(channelId)).toEqual([4, 5]);
      await expectResync(await open(channelId, 1), channelId, 5);
    },
  );

  it.skipIf(skip)(
    'a replay that pruning overtakes (after the first-seq check) ends in resync_required, not a jump',
    async () => {
      const { channelId } = await channelWithMessages(4);
      // The gateway read seq 1 as the first logged one just before the pruner deleted 1..3.
      vi.spyOn(t.deps.eventLog, 'firstSeq').mockResolvedValueOnce(1);
      await age(channelId, 3, 2 * HOUR_MS);
      await createEventLogPruner({
        eventsRepository: t.deps.eventsRepository,
        retentionMs: t.config.realtime.eventLogRetentionMs,
        logger: fakeLogger(),
      }).runOnce();
      expect(await loggedSeqs(channelId)).toEqual([4, 5]);

      const socket = await open(channelId, 1);
      await expectResync(socket, channelId, 5);
      // It goes on live from there.
      const next = await chat.sendMessage(bob, channelId, { conteudo: 'after the resync' });
      await socket.waitFor((frame) => isEvent(frame) && frame.seq === next.seq);
      expect(socket.frames.filter(isEvent).map((frame) => frame.seq)).toEqual([next.seq]);
    },
  );

  it.skipIf(skip)(
    'deletes in statements of at most batchSize seqs, lowest first: every log stays gap-free meanwhile',
    async () => {
      // Seqs 1..5 each (created, four messages), all far older than the cutoff below; nothing
      // else in this database is that old.
      const first = await channelWithMessages(4);
      const second = await channelWithMessages(4);
      await age(first.channelId, 5, 10 * HOUR_MS);
      await age(second.channelId, 5, 10 * HOUR_MS);
      const both = () => Promise.all([loggedSeqs(first.channelId), loggedSeqs(second.channelId)]);
      const counts: number[] = [];
      const repository = t.deps.eventsRepository;
      const pruner = createEventLogPruner({
        eventsRepository: {
          findPrunable: repository.findPrunable,
          async deleteUpTo(channelId, upTo) {
            const deleted = await repository.deleteUpTo(channelId, upTo);
            counts.push(deleted);
            // After each statement, what is left of each log still runs up to its last seq.
            for (const seqs of await both()) expect(seqs).toEqual([1, 2, 3, 4, 5].slice(5 - seqs.length));
            return deleted;
          },
        },
        retentionMs: t.config.realtime.eventLogRetentionMs,
        logger: fakeLogger(),
        batchSize: 2,
      });
      // As if run 4 h from now: the cutoff (5 h ago) only reaches this test's events.
      expect(await pruner.runOnce(new Date(Date.now() - 4 * HOUR_MS))).toBe(10);
      expect(counts).toEqual([2, 2, 1, 2, 2, 1]);
      expect(await both()).toEqual([[], []]);
    },
  );

  it.skipIf(skip)('start() prunes again every interval until it is stopped', async () => {
    // The periodic job on the inline runner: start() schedules it, close() stops it.
    const { channelId } = await channelWithMessages(4);
    const logger = fakeLogger();
    const { runner, runnerLogger } = await startPeriodicPruning(logger, 50);
    try {
      await age(channelId, 2, 2 * HOUR_MS);
      await waitUntil(() => logger.info.mock.calls.length >= 1, 'a pruning tick');
      expect(await loggedSeqs(channelId)).toEqual([3, 4, 5]);
      await age(channelId, 3, 2 * HOUR_MS);
      await waitUntil(() => logger.info.mock.calls.length >= 2, 'a later pruning tick');
      expect(await loggedSeqs(channelId)).toEqual([4, 5]);
    } finally {
      await runner.close();
    }
    // A tick already under way may still finish; after that, nothing more runs.
    await sleep(200);
    await age(channelId, 4, 2 * HOUR_MS);
    await sleep(300);
    expect(await loggedSeqs(channelId)).toEqual([4, 5]);
    expect(logger.warn).not.toHaveBeenCalled();
    expect(runnerLogger.warn).not.toHaveBeenCalled();
    expect(runnerLogger.error).not.toHaveBeenCalled();
  });
});
