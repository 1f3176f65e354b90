import { and, eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp, type TestUser } from '../../../test/support/app.js';
import { chatClient } from '../../../test/support/chat.js';
import { skipDatabaseTests } from '../../../test/support/database.js';
import { newId } from '../../shared/ids.js';
import { chatMessages } from '../messages/messages.table.js';
import { createModerationRepository } from './moderation.repository.js';
import { chatModerationLogs } from './moderation.table.js';

// The moderator's queue (GET moderacao/flags/) and the moderation log (GET moderacao/logs/, JSON
// pages and CSV): contents, orders, keyset pages, filters, who may read them, bad input.

type UserRef = { id: string; username: string };
type QueueItem = {
  mensagem: {
    id: string;
    conteudo: string;
    tipo: string;
    remetente: UserRef | null;
    created_at: string;
    hidden_at: string | null;
    is_spam: boolean;
    deleted_at: string | null;
  };
  canal: { id: string; titulo: string; contexto_tipo: string };
  flags: number;
  motivos: Array<{ usuario: UserRef; motivo: string | null; created_at: string }>;
  status: 'pendente' | 'resolvido';
  is_spam: boolean;
  decisao: 'approved' | 'removed' | null;
  resolvido_por: UserRef | null;
  resolved_at: string | null;
  last_activity_at: string;
};
type LogEntry = {
  id: string;
  acao: string;
  ator: UserRef | null;
  mensagem_id: string | null;
  canal: { id: string; titulo: string } | null;
  conteudo_anterior: string | null;
  motivo: string | null;
  created_at: string;
};
type Page<T> = { results: T[]; next: string | null; previous: string | null };

const CSV_HEADER = 'id,acao,ator_id,ator,mensagem_id,canal_id,canal,conteudo_anterior,motivo,created_at';

describe.skipIf(skipDatabaseTests)("the moderator's queue and the moderation log", () => {
  let t: TestApp;
  let chat: ReturnType<typeof chatClient>;
  let owner: TestUser;
  let flaggers: TestUser[];
  let moderator: TestUser;
  let outsider: TestUser;

  beforeAll(async () => {
    // A high threshold: hiding is not what these tests are about (and hidden messages cannot be flagged).
    t = await createTestApp({ FLAG_HIDE_THRESHOLD: '50', CHAT_FLAG_RATE_LIMIT: '0' });
    chat = chatClient(t);
    owner = await t.createUser();
    flaggers = [];
    for (let i = 0; i < 5; i++) flaggers.push(await t.createUser());
    moderator = await t.createUser({ staff: true });
    outsider = await t.createUser();
  });
  afterAll(async () => t?.close());

  async function channelWith(count: number, titulo = `Canal ${newId().slice(-6)}`) {
    const channel = await chat.createChannel(owner, { titulo, participantes: flaggers.map((u) => u.id) });
    const messages = [];
    for (let i = 0; i < count; i++)
      messages.push(await chat.sendMessage(owner, channel.id, { conteudo: `mensagem ${i}` }));
    return { channelId: channel.id, titulo, messages };
  }
  const flag = (user: TestUser, channelId: string, messageId: string, motivo?: string) =>
    t.inject({
      method: 'POST',
      url: `/api/chat/channels/${channelId}/messages/${messageId}/flag/`,
      headers: user.auth,
      payload: motivo === undefined ? {} : { motivo },
    });
  async function flagBy(users: TestUser[], channelId: string, messageId: string, motivo?: string) {
    for (const user of users) {
      const response = await flag(user, channelId, messageId, motivo);
      expect(response.statusCode, response.body).toBe(200);
    }
  }
  const get = (user: TestUser | undefined, url: string) =>
    t.inject({ url: url.startsWith('http') ? relative(url) : url, headers: user?.auth ?? {} });
  const relative = (url: string) => {
    const parsed = new URL(url);
    return `${parsed.pathname}${parsed.search}`;
  };
  async function queue(query: string, user: TestUser = moderator): Promise<Page<QueueItem>> {
    const response = await get(user, `/api/chat/moderacao/flags/?${query}`);
    expect(response.statusCode, response.body).toBe(200);
    return response.json();
  }
  async function logs(query: string): Promise<Page<LogEntry>> {
    const response = await get(moderator, `/api/chat/moderacao/logs/?${query}`);
    expect(response.statusCode, response.body).toBe(200);
    return response.json();
  }
  /** Every page from `first`, following `next`: the ids in order. */
  async function walk<T>(first: string, idOf: (item: T) => string): Promise<string[]> {
    const ids: string[] = [];
    let url: string | null = first;
    for (let pages = 0; url !== null; pages++) {
      expect(pages).toBeLessThan(100);
      const response = await get(moderator, url);
      expect(response.statusCode, response.body).toBe(200);
      const page = response.json<Page<T>>();
      ids.push(...page.results.map(idOf));
      url = page.next;
    }
    return ids;
  }
  const decide = (messageId: string, decision: 'approve' | 'remove', payload?: object) =>
    t.inject({
      method: 'POST',
      url: `/api/chat/moderacao/messages/${messageId}/${decision}/`,
      headers: moderator.auth,
      ...(payload !== undefined ? { payload } : {}),
    });

  it('lists flagged messages with content, author, channel, count and reasons, most flagged or newest first', async () => {
    const { channelId, titulo, messages } = await channelWith(3);
    const [m0, m1, m2] = messages.map((m) => m.id) as [string, string, string];
    await flagBy(flaggers.slice(0, 3), channelId, m1, 'ofensiva');
    await flagBy(flaggers.slice(0, 2), channelId, m2);
    await flagBy(flaggers.slice(0, 1), channelId, m0, 'spam');

    const byFlags = await queue(`canal=${channelId}`);
    expect(byFlags.results.map((item) => item.mensagem.id)).toEqual([m1, m2, m0]);
    expect(byFlags.next).toBeNull();
    expect(byFlags.previous).toBeNull();
    const top = byFlags.results[0]!;
    expect(top).toMatchObject({
      mensagem: {
        id: m1,
        conteudo: 'mensagem 1',
        tipo: 'text',
        remetente: { id: owner.id, username: owner.username },
        hidden_at: null,
        is_spam: false,
        deleted_at: null,
      },
      canal: { id: channelId, titulo, contexto_tipo: 'privado' },
      flags: 3,
      status: 'pendente',
      is_spam: false,
      decisao: null,
      resolvido_por: null,
      resolved_at: null,
    });
    expect(top.motivos).toEqual(
      flaggers.slice(0, 3).map((user) => ({
        usuario: { id: user.id, username: user.username },
        motivo: 'ofensiva',
        created_at: expect.any(String),
      })),
    );
    expect(byFlags.results[1]!.motivos.map((reason) => reason.motivo)).toEqual([null, null]);

    // Newest activity first; a new flag moves its message to the top.
    expect((await queue(`canal=${channelId}&ordem=recentes`)).results.map((i) => i.mensagem.id)).toEqual([
      m0,
      m2,
      m1,
    ]);
    await flagBy([flaggers[3]!], channelId, m1);
    const recent = await queue(`canal=${channelId}&ordem=recentes`);
    expect(recent.results.map((item) => item.mensagem.id)).toEqual([m1, m0, m2]);
    expect(recent.results[0]!.flags).toBe(4);
    // Moderators see every channel's queue without being in it; the default list has these three.
    const all = (await queue('limit=200')).results.map((item) => item.mensagem.id);
    expect(all).toEqual(expect.arrayContaining([m0, m1, m2]));
  });

  it('pages through both orders by keyset with nothing repeated or missed, ties included', async () => {
    const { channelId, messages } = await channelWith(7);
    // Flag counts with ties: 3, 1, 2, 1, 3, 2, 1.
    const counts = [3, 1, 2, 1, 3, 2, 1];
    for (const [index, message] of messages.entries())
      await flagBy(flaggers.slice(0, counts[index]), channelId, message.id);
    const ids = messages.map((message) => message.id);

    for (const ordem of ['flags', 'recentes'] as const) {
      const whole = (await queue(`canal=${channelId}&ordem=${ordem}&limit=200`)).results;
      expect(whole).toHaveLength(7);
      if (ordem === 'flags') {
        const flags = whole.map((item) => item.flags);
        expect(flags).toEqual([...flags].sort((a, b) => b - a));
        // Ties: newest message first.
        expect(whole.filter((item) => item.flags === 1).map((item) => item.mensagem.id)).toEqual([
          ids[6],
          ids[3],
          ids[1],
        ]);
      } else {
        expect(whole.map((item) => item.mensagem.id)).toEqual([...ids].reverse());
      }
      for (const limit of [1, 2, 3]) {
        const walked = await walk<QueueItem>(
          `/api/chat/moderacao/flags/?canal=${channelId}&ordem=${ordem}&limit=${limit}`,
          (item) => item.mensagem.id,
        );
        expect(walked).toEqual(whole.map((item) => item.mensagem.id));
      }
    }

    // A forged cursor, or one of the other order, answers 400.
    const first = await queue(`canal=${channelId}&ordem=flags&limit=2`);
    const cursor = new URL(first.next!).searchParams.get('cursor')!;
    const uuid = newId();
    const forged = [
      `ordem=recentes&cursor=${cursor}`,
      'cursor=bm9wZQ',
      `cursor=${btoa('["f",-1,"x"]')}`,
      `cursor=${btoa(`["f",3000000000,"${uuid}"]`)}`,
      `ordem=recentes&cursor=${btoa(`["r","2024-01-01T00:00:00+23:59","${uuid}"]`)}`,
      `ordem=recentes&cursor=${btoa(`["r","0000-01-01T00:00:00.000000Z","${uuid}"]`)}`,
    ];
    for (const bad of forged) {
      const response = await get(moderator, `/api/chat/moderacao/flags/?canal=${channelId}&${bad}`);
      expect(response.statusCode, bad).toBe(400);
      expect(response.json()).toMatchObject({ code: 'invalid_cursor' });
    }
  });

  it('filters by status, channel and activity time, and refuses bad filters with 400', async () => {
    const a = await channelWith(2);
    const b = await channelWith(1);
    await flagBy(flaggers.slice(0, 2), a.channelId, a.messages[0]!.id);
    await flagBy(flaggers.slice(0, 1), a.channelId, a.messages[1]!.id);
    await flagBy(flaggers.slice(0, 1), b.channelId, b.messages[0]!.id);

    expect((await queue(`canal=${b.channelId}`)).results.map((i) => i.mensagem.id)).toEqual([
      b.messages[0]!.id,
    ]);
    expect((await queue(`canal=${newId()}`)).results).toEqual([]);
    expect((await queue(`canal=${a.channelId}&status=resolvido`)).results).toEqual([]);

    const [newest, oldest] = (await queue(`canal=${a.channelId}&ordem=recentes`)).results;
    const at = (iso: string) => encodeURIComponent(iso);
    expect(
      (await queue(`canal=${a.channelId}&desde=${at(newest!.last_activity_at)}`)).results.map(
        (item) => item.mensagem.id,
      ),
    ).toEqual([newest!.mensagem.id]);
    expect(
      (await queue(`canal=${a.channelId}&ate=${at(oldest!.last_activity_at)}`)).results.map(
        (item) => item.mensagem.id,
      ),
    ).toEqual([oldest!.mensagem.id]);
    expect((await queue(`canal=${a.channelId}&ate=2000-01-01T00:00:00Z`)).results).toEqual([]);

    const bad: Array<[string, string]> = [
      ['desde=ontem', 'moderation.invalid_date'],
      ['ate=2024-02-30T00:00:00Z', 'moderation.invalid_date'],
      ['desde=0000-01-01T00:00:00Z', 'moderation.invalid_date'],
      ['canal=not-a-uuid', 'validation_error'],
      ['status=aberto', 'validation_error'],
      ['ordem=antigas', 'validation_error'],
      ['limit=0', 'validation_error'],
      ['limit=201', 'validation_error'],
      ['extra=1', 'validation_error'],
    ];
    for (const [query, code] of bad) {
      const response = await get(moderator, `/api/chat/moderacao/flags/?${query}`);
      expect(response.statusCode, query).toBe(400);
      expect(response.json(), query).toMatchObject({ code });
    }
  });

  it('approve resolves the entry with its decision; a new flag reopens it, a repeated one is refused', async () => {
    const { channelId, messages } = await channelWith(1);
    const messageId = messages[0]!.id;
    await flagBy(flaggers.slice(0, 2), channelId, messageId, 'feia');
    expect((await decide(messageId, 'approve')).statusCode).toBe(200);

    expect((await queue(`canal=${channelId}`)).results).toEqual([]);
    const [resolved] = (await queue(`canal=${channelId}&status=resolvido`)).results;
    expect(resolved).toMatchObject({
      mensagem: { id: messageId, hidden_at: null },
      flags: 0,
      status: 'resolvido',
      decisao: 'approved',
      resolvido_por: { id: moderator.id, username: moderator.username },
      resolved_at: expect.any(String),
    });
    // The flags that round resolved.
    expect(resolved!.motivos.map((reason) => reason.usuario.id)).toEqual(
      flaggers.slice(0, 2).map((u) => u.id),
    );

    // Someone who already flagged it: 409, and it stays resolved.
    const again = await flag(flaggers[0]!, channelId, messageId);
    expect(again.statusCode).toBe(409);
    expect(again.json()).toMatchObject({ code: 'moderation.already_flagged' });
    expect((await queue(`canal=${channelId}`)).results).toEqual([]);

    // A new flagger reopens it: pending, counting only the new round.
    await flagBy([flaggers[2]!], channelId, messageId, 'de novo');
    const [reopened] = (await queue(`canal=${channelId}`)).results;
    expect(reopened).toMatchObject({
      flags: 1,
      status: 'pendente',
      decisao: null,
      resolvido_por: null,
      resolved_at: null,
      motivos: [{ usuario: { id: flaggers[2]!.id }, motivo: 'de novo' }],
    });
    expect((await queue(`canal=${channelId}&status=resolvido`)).results).toEqual([]);
  });

  it('lists spam entries (opened by a spam rule) with no reasons', async () => {
    const { channelId, messages } = await channelWith(1);
    const messageId = messages[0]!.id;
    await createModerationRepository({ db: t.deps.database.db }).openReview({
      messageId,
      channelId,
      isSpam: true,
    });
    const [item] = (await queue(`canal=${channelId}`)).results;
    expect(item).toMatchObject({ mensagem: { id: messageId }, flags: 0, is_spam: true, motivos: [] });
  });

  it('remove takes an optional motivo, stored as the log reason; a bad body is refused and writes nothing', async () => {
    const { channelId, messages } = await channelWith(3);
    const [withReason, bare, refused] = messages.map((m) => m.id) as [string, string, string];
    await flagBy([flaggers[0]!], channelId, withReason);

    for (const payload of [{ motivo: 'x'.repeat(501) }, { motivo: 5 }, { outro: 'campo' }]) {
      const response = await decide(refused, 'remove', payload);
      expect(response.statusCode, JSON.stringify(payload)).toBe(400);
    }
    expect(
      (await t.inject({ url: `/api/chat/channels/${channelId}/messages/${refused}/`, headers: owner.auth }))
        .statusCode,
    ).toBe(200);
    expect(
      await t.deps.database.db
        .select()
        .from(chatModerationLogs)
        .where(eq(chatModerationLogs.messageId, refused)),
    ).toEqual([]);

    expect((await decide(withReason, 'remove', { motivo: 'discurso de ódio' })).statusCode).toBe(200);
    expect((await decide(bare, 'remove')).statusCode).toBe(200);
    const removed = (await logs(`canal=${channelId}&acao=removed`)).results;
    expect(removed.map((row) => [row.mensagem_id, row.motivo])).toEqual([
      [bare, null],
      [withReason, 'discurso de ódio'],
    ]);
    expect(removed[1]).toMatchObject({
      ator: { id: moderator.id, username: moderator.username },
      canal: { id: channelId },
      conteudo_anterior: 'mensagem 0',
    });
    const [item] = (await queue(`canal=${channelId}&status=resolvido`)).results;
    expect(item).toMatchObject({
      mensagem: { id: withReason, deleted_at: expect.any(String) },
      decisao: 'removed',
    });
    // Approve takes one too.
    const { channelId: other, messages: more } = await channelWith(1);
    expect((await decide(more[0]!.id, 'approve', { motivo: 'ok' })).statusCode).toBe(200);
    expect((await logs(`canal=${other}&acao=approved`)).results.map((row) => row.motivo)).toEqual(['ok']);
  });

  it('filters the log by channel, action, actor and time, newest first, and refuses bad filters', async () => {
    const a = await channelWith(2);
    const b = await channelWith(1);
    await flagBy([flaggers[0]!], a.channelId, a.messages[0]!.id, 'um');
    await flagBy([flaggers[1]!], a.channelId, a.messages[1]!.id, 'dois');
    await flagBy([flaggers[0]!], b.channelId, b.messages[0]!.id, 'três');
    expect((await decide(a.messages[0]!.id, 'remove', { motivo: 'fora' })).statusCode).toBe(200);

    const inA = (await logs(`canal=${a.channelId}`)).results;
    expect(inA.map((row) => [row.acao, row.motivo])).toEqual([
      ['removed', 'fora'],
      ['flag', 'dois'],
      ['flag', 'um'],
    ]);
    expect(inA[2]).toEqual({
      id: expect.any(String),
      acao: 'flag',
      ator: { id: flaggers[0]!.id, username: flaggers[0]!.username },
      mensagem_id: a.messages[0]!.id,
      canal: { id: a.channelId, titulo: a.titulo },
      conteudo_anterior: null,
      motivo: 'um',
      created_at: expect.any(String),
    });
    expect((await logs(`canal=${a.channelId}&acao=flag`)).results.map((row) => row.motivo)).toEqual([
      'dois',
      'um',
    ]);
    const byFlagger = (await logs(`usuario=${flaggers[0]!.id}&acao=flag&limit=200`)).results;
    expect(byFlagger.every((row) => row.ator?.id === flaggers[0]!.id)).toBe(true);
    expect(byFlagger.map((row) => row.motivo)).toEqual(expect.arrayContaining(['um', 'três']));
    expect(byFlagger.map((row) => row.motivo)).not.toContain('dois');
    expect((await logs(`usuario=${newId()}`)).results).toEqual([]);

    const newest = inA[0]!.created_at;
    expect(
      (await logs(`canal=${a.channelId}&desde=${encodeURIComponent(newest)}`)).results.map((r) => r.acao),
    ).toEqual(['removed']);
    expect((await logs(`canal=${a.channelId}&ate=2000-01-01`)).results).toEqual([]);

    const bad: Array<[string, string]> = [
      ['acao=banned', 'validation_error'],
      ['usuario=fulano', 'validation_error'],
      ['canal=123', 'validation_error'],
      ['desde=amanha', 'moderation.invalid_date'],
      ['ate=2024-13-01', 'moderation.invalid_date'],
      ['formato=xml', 'validation_error'],
      ['cursor=%%%', 'invalid_cursor'],
      [`cursor=${btoa('["2024-01-01T00:00:00Z","x"]')}`, 'invalid_cursor'],
    ];
    for (const [query, code] of bad) {
      const response = await get(moderator, `/api/chat/moderacao/logs/?${query}`);
      expect(response.statusCode, query).toBe(400);
      expect(response.json(), query).toMatchObject({ code });
    }
    // The CSV checks its filters before it starts streaming.
    const csvBad = await get(moderator, '/api/chat/moderacao/logs/?formato=csv&desde=nunca');
    expect(csvBad.statusCode).toBe(400);
    expect(csvBad.headers['content-type']).toMatch(/^application\/json/);
  });

  /** A channel with `count` log rows written straight in, sharing two timestamps a microsecond apart. */
  async function bulkLogs(count: number) {
    const { channelId, titulo } = await channelWith(0);
    const rows = Array.from({ length: count }, (_, index) => ({
      id: newId(),
      channelId,
      messageId: null,
      action: 'hidden' as const,
      moderatorId: moderator.id,
      reason: `r${index}`,
      createdAt:
        index % 2 === 0
          ? sql`'2024-05-01T10:00:00.000001Z'::timestamptz`
          : sql`'2024-05-01T10:00:00.000002Z'::timestamptz`,
    }));
    await t.deps.database.db.insert(chatModerationLogs).values(rows as never);
    return { channelId, titulo, ids: rows.map((row) => row.id) };
  }

  it('pages through the log by keyset, rows sharing a timestamp (to the microsecond) included', async () => {
    const { channelId, ids } = await bulkLogs(45);
    const walked = await walk<LogEntry>(
      `/api/chat/moderacao/logs/?canal=${channelId}&limit=7`,
      (row) => row.id,
    );
    expect(walked).toHaveLength(45);
    expect(new Set(walked)).toEqual(new Set(ids));
    const whole = (await logs(`canal=${channelId}&limit=200`)).results.map((row) => row.id);
    expect(walked).toEqual(whole);
  });

  it('exports the filtered log as CSV: every row streamed, formulas neutralized, special characters quoted', async () => {
    const { channelId, titulo, messages } = await channelWith(3);
    await t.deps.database.db
      .update(chatMessages)
      .set({ conteudo: '=HYPERLINK("http://evil")' })
      .where(eq(chatMessages.id, messages[0]!.id));
    await t.deps.database.db
      .update(chatMessages)
      .set({ conteudo: 'a, "b"\nc' })
      .where(eq(chatMessages.id, messages[1]!.id));
    expect((await decide(messages[0]!.id, 'remove', { motivo: '+1 -1 @x' })).statusCode).toBe(200);
    expect((await decide(messages[1]!.id, 'remove')).statusCode).toBe(200);
    expect((await decide(messages[2]!.id, 'approve')).statusCode).toBe(200);

    const response = await get(
      moderator,
      `/api/chat/moderacao/logs/?canal=${channelId}&acao=removed&formato=csv`,
    );
    expect(response.statusCode, response.body).toBe(200);
    expect(response.headers['content-type']).toBe('text/csv; charset=utf-8');
    expect(response.headers['content-disposition']).toBe('attachment; filename="moderation-logs.csv"');
    const [header, ...rest] = response.body.split('\r\n');
    expect(header).toBe(CSV_HEADER);
    const body = rest.join('\r\n');
    const logRows = await t.deps.database.db
      .select()
      .from(chatModerationLogs)
      .where(and(eq(chatModerationLogs.channelId, channelId), eq(chatModerationLogs.action, 'removed')));
    expect(logRows).toHaveLength(2);
    const second = logRows.find((row) => row.messageId === messages[1]!.id)!;
    const first = logRows.find((row) => row.messageId === messages[0]!.id)!;
    // Newest first: the second removal, then the first.
    expect(body).toBe(
      [
        [
          second.id,
          'removed',
          moderator.id,
          moderator.username,
          messages[1]!.id,
          channelId,
          titulo,
          '"a, ""b""\nc"',
          '',
          second.createdAt.toISOString(),
        ],
        [
          first.id,
          'removed',
          moderator.id,
          moderator.username,
          messages[0]!.id,
          channelId,
          titulo,
          `"'=HYPERLINK(""http://evil"")"`,
          "'+1 -1 @x",
          first.createdAt.toISOString(),
        ],
      ]
        .map((cells) => cells.join(','))
        .join('\r\n') + '\r\n',
    );
  });

  it('streams more rows than one read batch in the CSV, none repeated', async () => {
    const { channelId, ids } = await bulkLogs(1_203);
    const response = await get(moderator, `/api/chat/moderacao/logs/?canal=${channelId}&formato=csv&limit=1`);
    expect(response.statusCode).toBe(200);
    const lines = response.body.split('\r\n').filter((line) => line.length > 0);
    expect(lines[0]).toBe(CSV_HEADER);
    const exported = lines.slice(1).map((line) => line.split(',')[0]);
    expect(exported).toHaveLength(1_203);
    expect(new Set(exported)).toEqual(new Set(ids));
  });

  it('answers anonymous 401 and every non-moderator 403, for both lists and the CSV', async () => {
    const { channelId } = await channelWith(1);
    const admin = flaggers[4]!;
    await chat.setRole(owner, channelId, admin, true);
    const paths = [
      '/api/chat/moderacao/flags/',
      `/api/chat/moderacao/flags/?canal=${channelId}`,
      '/api/chat/moderacao/logs/',
      `/api/chat/moderacao/logs/?canal=${channelId}&formato=csv`,
    ];
    for (const path of paths) {
      expect((await get(undefined, path)).statusCode, path).toBe(401);
      for (const user of [outsider, flaggers[0]!, admin, owner]) {
        const response = await get(user, path);
        expect(response.statusCode, path).toBe(403);
        expect(response.json()).toMatchObject({ code: 'moderation.not_moderator' });
      }
      expect((await get(moderator, path)).statusCode, path).toBe(200);
    }
  });
});
