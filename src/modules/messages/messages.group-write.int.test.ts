import { inArray, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp, type TestUser } from '../../../test/support/app.js';
import { chatClient } from '../../../test/support/chat.js';
import { skipDatabaseTests, testDatabaseKind } from '../../../test/support/database.js';
import { expectEventLogIntact } from '../../../test/support/event-log.js';
import { newId } from '../../shared/ids.js';
import { chatChannels } from '../channels/channels.table.js';
import { createMessagesRepository } from './messages.repository.js';

// A database of its own: PostgreSQL caches each connection's plans, so this must be the first
// group write its connections plan, on a channels table as big as the benchmark's.
describe.skipIf(skipDatabaseTests)('the group write on a channels table without statistics', () => {
  let t: TestApp;
  let alice: TestUser;
  let bob: TestUser;
  const channels: string[] = [];

  const write = (channel: string, conteudo = 'hi') => {
    const id = newId();
    return {
      message: {
        id,
        channelId: channel,
        remetenteId: bob.id,
        tipo: 'text' as const,
        conteudo,
        createdAt: new Date(),
      },
      senderIsStaff: false,
      eventId: newId(),
      payload: { id, conteudo },
    };
  };

  beforeAll(async () => {
    t = await createTestApp();
    [alice, bob] = await Promise.all([t.createUser(), t.createUser()]);
    // As many channels as the benchmark's, never analyzed (a fresh database, or autovacuum off).
    await t.deps.database.db.insert(chatChannels).values(
      Array.from({ length: 1_000 }, (_, i) => ({
        id: newId(),
        contextoTipo: 'privado' as const,
        titulo: `filler ${i}`,
      })),
    );
    const client = chatClient(t);
    for (let i = 0; i < 8; i++) {
      channels.push((await client.createChannel(alice, { participantes: [bob.id] })).id);
    }
  });
  afterAll(async () => t?.close());

  it('reaches channel rows by primary key, never by scanning every channel', async () => {
    // Inline in the statement, the seq update was a join whose plan scanned every channel row,
    // twice per batch, on such a table (this test counted 2 sequential scans then).
    const db = t.deps.database.db;
    const before = await db
      .select({ id: chatChannels.id, lastSeq: chatChannels.lastSeq })
      .from(chatChannels)
      .where(inArray(chatChannels.id, channels));
    const expected = channels.map((channel) => before.find((row) => row.id === channel)!.lastSeq + 1);
    const repository = createMessagesRepository({ db });

    const scans = await db.transaction(async (tx) => {
      // This connection's table counters not yet flushed to the shared statistics (PostgreSQL
      // 15+ counts earlier transactions in them too, hence the difference).
      const counters = async () => {
        const result = (await tx.execute(
          sql`select seq_scan, idx_scan from pg_stat_xact_user_tables where relname = 'chat_channels'`,
        )) as unknown as { rows: Array<{ seq_scan: string | number; idx_scan: string | number }> };
        return { seq: Number(result.rows[0]!.seq_scan), idx: Number(result.rows[0]!.idx_scan) };
      };
      const start = await counters();
      const seqs = await repository.insertWithEvents(
        channels.map((channel) => write(channel)),
        tx,
      );
      expect(seqs).toEqual(expected);
      const end = await counters();
      return { seq_scan: end.seq - start.seq, idx_scan: end.idx - start.idx };
    });
    expect(scans.seq_scan).toBe(0);
    expect(scans.idx_scan).toBeGreaterThan(0);
    for (const [i, channel] of channels.entries()) {
      expect((await expectEventLogIntact(db, channel)).length).toBe(expected[i]);
    }
  });

  it('concurrent group writes over the same channels, in any order, neither deadlock nor leave gaps', async () => {
    const db = t.deps.database.db;
    const repository = createMessagesRepository({ db });
    // Each batch has twelve messages over the channels in an order of its own, some channels twice.
    const batches = Array.from({ length: 24 }, (_, b) =>
      [...channels, ...channels]
        .map((channel, i) => ({ channel, key: (i * 7 + b * 13) % 16 }))
        .sort((x, y) => x.key - y.key)
        .slice(0, 12)
        .map(({ channel }) => write(channel, `batch ${b}`)),
    );
    const results = await Promise.all(batches.map((items) => repository.insertWithEvents(items)));
    for (const seqs of results) expect(seqs.every((seq) => typeof seq === 'number')).toBe(true);
    for (const channel of channels) await expectEventLogIntact(db, channel);
  });

  // Needs a second connection, so PostgreSQL only (PGlite has one).
  it.skipIf(testDatabaseKind !== 'postgres')(
    'locks channel rows in id order whatever the order of the messages (no deadlock between batches)',
    async () => {
      const database = t.deps.database;
      const repository = createMessagesRepository({ db: database.db });
      const [low, high] = [...channels].sort().filter((_, i, all) => i === 0 || i === all.length - 1);
      const holder = await database.pool!.connect();
      try {
        await holder.query('begin');
        await holder.query('select 1 from chat_channels where id = $1 for update', [high]);
        // The batch names the high channel first: locking in id order, it takes the low one and waits.
        const written = repository.insertWithEvents([write(high!), write(low!)]);
        const deadline = Date.now() + 5_000;
        for (;;) {
          const { rows } = await holder.query<{ waiting: string }>(
            `select count(*) as waiting from pg_stat_activity
             where datname = current_database() and wait_event_type = 'Lock' and pid <> pg_backend_pid()`,
          );
          if (Number(rows[0]!.waiting) > 0) break;
          if (Date.now() > deadline) throw new Error('the batch never waited for the held channel');
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
        const lowLock = await holder
          .query('select 1 from chat_channels where id = $1 for update nowait', [low])
          .then(
            () => 'free',
            (error: { code?: string }) => error.code,
          );
        expect(lowLock).toBe('55P03'); // lock_not_available: the batch already holds it
        await holder.query('rollback');
        const seqs = await written;
        expect(seqs.every((seq) => typeof seq === 'number')).toBe(true);
      } finally {
        await holder.query('rollback').catch(() => undefined);
        holder.release();
      }
    },
  );
});
