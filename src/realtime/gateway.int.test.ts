import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp, type TestUser } from '../../test/support/app.js';
import { chatClient } from '../../test/support/chat.js';
import { skipDatabaseTests } from '../../test/support/database.js';
import {
  connect,
  listen,
  type WsClient,
  skipRedisTests,
  TEST_REDIS_URL,
  uniqueRedisPrefix,
  upgradeStatus,
} from '../../test/support/ws.js';

// The same behaviour on the in-process bus and on Redis pub/sub.
const buses = [
  { name: 'in-process bus', env: {} as Record<string, string>, skip: false },
  {
    name: 'Redis bus',
    env: { REDIS_URL: TEST_REDIS_URL, REDIS_PREFIX: uniqueRedisPrefix() },
    skip: skipRedisTests,
  },
];

describe.skipIf(skipDatabaseTests).each(buses)('gateway basics ($name)', ({ env, skip }) => {
  let t: TestApp;
  let base: string;
  let alice: TestUser;
  let bob: TestUser;
  let channelId: string;

  beforeAll(async () => {
    if (skip) return;
    // Room for the many sockets of one user that the large-channel test opens.
    t = await createTestApp({ ...env, WS_MAX_CONNECTIONS_PER_USER: '40' });
    base = await listen(t);
    alice = await t.createUser();
    bob = await t.createUser();
    channelId = (await chatClient(t).createChannel(alice, { participantes: [bob.id] })).id;
  });
  afterAll(async () => t?.close());

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
});
