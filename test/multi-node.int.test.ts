import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer, type AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestDatabase, skipDatabaseTests } from './support/database.js';
import {
  connect,
  skipRedisTests,
  TEST_REDIS_URL,
  uniqueRedisPrefix,
  type Frame,
  type WsClient,
} from './support/ws.js';
import { makeTempDir } from './support/temp-dirs.js';

// Several API processes on one PostgreSQL database and one Redis, as in production: whichever node a
// message is sent to, every socket on every node gets every event once and in order, and nothing is
// lost when a node dies or Redis goes away. Only meaningful on PostgreSQL (PGlite cannot be shared
// between processes).

const ROOT = new URL('..', import.meta.url).pathname;
const PASSWORD = 'multi-node-password-1';
const JWT_SECRET = `multi-node-${randomBytes(16).toString('hex')}`;

// ---- processes ---------------------------------------------------------------------------------------
type ProcessHandle = { child: ChildProcess; output(): string; exited: Promise<void> };
type ApiNode = ProcessHandle & { name: string; http: string; ws: string };

/** Every process this file started and that is still running; all are killed in afterAll. */
const running = new Set<ChildProcess>();
// Last resort if the worker goes down without running afterAll: no orphaned servers.
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function launch(command: string, args: string[], env: Record<string, string>): ProcessHandle {
  const child = spawn(command, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  let output = '';
  const append = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-200_000);
  };
  child.stdout!.on('data', append);
  child.stderr!.on('data', append);
  const exited = new Promise<void>((resolve) =>
    child.once('exit', () => {
      running.delete(child);
      resolve();
    }),
  );
  return { child, output: () => output, exited };
}

async function waitForOutput(handle: ProcessHandle, pattern: RegExp, timeoutMs: number, what: string) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const match = pattern.exec(handle.output());
    if (match) return match;
    if (handle.child.exitCode !== null || handle.child.signalCode !== null)
      throw new Error(`${what} exited before it was ready:\n${handle.output()}`);
    if (Date.now() > deadline)
      throw new Error(`${what} not ready within ${timeoutMs} ms:\n${handle.output()}`);
    await sleep(25);
  }
}

async function killHard(handle: ProcessHandle | undefined) {
  if (!handle || handle.child.exitCode !== null || handle.child.signalCode !== null) return;
  handle.child.kill('SIGKILL');
  await Promise.race([handle.exited, sleep(10_000)]);
}

/** The real entry point (`node --import tsx src/main/api.ts`) on a free port. */
async function startNode(name: string, env: Record<string, string>): Promise<ApiNode> {
  const handle = launch(process.execPath, ['--import', 'tsx', 'src/main/api.ts'], {
    PATH: process.env.PATH ?? '',
    NODE_ENV: 'test',
    HOST: '127.0.0.1',
    PORT: '0',
    // `info`, not `warn`: with PORT=0 the "Server listening at" line is the only way to learn the port.
    LOG_LEVEL: 'info',
    CHAT_SEND_RATE_LIMIT: '0',
    AUTH_RATE_LIMIT: '0',
    WS_FRAME_RATE_LIMIT: '0',
    // Spam rules still run, with limits no test reaches by accident (spam.int.test.ts sets real ones).
    CHAT_SPAM_MESSAGES_PER_MINUTE: '1000000',
    CHAT_SPAM_REPEAT_LIMIT: '1000000',
    CHAT_SPAM_LINK_LIMIT: '1000000',
    MIGRATE_ON_START: 'true',
    JWT_SECRET,
    DATA_DIR: makeTempDir(`hubx-node-${name}-`),
    ...env,
  });
  const [, port] = await waitForOutput(
    handle,
    /Server listening at http:\/\/127\.0\.0\.1:(\d+)/,
    60_000,
    `API node ${name}`,
  );
  return { ...handle, name, http: `http://127.0.0.1:${port}`, ws: `ws://127.0.0.1:${port}` };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** A private redis-server, so this file can kill and restart it without disturbing other tests. */
async function startRedis(port: number): Promise<ProcessHandle> {
  const handle = launch(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no'],
    { PATH: process.env.PATH ?? '' },
  );
  await waitForOutput(handle, /Ready to accept connections/, 15_000, `redis-server on ${port}`);
  return handle;
}

async function redisClientCount(port: number): Promise<number> {
  const redis = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0 });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    const list = (await redis.call('CLIENT', 'LIST')) as string;
    return list.trim().split('\n').length - 1; // not counting this connection
  } catch {
    return 0;
  } finally {
    redis.disconnect();
  }
}

async function waitUntil(condition: () => boolean | Promise<boolean>, timeoutMs: number, what: string) {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

// ---- HTTP and sockets --------------------------------------------------------------------------------
type User = { id: string; username: string; token: string };
type Reply = { status: number; body: Record<string, unknown>; text: string };

async function call(
  node: ApiNode,
  method: string,
  path: string,
  options: { token?: string; body?: unknown } = {},
): Promise<Reply> {
  const response = await fetch(`${node.http}${path}`, {
    method,
    headers: {
      ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
      ...(options.body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    body: options.body !== undefined ? JSON.stringify(options.body) : undefined,
    signal: AbortSignal.timeout(20_000),
  });
  const text = await response.text();
  return { status: response.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {}, text };
}

async function registerUser(node: ApiNode, name: string): Promise<User> {
  const username = `${name}_${randomBytes(3).toString('hex')}`;
  const registered = await call(node, 'POST', '/api/auth/register', {
    body: { username, password: PASSWORD, email: `${username}@example.test` },
  });
  expect(registered.status, registered.text).toBe(201);
  const tokens = await call(node, 'POST', '/api/auth/token', { body: { username, password: PASSWORD } });
  expect(tokens.status, tokens.text).toBe(200);
  return { id: registered.body.id as string, username, token: tokens.body.access as string };
}

async function createChannel(node: ApiNode, owner: User, members: User[]): Promise<string> {
  const created = await call(node, 'POST', '/api/chat/channels/', {
    token: owner.token,
    body: { contexto_tipo: 'privado', titulo: 'Vários nós', participantes: members.map((m) => m.id) },
  });
  expect(created.status, created.text).toBe(201);
  return created.body.id as string;
}

function postMessage(node: ApiNode, user: User, channelId: string, body: Record<string, unknown>) {
  return call(node, 'POST', `/api/chat/channels/${channelId}/messages/`, {
    token: user.token,
    body: { tipo: 'text', ...body },
  });
}

async function sendRest(node: ApiNode, user: User, channelId: string, conteudo: string) {
  const reply = await postMessage(node, user, channelId, { conteudo });
  expect(reply.status, `${node.name}: ${reply.text}`).toBe(201);
  return { id: reply.body.id as string, seq: reply.body.seq as number };
}

type Ack = Frame & { id: string; seq: number };

/** Sends a frame and waits for this socket's reply to it (matched by client_id). */
async function sendFrame(client: WsClient, frame: Record<string, unknown> & { client_id: string }) {
  const from = client.frames.length;
  client.send(frame);
  const reply = await client.waitFor(
    (f) => (f.type === 'ack' || f.type === 'error') && f.client_id === frame.client_id,
    20_000,
    from,
  );
  expect(reply.type, JSON.stringify(reply)).toBe('ack');
  return reply as Ack;
}

const sendOverSocket = (client: WsClient, conteudo: string, clientId: string) =>
  sendFrame(client, { tipo: 'text', conteudo, client_id: clientId });

const sockets = new Set<WsClient>();
async function openSocket(node: ApiNode, user: User, channelId: string, since: number) {
  const client = await connect(`${node.ws}/ws/chat/${channelId}/?token=${user.token}&since=${since}`);
  sockets.add(client);
  return client;
}

/** Logged events as frames show them: seq, type and (for messages) the message id. */
const eventKey = (seq: number, type: string, id: unknown) =>
  `${seq}:${type}:${typeof id === 'string' ? id : ''}`;
/** Channel events (acks carry a seq too, but they are replies, not events). */
const seqFrames = (clients: WsClient[]) =>
  clients.flatMap((client) =>
    client.frames.filter((f) => f.type.startsWith('chat.') && typeof f.seq === 'number'),
  );
const maxSeq = (client: WsClient) => Math.max(0, ...seqFrames([client]).map((f) => f.seq as number));
const range = (count: number) => Array.from({ length: count }, (_, i) => i);

async function waitForSeq(clients: WsClient[], seq: number, timeoutMs: number, what: string) {
  await waitUntil(() => clients.every((client) => maxSeq(client) >= seq), timeoutMs, what);
}

describe.skipIf(process.env.TEST_DB !== 'postgres' || skipDatabaseTests || skipRedisTests)(
  'several API nodes on one database and one Redis',
  () => {
    let database: Awaited<ReturnType<typeof openTestDatabase>> | undefined;
    let db: pg.Client | undefined;
    let sharedEnv: Record<string, string>;
    let nodeA: ApiNode;
    let nodeB: ApiNode;
    let alice: User;
    let bob: User;
    let carol: User;
    let channelId: string;

    async function loggedEvents(channel: string) {
      const { rows } = await db!.query<{ seq: number; type: string; message_id: string | null }>(
        `select seq::int as seq, type, payload->>'id' as message_id
           from chat_events where channel_id = $1 order by seq`,
        [channel],
      );
      return rows;
    }

    async function lastSeqOf(channel: string): Promise<number> {
      const { rows } = await db!.query<{ last_seq: number }>(
        'select last_seq::int as last_seq from chat_channels where id = $1',
        [channel],
      );
      return rows[0]!.last_seq;
    }

    /** The log holds 1..last_seq with no gap and no duplicate; returns it. */
    async function expectGaplessLog(channel: string) {
      const events = await loggedEvents(channel);
      const last = await lastSeqOf(channel);
      expect(
        events.map((e) => e.seq),
        'chat_events seqs',
      ).toEqual(range(last).map((i) => i + 1));
      return events;
    }

    /**
     * The frames with a seq that these sockets (one client's successive sockets, in order) received
     * are exactly the logged events after `since`: each once, in order, none missing.
     */
    async function expectCompleteStream(clients: WsClient[], channel: string, since: number, label: string) {
      const expected = (await loggedEvents(channel))
        .filter((e) => e.seq > since)
        .map((e) => eventKey(e.seq, e.type, e.message_id));
      const received = seqFrames(clients).map((f) =>
        eventKey(f.seq as number, f.type, (f.payload as { id?: unknown } | undefined)?.id),
      );
      expect(received, label).toEqual(expected);
    }

    beforeAll(async () => {
      database = await openTestDatabase();
      await database.handle.close();
      db = new pg.Client({ connectionString: database.url! });
      await db.connect();
      sharedEnv = {
        DATABASE_URL: database.url!,
        REDIS_URL: TEST_REDIS_URL,
        REDIS_PREFIX: uniqueRedisPrefix(),
      };
      [nodeA, nodeB] = await Promise.all([startNode('A', sharedEnv), startNode('B', sharedEnv)]);
      // Accounts and tokens from either node work on both (one database, one JWT secret).
      [alice, bob, carol] = await Promise.all([
        registerUser(nodeA, 'alice'),
        registerUser(nodeB, 'bob'),
        registerUser(nodeA, 'carol'),
      ]);
      channelId = await createChannel(nodeB, alice, [bob, carol]);
    }, 120_000);

    afterAll(async () => {
      for (const client of sockets) client.socket.terminate();
      await Promise.all(
        [...running].map((child) => killHard({ child, output: () => '', exited: exitOf(child) })),
      );
      await db?.end().catch(() => undefined);
      await database?.drop().catch(() => undefined);
    }, 60_000);

    function exitOf(child: ChildProcess) {
      return new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) resolve();
        else child.once('exit', () => resolve());
      });
    }

    it('(a) every socket on both nodes gets every event exactly once, in seq order, whichever node took it', async () => {
      const since = await lastSeqOf(channelId);
      const aliceOnA = await openSocket(nodeA, alice, channelId, since);
      const bobOnA = await openSocket(nodeA, bob, channelId, since);
      const bobOnB = await openSocket(nodeB, bob, channelId, since);
      const carolOnB = await openSocket(nodeB, carol, channelId, since);
      const everyone = [aliceOnA, bobOnA, bobOnB, carolOnB];
      const sent: string[] = [];

      // One at a time, alternating nodes and transports.
      for (const i of range(12)) {
        const text = `alternado ${i}`;
        if (i % 4 === 0) sent.push((await sendOverSocket(aliceOnA, text, `alt-${i}`)).id);
        else if (i % 4 === 1) sent.push((await sendRest(nodeB, carol, channelId, text)).id);
        else if (i % 4 === 2) sent.push((await sendOverSocket(carolOnB, text, `alt-${i}`)).id);
        else sent.push((await sendRest(nodeA, bob, channelId, text)).id);
      }

      // Concurrent bursts on both nodes over REST and sockets, with a reaction and a pin in the mix
      // (seqs are shared by every event type).
      for (const round of range(3)) {
        const target = sent[round]!;
        const [messages] = await Promise.all([
          Promise.all([
            ...range(8).map((i) => sendRest(nodeA, alice, channelId, `rajada ${round} A${i}`)),
            ...range(8).map((i) => sendRest(nodeB, bob, channelId, `rajada ${round} B${i}`)),
            ...range(6).map((i) =>
              sendOverSocket(aliceOnA, `rajada ${round} wsA${i}`, `burst-${round}-a${i}`),
            ),
            ...range(6).map((i) =>
              sendOverSocket(carolOnB, `rajada ${round} wsC${i}`, `burst-${round}-c${i}`),
            ),
            ...range(4).map((i) => sendOverSocket(bobOnB, `rajada ${round} wsB${i}`, `burst-${round}-b${i}`)),
          ]),
          call(nodeB, 'POST', `/api/chat/channels/${channelId}/messages/${target}/react/`, {
            token: carol.token,
            body: { emoji: 'like' },
          }).then((reply) => expect(reply.status, reply.text).toBe(200)),
          sendFrame(aliceOnA, { tipo: 'pin', mensagem_id: target, client_id: `pin-${round}` }),
        ]);
        sent.push(...messages.map((message) => message.id));
      }

      const events = await expectGaplessLog(channelId);
      const loggedMessages = events.filter((e) => e.type === 'chat.message' && e.seq > since);
      expect(loggedMessages.map((e) => e.message_id).sort()).toEqual([...sent].sort());
      expect(events.filter((e) => e.seq > since && e.type !== 'chat.message').length).toBeGreaterThanOrEqual(
        6,
      );

      const last = events.at(-1)!.seq;
      await waitForSeq(everyone, last, 20_000, 'every socket to reach the last seq');
      await sleep(300); // late duplicates, if any, would arrive now
      for (const [label, client] of Object.entries({ aliceOnA, bobOnA, bobOnB, carolOnB })) {
        await expectCompleteStream([client], channelId, since, label);
      }
      for (const client of everyone) client.close();
    }, 120_000);

    it('(b) the same client_id sent to both nodes at once makes one message, broadcast once', async () => {
      const since = await lastSeqOf(channelId);
      const bobOnA = await openSocket(nodeA, bob, channelId, since);
      const bobOnB = await openSocket(nodeB, bob, channelId, since);
      const aliceOnA = await openSocket(nodeA, alice, channelId, since);
      const carolOnB = await openSocket(nodeB, carol, channelId, since);
      const ids: string[] = [];

      for (const round of range(6)) {
        const body = { conteudo: `duas vezes REST ${round}`, client_id: `twice-rest-${round}` };
        const [onA, onB] = await Promise.all([
          postMessage(nodeA, bob, channelId, body),
          postMessage(nodeB, bob, channelId, body),
        ]);
        expect([onA.status, onB.status].sort(), `${onA.text} / ${onB.text}`).toEqual([200, 201]);
        expect(onA.body.id).toBe(onB.body.id);
        expect(onA.body.seq).toBe(onB.body.seq);
        ids.push(onA.body.id as string);
      }
      for (const round of range(6)) {
        const clientId = `twice-ws-${round}`;
        const [onA, onB] = await Promise.all([
          sendOverSocket(bobOnA, `duas vezes WS ${round}`, clientId),
          sendOverSocket(bobOnB, `duas vezes WS ${round}`, clientId),
        ]);
        expect(onA.id).toBe(onB.id);
        expect(onA.seq).toBe(onB.seq);
        ids.push(onA.id);
      }
      for (const round of range(4)) {
        const clientId = `twice-mixed-${round}`;
        const [onA, onB] = await Promise.all([
          sendOverSocket(bobOnA, `misto ${round}`, clientId),
          postMessage(nodeB, bob, channelId, { conteudo: `misto ${round}`, client_id: clientId }),
        ]);
        expect([200, 201], onB.text).toContain(onB.status);
        expect(onB.body.id).toBe(onA.id);
        ids.push(onA.id);
      }

      const { rows } = await db!.query<{ client_id: string; n: number }>(
        `select client_id, count(*)::int as n from chat_messages
          where channel_id = $1 and client_id like 'twice-%' group by client_id`,
        [channelId],
      );
      expect(rows).toHaveLength(16);
      expect(rows.filter((row) => row.n !== 1)).toEqual([]);

      // The losers gave their seq back: the log has no gap, and one message event per client_id.
      const events = await expectGaplessLog(channelId);
      const messageEvents = events.filter((e) => e.seq > since && e.type === 'chat.message');
      expect(messageEvents.map((e) => e.message_id).sort()).toEqual([...ids].sort());

      const everyone = [bobOnA, bobOnB, aliceOnA, carolOnB];
      await waitForSeq(everyone, events.at(-1)!.seq, 20_000, 'every socket to reach the last seq');
      await sleep(300);
      for (const [label, client] of Object.entries({ bobOnA, bobOnB, aliceOnA, carolOnB })) {
        await expectCompleteStream([client], channelId, since, label);
      }
      for (const client of everyone) client.close();
    }, 120_000);

    it('(c) a node killed mid-stream: its clients resume on its replacement with since and lose nothing', async () => {
      const since = await lastSeqOf(channelId);
      const usersOnA = [alice, bob];
      const oldSockets = await Promise.all(usersOnA.map((user) => openSocket(nodeA, user, channelId, since)));
      const carolOnB = await openSocket(nodeB, carol, channelId, since);

      const sentIds: string[] = [];
      const failures: string[] = [];
      let stop = false;
      const loopDeadline = Date.now() + 100_000;
      const senderLoop = (async () => {
        for (let i = 0; !stop && Date.now() < loopDeadline; i += 1) {
          try {
            if (i % 3 === 2) sentIds.push((await sendOverSocket(carolOnB, `laço ${i}`, `loop-${i}`)).id);
            else sentIds.push((await sendRest(nodeB, carol, channelId, `laço ${i}`)).id);
          } catch (error) {
            failures.push(String(error));
          }
          await sleep(10);
        }
      })();

      let newSockets!: WsClient[];
      let lastSeen!: number[];
      try {
        await waitUntil(() => sentIds.length >= 10, 20_000, 'ten messages before the kill');
        nodeA.child.kill('SIGKILL');
        await nodeA.exited;
        await Promise.all(oldSockets.map((client) => client.waitForClose(5_000)));
        expect(oldSockets.map((client) => client.closeCode)).toEqual([1006, 1006]);
        lastSeen = oldSockets.map((client) => Math.max(since, maxSeq(client)));

        const killedAt = sentIds.length;
        await waitUntil(() => sentIds.length >= killedAt + 10, 20_000, 'ten messages while node A is down');
        nodeA = await startNode('A-restarted', sharedEnv);
        newSockets = await Promise.all(
          usersOnA.map((user, i) => openSocket(nodeA, user, channelId, lastSeen[i]!)),
        );
        const resumedAt = sentIds.length;
        await waitUntil(() => sentIds.length >= resumedAt + 10, 20_000, 'ten messages after the resume');
      } finally {
        stop = true;
        await senderLoop;
      }
      expect(failures).toEqual([]);

      const events = await expectGaplessLog(channelId);
      const messageIds = events
        .filter((e) => e.seq > since && e.type === 'chat.message')
        .map((e) => e.message_id);
      expect(messageIds.sort()).toEqual([...sentIds].sort());
      const last = events.at(-1)!.seq;
      await waitForSeq([...newSockets, carolOnB], last, 20_000, 'every socket to reach the last seq');
      await sleep(300);
      for (const [i, user] of usersOnA.entries()) {
        // What the dead node sent, then what its replacement sent: together, everything once, in order.
        await expectCompleteStream(
          [oldSockets[i]!, newSockets[i]!],
          channelId,
          since,
          `${user.username} on A`,
        );
      }
      await expectCompleteStream([carolOnB], channelId, since, 'carol on B');
      for (const client of [...newSockets, carolOnB]) client.close();
    }, 150_000);

    it('(d) Redis away for a while: local delivery goes on and the other node catches up once it is back', async () => {
      const redisPort = await freePort();
      let redis: ProcessHandle | undefined = await startRedis(redisPort);
      const env = {
        ...sharedEnv,
        REDIS_URL: `redis://127.0.0.1:${redisPort}`,
        REDIS_PREFIX: uniqueRedisPrefix(),
      };
      let nodeC: ApiNode | undefined;
      let nodeD: ApiNode | undefined;
      try {
        [nodeC, nodeD] = await Promise.all([startNode('C', env), startNode('D', env)]);
        // main: only D sends during the outage, so C can only recover when Redis is back.
        // gap: C sends during the outage too, which reveals the gap to C at once.
        // quiet: no socket on C until the outage.
        const channel = await createChannel(nodeC, alice, [bob, carol]);
        const gapChannel = await createChannel(nodeD, bob, [alice]);
        const quietChannel = await createChannel(nodeD, bob, [alice]);
        await sendRest(nodeD, bob, quietChannel, 'canal calmo');
        const since = await lastSeqOf(channel);
        const gapSince = await lastSeqOf(gapChannel);
        // A context member's socket on C; the membership ends on D during the outage, and that
        // access change travels only on the bus.
        const staff = await registerUser(nodeC, 'staff');
        await db!.query('update users set is_staff = true where id = $1', [staff.id]);
        const contextoId = `n-${randomBytes(4).toString('hex')}`;
        const member = await registerUser(nodeC, 'member');
        const joined = await call(
          nodeC,
          'PUT',
          `/api/chat/contexts/nucleo/${contextoId}/members/${member.id}/`,
          {
            token: staff.token,
            body: { status: 'ativo' },
          },
        );
        expect(joined.status, joined.text).toBeLessThan(300);
        const contextCreated = await call(nodeC, 'POST', '/api/chat/channels/', {
          token: staff.token,
          body: { contexto_tipo: 'nucleo', contexto_id: contextoId, titulo: 'Núcleo' },
        });
        expect(contextCreated.status, contextCreated.text).toBe(201);
        const contextChannel = contextCreated.body.id as string;
        const memberOnC = await openSocket(nodeC, member, contextChannel, await lastSeqOf(contextChannel));
        const aliceOnC = await openSocket(nodeC, alice, channel, since);
        const bobOnD = await openSocket(nodeD, bob, channel, since);
        const carolOnD = await openSocket(nodeD, carol, channel, since);
        const aliceGapOnC = await openSocket(nodeC, alice, gapChannel, gapSince);
        const bobGapOnD = await openSocket(nodeD, bob, gapChannel, gapSince);

        // The bus carries events across nodes before the outage.
        const before = await sendRest(nodeD, bob, channel, 'antes da queda');
        const gapBefore = await sendRest(nodeD, bob, gapChannel, 'antes da queda');
        await waitForSeq([aliceOnC], before.seq, 10_000, 'C to hear of a message sent on D');
        await waitForSeq([aliceGapOnC], gapBefore.seq, 10_000, 'C to hear of a message sent on D');

        redis.child.kill('SIGKILL');
        await redis.exited;
        redis = undefined;
        await sleep(200);

        // Outage: sends on D are stored (201, acks) and D's own sockets get them at once.
        const duringOutage: string[] = [];
        for (const i of range(8))
          duringOutage.push((await sendRest(nodeD, carol, channel, `sem redis ${i}`)).id);
        for (const i of range(2))
          duringOutage.push((await sendOverSocket(bobOnD, `sem redis ws ${i}`, `out-${i}`)).id);
        for (const i of range(3)) await sendRest(nodeD, bob, gapChannel, `sem redis ${i}`);
        const ended = await call(
          nodeD,
          'DELETE',
          `/api/chat/contexts/nucleo/${contextoId}/members/${member.id}/`,
          {
            token: staff.token,
          },
        );
        expect(ended.status, ended.text).toBe(204);
        const lastOnD = await lastSeqOf(channel);
        await waitForSeq(
          [bobOnD, carolOnD],
          lastOnD,
          10_000,
          "D's sockets to get D's messages without Redis",
        );
        await waitForSeq([bobGapOnD], await lastSeqOf(gapChannel), 10_000, "D's socket to get D's messages");
        // The outage is real: C has not heard of them (this is what the rest of the test recovers).
        await sleep(500);
        expect(maxSeq(aliceOnC)).toBe(before.seq);
        expect(maxSeq(aliceGapOnC)).toBe(gapBefore.seq);

        // A socket opened during the outage, on a channel with no stream on C yet, gets its backlog.
        // (Soft: when it fails, the rest of the scenario still runs and reports.)
        const quietOnC = await openSocket(nodeC, alice, quietChannel, 0);
        const quietLast = await lastSeqOf(quietChannel);
        const replayedDuringOutage = await waitForSeq([quietOnC], quietLast, 5_000, 'replay').then(
          () => true,
          () => false,
        );
        expect
          .soft(
            replayedDuringOutage,
            'a socket opened while Redis is down gets its replay without waiting for it',
          )
          .toBe(true);

        // A send on C in the gap channel reveals the gap to C, which reads the missed events from the log.
        const onC = await sendRest(nodeC, alice, gapChannel, 'de C durante a queda');
        await waitForSeq(
          [aliceGapOnC],
          onC.seq,
          10_000,
          "C to fill D's messages from the log during the outage",
        );

        // C never heard of the membership's end.
        expect(memberOnC.closeCode).toBeUndefined();

        // Redis returns on the same port: each node re-reads the log for what it missed, and checks
        // every socket's access again (the access changes published meanwhile are lost).
        redis = await startRedis(redisPort);
        expect(await memberOnC.waitForClose(30_000)).toBe(4403);
        await waitForSeq([aliceOnC], lastOnD, 30_000, "C to get D's outage messages after Redis came back");
        await waitForSeq([bobGapOnD], onC.seq, 30_000, "D to get C's outage message after Redis came back");
        await waitForSeq([quietOnC], quietLast, 30_000, 'the replay of the socket opened during the outage');

        // Live delivery across nodes works again once both nodes are reconnected (3 connections each).
        await waitUntil(
          async () => (await redisClientCount(redisPort)) >= 6,
          30_000,
          'both nodes to reconnect',
        );
        await sendRest(nodeC, alice, channel, 'depois da volta C');
        await sendRest(nodeD, bob, channel, 'depois da volta D');
        await sendOverSocket(aliceOnC, 'depois da volta ws C', 'back-c');
        await sendOverSocket(carolOnD, 'depois da volta ws D', 'back-d');
        await sendRest(nodeD, bob, gapChannel, 'depois da volta D');

        // A client resuming with since recovers everything as well.
        const events = await expectGaplessLog(channel);
        const gapEvents = await expectGaplessLog(gapChannel);
        const lateOnC = await openSocket(nodeC, bob, channel, since);
        await waitForSeq(
          [aliceOnC, bobOnD, carolOnD, lateOnC],
          events.at(-1)!.seq,
          20_000,
          'every socket to reach the last seq',
        );
        await waitForSeq([aliceGapOnC, bobGapOnD], gapEvents.at(-1)!.seq, 20_000, 'the gap channel sockets');
        await sleep(300);
        for (const [label, client] of Object.entries({ aliceOnC, bobOnD, carolOnD, lateOnC })) {
          await expectCompleteStream([client], channel, since, label);
        }
        for (const [label, client] of Object.entries({ aliceGapOnC, bobGapOnD })) {
          await expectCompleteStream([client], gapChannel, gapSince, label);
        }
        await expectCompleteStream([quietOnC], quietChannel, 0, 'quietOnC');
        const messageIds = new Set(events.filter((e) => e.type === 'chat.message').map((e) => e.message_id));
        expect(duringOutage.filter((id) => !messageIds.has(id))).toEqual([]);
      } finally {
        await Promise.all([killHard(nodeC), killHard(nodeD), killHard(redis)]);
      }
    }, 180_000);

    it('(e) the send rate limit is one budget per user across nodes (REST 429 + Retry-After, socket rate_limited)', async () => {
      // Three sends a minute: each node alone would allow all four sends below.
      const prefix = uniqueRedisPrefix();
      const env = { ...sharedEnv, REDIS_PREFIX: prefix, CHAT_SEND_RATE_LIMIT: '3/60s' };
      let nodeE: ApiNode | undefined;
      let nodeF: ApiNode | undefined;
      try {
        [nodeE, nodeF] = await Promise.all([startNode('E', env), startNode('F', env)]);
        const channel = await createChannel(nodeE, alice, [bob]);
        await sendRest(nodeE, bob, channel, 'um');
        await sendRest(nodeF, bob, channel, 'dois');
        const bobOnF = await openSocket(nodeF, bob, channel, await lastSeqOf(channel));
        await sendOverSocket(bobOnF, 'três', 'rl-3');

        const refused = await postMessage(nodeE, bob, channel, { conteudo: 'quatro' });
        expect(refused.status, refused.text).toBe(429);
        expect(refused.body.code).toBe('rate_limited');
        const retryAfter = await fetch(`${nodeF.http}/api/chat/channels/${channel}/messages/`, {
          method: 'POST',
          headers: { authorization: `Bearer ${bob.token}`, 'content-type': 'application/json' },
          body: JSON.stringify({ tipo: 'text', conteudo: 'quatro' }),
        });
        expect(retryAfter.status).toBe(429);
        expect(Number(retryAfter.headers.get('retry-after'))).toBeGreaterThan(0);
        const from = bobOnF.frames.length;
        bobOnF.send({ tipo: 'text', conteudo: 'quatro', client_id: 'rl-4' });
        const reply = await bobOnF.waitFor((f) => f.client_id === 'rl-4', 20_000, from);
        expect(reply).toMatchObject({ type: 'error', code: 'rate_limited' });
        // Another user's budget is their own.
        await sendRest(nodeF, alice, channel, 'outra pessoa');
        // Nothing refused was stored: three of bob's, one of alice's.
        const events = await expectGaplessLog(channel);
        expect(events.filter((e) => e.type === 'chat.message')).toHaveLength(4);
        bobOnF.close();
      } finally {
        await Promise.all([killHard(nodeE), killHard(nodeF)]);
        // The limiter's windows are this test's own keys.
        const redis = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: 1 });
        const keys = await redis.keys(`${prefix}*`);
        if (keys.length > 0) await redis.del(...keys);
        redis.disconnect();
      }
    }, 120_000);
  },
);
