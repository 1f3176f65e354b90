import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createTestApp, type TestApp, type TestUser } from '../../test/support/app.js';
import { chatClient } from '../../test/support/chat.js';
import { skipDatabaseTests } from '../../test/support/database.js';
import {
  busEnv,
  connect,
  type Frame,
  listen,
  buses,
  upgradeStatus,
  type WsClient,
} from '../../test/support/ws.js';
import type { Bus } from '../platform/bus/bus.js';
import { Connection } from './connection.js';

// The same behaviour on the in-process bus and on Redis pub/sub.

type PublishedMessage = { type: 'chat.message'; seq: number; channel: string };
/** Takes over one publish: calls `publish` to let it through (now or later), or never. */
type MessageInterceptor = (event: PublishedMessage, publish: () => Promise<void>) => Promise<void>;

/**
 * Sits between the app and its bus: records which topics the node subscribes and unsubscribes,
 * and lets a test take over the publish of each chat.message event (to lose or delay it, as
 * happens to publishes while Redis is away).
 */
function createBusTap() {
  const history: Array<{ topic: string; action: 'subscribe' | 'unsubscribe' }> = [];
  const tap = {
    interceptMessage: undefined as MessageInterceptor | undefined,
    /** While set, subscribes wait for it (a slow SUBSCRIBE round trip). */
    subscribeGate: undefined as Promise<void> | undefined,
    /** The topic's subscribes and unsubscribes, in order. */
    historyOf: (topic: string) =>
      history.filter((entry) => entry.topic === topic).map((entry) => entry.action),
    wrap: (bus: Bus): Bus => ({
      publish(topic, message) {
        const intercept = tap.interceptMessage;
        const event = intercept && (JSON.parse(message) as { type: string });
        if (!intercept || event?.type !== 'chat.message') return bus.publish(topic, message);
        return intercept(event as PublishedMessage, () => bus.publish(topic, message));
      },
      async subscribe(topic, handler) {
        history.push({ topic, action: 'subscribe' });
        await tap.subscribeGate;
        const unsubscribe = await bus.subscribe(topic, handler);
        return async () => {
          history.push({ topic, action: 'unsubscribe' });
          await unsubscribe();
        };
      },
      close: () => bus.close(),
    }),
  };
  return tap;
}

/** Whether the bytes written to (or read from) a socket are that chat.message event. */
const isMessageEvent = (bytes: Buffer, channel: string, seq: number) => {
  const frame = JSON.parse(bytes.toString('utf8')) as Frame;
  return frame.type === 'chat.message' && frame.channel === channel && frame.seq === seq;
};
const messageOf = (frame: Frame) => ({
  type: frame.type,
  seq: frame.seq,
  conteudo: (frame.payload as { conteudo?: string } | undefined)?.conteudo,
});

describe.skipIf(skipDatabaseTests).each(buses)('gateway basics ($name)', ({ redis: onRedis, skip }) => {
  const env = busEnv(onRedis);
  let t: TestApp;
  let base: string;
  let alice: TestUser;
  let bob: TestUser;
  let channelId: string;
  let chat: ReturnType<typeof chatClient>;
  let tap: ReturnType<typeof createBusTap>;
  let redis: Redis | undefined;

  beforeAll(async () => {
    if (skip) return;
    tap = createBusTap();
    t = await createTestApp(
      // Room for the many sockets of one user that the large-channel test opens; gaps filled
      // from the log soon, so the lost-publish tests need not wait long.
      { ...env, WS_MAX_CONNECTIONS_PER_USER: '40', EVENT_GAP_WAIT_MS: '50' },
      { wrapBus: tap.wrap },
    );
    base = await listen(t);
    chat = chatClient(t);
    alice = await t.createUser();
    bob = await t.createUser();
    channelId = (await chat.createChannel(alice, { participantes: [bob.id] })).id;
    // Redis's own view of the node's subscriptions, beside what the bus was asked to do.
    if (env.REDIS_URL) redis = new Redis(env.REDIS_URL, { maxRetriesPerRequest: 1 });
  });
  afterEach(() => {
    if (tap) {
      tap.interceptMessage = undefined;
      tap.subscribeGate = undefined;
    }
    vi.restoreAllMocks();
  });
  afterAll(async () => {
    redis?.disconnect();
    await t?.close();
  });

  /**
   * Opens a socket known to be live: resuming one event back, that event's arrival proves the
   * socket has joined the channel's stream, so what comes next reaches it through the stream.
   */
  async function connectLive(user: TestUser, channel: string) {
    const lastSeq = (await t.deps.eventLog.lastSeq(channel)) ?? 0;
    expect(lastSeq).toBeGreaterThan(0);
    const client = await connect(`${base}/ws/chat/${channel}/?token=${user.token}&since=${lastSeq - 1}`);
    await client.waitFor((frame) => frame.seq === lastSeq);
    return client;
  }

  /** Runs `open` and returns the socket it opened with the server's end of it. */
  async function withServerEnd(open: () => Promise<WsClient>) {
    const before = new Set(t.app.websocketServer.clients);
    const client = await open();
    const opened = [...t.app.websocketServer.clients].filter((socket) => !before.has(socket));
    expect(opened).toHaveLength(1);
    return { client, serverEnd: opened[0]! };
  }

  /** On the Redis bus, how many connections Redis has subscribed to the topic; no-op in process. */
  async function expectRedisSubscribers(topic: string, count: number) {
    if (!redis) return;
    const [, subscribers] = await redis.pubsub('NUMSUB', `${env.REDIS_PREFIX}${topic}`);
    expect(subscribers).toBe(count);
  }

  it.skipIf(skip)(
    'delivers a message sent on one socket to every socket of the channel, with an ack',
    async () => {
      const a = await connect(`${base}/ws/chat/${channelId}/?token=${alice.token}`);
      const b = await connect(`${base}/ws/chat/${channelId}/`, { protocols: ['bearer', bob.token] });
      a.send({ tipo: 'text', conteudo: 'oi', client_id: 'm1' });
      const ack = await a.waitFor((frame) => frame.type === 'ack');
      expect(ack).toMatchObject({ client_id: 'm1', id: expect.any(String), seq: expect.any(Number) });
      const received = await b.waitFor((frame) => frame.type === 'chat.message');
      expect(received).toMatchObject({
        seq: ack.seq,
        channel: channelId,
        payload: { id: ack.id, conteudo: 'oi' },
      });
      a.close();
      b.close();
    },
  );

  it.skipIf(skip)(
    'a channel with many sockets here (fan-outs batched and paced): every message on every socket, once and in order; a removed member gets nothing after the removal',
    async () => {
      const carol = await t.createUser();
      const channel = (await chatClient(t).createChannel(alice, { participantes: [carol.id] })).id;
      const aliceSockets: WsClient[] = [];
      const carolSockets: WsClient[] = [];
      // 70 sockets: more than the 64 from which a stream hands out its events in batches.
      for (let i = 0; i < 35; i++) {
        aliceSockets.push(await connect(`${base}/ws/chat/${channel}/?token=${alice.token}`));
        carolSockets.push(await connect(`${base}/ws/chat/${channel}/?token=${carol.token}`));
      }
      const sender = aliceSockets[0]!;
      const texts = Array.from({ length: 30 }, (_, i) => `m${i}`);
      for (const [i, text] of texts.entries())
        sender.send({ tipo: 'text', conteudo: text, client_id: `c${i}` });
      const acks = await sender.waitForCount('ack', texts.length, 10_000);
      for (const socket of [...aliceSockets, ...carolSockets]) {
        const messages = await socket.waitForCount('chat.message', texts.length, 10_000);
        expect(messages.map((m) => (m.payload as { conteudo: string }).conteudo)).toEqual(texts);
        expect(messages.map((m) => m.seq)).toEqual(acks.map((ack) => ack.seq));
      }
      const first = acks[0]!.seq as number;
      expect(acks.map((ack) => ack.seq)).toEqual(texts.map((_, i) => first + i));

      await chatClient(t).removeParticipants(alice, channel, [carol]);
      for (let i = 0; i < 5; i++) sender.send({ tipo: 'text', conteudo: `after${i}`, client_id: `d${i}` });
      await sender.waitForCount('ack', texts.length + 5, 10_000);
      for (const socket of aliceSockets) {
        const messages = await socket.waitForCount('chat.message', texts.length + 5, 10_000);
        expect(messages).toHaveLength(texts.length + 5);
        expect(socket.frames.filter((frame) => frame.type === 'chat.participant')).toHaveLength(1);
      }
      for (const socket of carolSockets) {
        expect(await socket.waitForClose()).toBe(4403);
        const late = socket.frames.filter((frame) =>
          String((frame.payload as { conteudo?: string } | undefined)?.conteudo ?? '').startsWith('after'),
        );
        expect(late).toEqual([]);
      }
      for (const socket of aliceSockets) socket.close();
    },
  );

  it.skipIf(skip)('refuses anonymous and outsider upgrades', async () => {
    const carol = await t.createUser();
    expect(await upgradeStatus(`${base}/ws/chat/${channelId}/`)).toBe(401);
    expect(await upgradeStatus(`${base}/ws/chat/${channelId}/?token=${carol.token}`)).toBe(404);
  });

  it.skipIf(skip)(
    'encodes an event once on this node: every socket of the channel is handed the same bytes',
    async () => {
      const carol = await t.createUser();
      const channel = (await chat.createChannel(alice, { participantes: [bob.id, carol.id] })).id;
      // Three members, Alice with two sockets: four sockets of the channel on this node.
      const sockets: WsClient[] = [];
      for (const user of [alice, alice, bob, carol]) sockets.push(await connectLive(user, channel));
      const received = sockets.map((client) => {
        const frames: Buffer[] = [];
        client.socket.on('message', (data) => frames.push(data as Buffer));
        return frames;
      });
      const sendRaw = vi.spyOn(Connection.prototype, 'sendRaw');

      const sent = await chat.sendMessage(bob, channel, { conteudo: 'encoded once' });
      for (const client of sockets) await client.waitFor((frame) => frame.seq === sent.seq, 10_000);

      const handed = sendRaw.mock.calls.flatMap(([bytes], call) =>
        isMessageEvent(bytes, channel, sent.seq) ? [{ bytes, connection: sendRaw.mock.contexts[call] }] : [],
      );
      expect(handed).toHaveLength(4);
      expect(new Set(handed.map(({ connection }) => connection)).size).toBe(4);
      // Identity, not equality: bytes encoded for each socket (Buffer.from(JSON.stringify(event))
      // per send) would be equal but four different objects, and fail here.
      const bytes = handed[0]!.bytes;
      for (const each of handed) expect(each.bytes).toBe(bytes);
      for (const frames of received) {
        expect(frames.filter((frame) => isMessageEvent(frame, channel, sent.seq))).toEqual([bytes]);
      }
      for (const client of sockets) client.close();
    },
  );

  it.skipIf(skip)("subscribes to a channel's topic only while a socket here is in it", async () => {
    const watched = (await chat.createChannel(alice, { participantes: [bob.id] })).id;
    const unwatched = (await chat.createChannel(alice, { participantes: [bob.id] })).id;
    const topic = `channel:${watched}`;
    // Events of channels nobody here is in do not make the node subscribe.
    await chat.sendMessage(alice, watched, { conteudo: 'before anyone watches' });
    await chat.sendMessage(alice, unwatched, { conteudo: 'nobody watches' });
    expect(tap.historyOf(topic)).toEqual([]);
    await expectRedisSubscribers(topic, 0);

    // A socket is live only once its stream has subscribed.
    const first = await withServerEnd(() => connectLive(alice, watched));
    expect(tap.historyOf(topic)).toEqual(['subscribe']);
    await expectRedisSubscribers(topic, 1);
    const second = await withServerEnd(() => connectLive(bob, watched));
    expect(tap.historyOf(topic)).toEqual(['subscribe']);

    // One of two sockets gone: the node stays subscribed, and the other one still gets events.
    first.client.close();
    await vi.waitFor(() => expect(first.serverEnd.readyState).toBe(first.serverEnd.CLOSED), {
      timeout: 5_000,
    });
    expect(tap.historyOf(topic)).toEqual(['subscribe']);
    await expectRedisSubscribers(topic, 1);
    const later = await chat.sendMessage(alice, watched, { conteudo: 'still watched' });
    await second.client.waitFor((frame) => frame.seq === later.seq, 10_000);

    // The last socket gone: the node unsubscribes.
    second.client.close();
    await vi.waitFor(
      async () => {
        expect(tap.historyOf(topic)).toEqual(['subscribe', 'unsubscribe']);
        await expectRedisSubscribers(topic, 0);
      },
      { timeout: 5_000 },
    );
    expect(tap.historyOf(`channel:${unwatched}`)).toEqual([]);
    await expectRedisSubscribers(`channel:${unwatched}`, 0);
  });

  it.skipIf(skip)(
    'a socket that leaves while its channel is still being subscribed leaves no subscription behind',
    async () => {
      const channel = (await chat.createChannel(alice, { participantes: [bob.id] })).id;
      const topic = `channel:${channel}`;
      let openGate!: () => void;
      tap.subscribeGate = new Promise((resolve) => (openGate = resolve));
      const early = await withServerEnd(() => connect(`${base}/ws/chat/${channel}/?token=${alice.token}`));
      await vi.waitFor(() => expect(tap.historyOf(topic)).toEqual(['subscribe']), { timeout: 5_000 });
      early.client.close();
      await vi.waitFor(() => expect(early.serverEnd.readyState).toBe(early.serverEnd.CLOSED), {
        timeout: 5_000,
      });
      openGate();
      await vi.waitFor(
        async () => {
          expect(tap.historyOf(topic)).toEqual(['subscribe', 'unsubscribe']);
          await expectRedisSubscribers(topic, 0);
        },
        { timeout: 5_000 },
      );

      // Watching the channel again works, and each message is announced once (a stream left
      // subscribed from before would announce it a second time).
      const notifications = await connect(`${base}/ws/chat/notificacoes/?token=${bob.token}`);
      const socket = await connectLive(bob, channel);
      const sent = await chat.sendMessage(alice, channel, { conteudo: 'once' });
      await socket.waitFor((frame) => frame.seq === sent.seq, 10_000);
      await notifications.waitFor((frame) => frame.mensagem_id === sent.id, 10_000);
      const after = await chat.sendMessage(alice, channel, { conteudo: 'after' });
      await notifications.waitFor((frame) => frame.mensagem_id === after.id, 10_000);
      expect(notifications.frames.filter((frame) => frame.mensagem_id === sent.id)).toHaveLength(1);
      await expectRedisSubscribers(topic, 1);
      notifications.close();
      socket.close();
    },
  );

  it.skipIf(skip)(
    'a socket that joins a stream whose only other socket leaves while it is still being subscribed gets live events',
    async () => {
      const channel = (await chat.createChannel(alice, { participantes: [bob.id] })).id;
      const topic = `channel:${channel}`;
      let openGate!: () => void;
      tap.subscribeGate = new Promise((resolve) => (openGate = resolve));
      const first = await withServerEnd(() => connect(`${base}/ws/chat/${channel}/?token=${alice.token}`));
      await vi.waitFor(() => expect(tap.historyOf(topic)).toEqual(['subscribe']), { timeout: 5_000 });
      // The second socket waits for the same stream's start; the first one leaves meanwhile.
      const second = await connect(`${base}/ws/chat/${channel}/?token=${bob.token}`);
      first.client.close();
      await vi.waitFor(() => expect(first.serverEnd.readyState).toBe(first.serverEnd.CLOSED), {
        timeout: 5_000,
      });
      openGate();
      const sent = await chat.sendMessage(alice, channel, { conteudo: 'live after the race' });
      await second.waitFor((frame) => frame.type === 'chat.message' && frame.seq === sent.seq, 10_000);
      // The stream is kept for the socket still waiting for it (no unsubscribe and subscribe
      // again), and holds the topic once.
      await vi.waitFor(
        async () => {
          expect(tap.historyOf(topic)).toEqual(['subscribe']);
          await expectRedisSubscribers(topic, 1);
        },
        { timeout: 5_000 },
      );
      const later = await chat.sendMessage(alice, channel, { conteudo: 'and later' });
      await second.waitFor((frame) => frame.type === 'chat.message' && frame.seq === later.seq, 10_000);
      second.close();
    },
  );

  it.skipIf(skip)(
    'a replay that reaches the socket user’s own removal closes it with 4403 and sends nothing after it',
    async () => {
      const carol = await t.createUser();
      const channel = (await chat.createChannel(alice, { participantes: [carol.id] })).id;
      const since = (await chat.sendMessage(alice, channel, { conteudo: 'before' })).seq;
      await chat.removeParticipants(alice, channel, [carol]);
      await chat.sendMessage(alice, channel, { conteudo: 'after the removal' });
      // The upgrade's checks ran just before the removal committed (they would refuse her now).
      vi.spyOn(t.deps.channelsService, 'openChannel').mockResolvedValue(undefined as never);
      vi.spyOn(t.deps.channelsService, 'canRead').mockResolvedValue(true);
      const socket = await connect(`${base}/ws/chat/${channel}/?token=${carol.token}&since=${since}`);
      expect(await socket.waitForClose(5_000)).toBe(4403);
      const events = socket.frames.filter((frame) => typeof frame.seq === 'number');
      expect(events.map((frame) => [frame.type, (frame.payload as { action?: string }).action])).toEqual([
        ['chat.participant', 'removed'],
      ]);
    },
  );

  it.skipIf(skip)(
    'a notification sync that answers after a newer one (the removal’s) does not follow the channel again',
    async () => {
      const carol = await t.createUser();
      const left = (await chat.createChannel(alice, { participantes: [carol.id] })).id;
      const kept = (await chat.createChannel(alice, { participantes: [carol.id] })).id;
      const listChannelIds = t.deps.channelsService.listChannelIds.bind(t.deps.channelsService);
      let staleAnswered!: () => void;
      const staleDone = new Promise<void>((resolve) => (staleAnswered = resolve));
      // The socket's first sync reads her channels before the removal but answers after it.
      vi.spyOn(t.deps.channelsService, 'listChannelIds').mockImplementationOnce(async (user) => {
        const ids = await listChannelIds(user);
        await new Promise((resolve) => setTimeout(resolve, 400));
        setImmediate(staleAnswered);
        return ids;
      });
      const notifications = await connect(`${base}/ws/chat/notificacoes/?token=${carol.token}`);
      await chat.removeParticipants(alice, left, [carol]);
      await staleDone;
      const marker = await chat.sendMessage(alice, kept, { conteudo: 'still followed' });
      await notifications.waitFor((frame) => frame.mensagem_id === marker.id, 10_000);
      const leaked = await chat.sendMessage(alice, left, { conteudo: 'not for her' });
      const after = await chat.sendMessage(alice, kept, { conteudo: 'after' });
      await notifications.waitFor((frame) => frame.mensagem_id === after.id, 10_000);
      expect(notifications.frames.filter((frame) => frame.mensagem_id === leaked.id)).toEqual([]);
      notifications.close();
    },
  );

  it.skipIf(skip)(
    'fills chat.message publishes lost on the bus from the event log: each message once, in seq order',
    async () => {
      const channel = (await chat.createChannel(alice, { participantes: [bob.id] })).id;
      const socket = await connectLive(alice, channel);
      const from = socket.frames.length;
      // Every second message of the channel never reaches the bus (as while Redis is away).
      const lost: number[] = [];
      let published = 0;
      tap.interceptMessage = async (event, publish) => {
        if (event.channel !== channel) return publish();
        published += 1;
        if (published % 2 === 1) return publish();
        lost.push(event.seq);
      };

      const sent: Array<{ seq: number }> = [];
      for (let i = 0; i < 7; i++) sent.push(await chat.sendMessage(bob, channel, { conteudo: `m${i}` }));
      // The last one is not lost; the stream forwards in seq order only, so by the time it has
      // arrived everything before it has too.
      await socket.waitFor((frame) => frame.seq === sent[6]!.seq, 10_000, from);

      expect(lost).toEqual([sent[1]!.seq, sent[3]!.seq, sent[5]!.seq]);
      expect(socket.frames.slice(from).map(messageOf)).toEqual(
        sent.map(({ seq }, i) => ({ type: 'chat.message', seq, conteudo: `m${i}` })),
      );
      socket.close();
    },
  );

  it.skipIf(skip)(
    'puts a chat.message overtaken on the bus by the next one back in order, without a duplicate',
    async () => {
      const channel = (await chat.createChannel(alice, { participantes: [bob.id] })).id;
      const socket = await connectLive(alice, channel);
      // Seq n's publish is held back until n+1 has gone through the bus, then released: at once
      // (the stream holds n+1 until n arrives), or only once the socket has n+1 (the stream has
      // read n from the log after the gap wait, and must drop the bus's late copy of n).
      for (const release of ['right after n+1', 'once the socket has n+1'] as const) {
        const from = socket.frames.length;
        const delayed: { publish?: () => Promise<void>; released?: Promise<void> } = {};
        tap.interceptMessage = async (event, publish) => {
          if (event.channel !== channel || delayed.released) return publish();
          if (!delayed.publish) {
            delayed.publish = publish;
            return;
          }
          await publish();
          delayed.released =
            release === 'right after n+1'
              ? delayed.publish()
              : socket.waitFor((frame) => frame.seq === event.seq, 10_000, from).then(delayed.publish);
        };

        const n = await chat.sendMessage(bob, channel, { conteudo: 'n' });
        const next = await chat.sendMessage(bob, channel, { conteudo: 'n+1' });
        expect(delayed.released, release).toBeDefined();
        await delayed.released;
        tap.interceptMessage = undefined;
        // Published after the late copy of n, so delivered after it too: once this one is here,
        // a duplicate of n would be as well.
        const after = await chat.sendMessage(bob, channel, { conteudo: 'after' });
        await socket.waitFor((frame) => frame.seq === after.seq, 10_000, from);

        expect(socket.frames.slice(from).map(messageOf), release).toEqual([
          { type: 'chat.message', seq: n.seq, conteudo: 'n' },
          { type: 'chat.message', seq: next.seq, conteudo: 'n+1' },
          { type: 'chat.message', seq: after.seq, conteudo: 'after' },
        ]);
      }
      socket.close();
    },
  );
});
