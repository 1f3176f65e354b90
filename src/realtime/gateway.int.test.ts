import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp, type TestUser } from '../../test/support/app.js';
import { chatClient } from '../../test/support/chat.js';
import { skipDatabaseTests } from '../../test/support/database.js';
import {
  connect,
  listen,
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
    t = await createTestApp(env);
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

  it.skipIf(skip)('refuses anonymous and outsider upgrades', async () => {
    const carol = await t.createUser();
    expect(await upgradeStatus(`${base}/ws/chat/${channelId}/`)).toBe(401);
    expect(await upgradeStatus(`${base}/ws/chat/${channelId}/?token=${carol.token}`)).toBe(404);
  });
});
