import { randomBytes } from 'node:crypto';
import { asc, eq } from 'drizzle-orm';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp, type TestUser } from '../../test/support/app.js';
import { chatClient } from '../../test/support/chat.js';
import { skipDatabaseTests } from '../../test/support/database.js';
import { buses, busEnv, connect, listen, type Frame, type WsClient } from '../../test/support/ws.js';
import { chatChannels } from '../modules/channels/channels.table.js';
import { chatEvents } from '../modules/events/events.table.js';
import { chatMessages } from '../modules/messages/messages.table.js';

// Random and malformed frames thrown at a real socket. Whatever arrives, the server answers each
// frame exactly once (valid typing frames excepted: they have no reply), never with an internal
// error, keeps the socket open, and leaves the channel's event log and messages consistent. On the
// in-process bus and on Redis pub/sub, from the owner's socket and from a plain member's, whose
// pin and unpin frames must be refused (`channels.not_admin`).

const TIPOS = [
  'text',
  'image',
  'video',
  'file',
  'reaction',
  'pin',
  'unpin',
  'typing_start',
  'typing_stop',
  'ping',
] as const;
const FIELD_NAMES = [
  'conteudo',
  'conteudo_cifrado',
  'alg',
  'key_version',
  'attachment_id',
  'reply_to',
  'client_id',
  'mensagem_id',
  'emoji',
  'channel',
  'channel_id',
  'seq',
  'since',
  'type',
  '__proto__',
  'constructor',
];
const REPLY_TYPES = new Set(['error', 'ack', 'pong']);
const MAX_PAYLOAD = 65_536;
const RUNS = 100;

type Sent = { kind: 'text'; text: string } | { kind: 'binary'; bytes: Uint8Array };

/** What the server must answer to a text frame: nothing for a valid typing frame, else one reply. */
function expectedReplies(text: string): number {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return 1;
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return 1;
  const keys = Object.keys(value);
  const tipo = (value as Record<string, unknown>).tipo;
  return keys.length === 1 && (tipo === 'typing_start' || tipo === 'typing_stop') ? 0 : 1;
}

function usableClientId(text: string): string | undefined {
  try {
    const value = JSON.parse(text) as unknown;
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
    const clientId = (value as Record<string, unknown>).client_id;
    return typeof clientId === 'string' && clientId.length >= 1 && clientId.length <= 64
      ? clientId
      : undefined;
  } catch {
    return undefined;
  }
}

/** Who throws the frames: the owner may pin; a plain member may post and react, but not pin. */
const senders = [
  { role: 'owner', canPin: true },
  { role: 'plain member', canPin: false },
];

describe.skipIf(skipDatabaseTests).each(buses)('random and malformed frames ($name)', ({ redis, skip }) => {
  let t: TestApp;
  let base: string;
  let chat: ReturnType<typeof chatClient>;
  let owner: TestUser;
  let member: TestUser;
  let siblingChannelId: string;
  let foreignChannelId: string;
  let foreignMessageIds: string[];
  /** Channels fuzzed by an earlier sender: they must stay as that sender left them. */
  const fuzzedChannelIds: string[] = [];

  async function countRows(ids: string[]) {
    let messages = 0;
    let events = 0;
    for (const id of ids) {
      messages += (await t.deps.database.db.select().from(chatMessages).where(eq(chatMessages.channelId, id)))
        .length;
      events += (await t.deps.database.db.select().from(chatEvents).where(eq(chatEvents.channelId, id)))
        .length;
    }
    return { messages, events };
  }

  beforeAll(async () => {
    if (skip) return;
    t = await createTestApp({
      ...busEnv(redis),
      WS_FRAME_RATE_LIMIT: '0',
      WS_MAX_PAYLOAD_BYTES: String(MAX_PAYLOAD),
    });
    base = await listen(t);
    chat = chatClient(t);
    owner = await t.createUser();
    member = await t.createUser();
    const stranger = await t.createUser();
    // The member belongs to the sibling channel too: a frame on one socket must not reach it anyway.
    siblingChannelId = (await chat.createChannel(owner, { participantes: [member.id] })).id;
    foreignChannelId = (await chat.createChannel(stranger)).id;
    foreignMessageIds = [
      (await chat.sendMessage(member, siblingChannelId, { conteudo: 'outro canal' })).id,
      (await chat.sendMessage(stranger, foreignChannelId, { conteudo: 'canal alheio' })).id,
    ];
  });
  afterAll(async () => t?.close());

  describe.each(senders)('frames sent by the $role', ({ role, canPin }) => {
    let sender: TestUser;
    let channelId: string;
    let ownMessageIds: string[];
    let otherChannelIds: string[];
    let startSeq: number;
    let socket: WsClient;
    let from = 0;
    let probes = 0;
    const probePrefix = `probe-${randomBytes(6).toString('hex')}-`;
    const ackedMessageIds = new Set<string>();
    /** Messages named by reaction and pin acks: each must be a message of this channel. */
    const ackedTargetIds = new Set<string>();
    /** Whether each message is pinned, as the seeding and then the pin acks left it. */
    const pinnedByMessage = new Map<string, boolean>();
    /** Pin acks that changed a message's state: each logs one chat.pin event, the others none. */
    let pinChanges = 0;
    /** Reaction acks: each one added or removed a reaction and logged one chat.reaction event. */
    let reactionAcks = 0;
    /** Frames answered with `server_error`: bad input is the client's fault, never an internal error. */
    const internalErrors: string[] = [];
    let otherChannelsBefore: { messages: number; events: number };

    beforeAll(async () => {
      if (skip) return;
      sender = role === 'owner' ? owner : member;
      channelId = (await chat.createChannel(owner, { participantes: [member.id] })).id;
      ownMessageIds = [
        (await chat.sendMessage(member, channelId, { conteudo: 'semente 1' })).id,
        (await chat.sendMessage(owner, channelId, { conteudo: 'semente 2' })).id,
      ];
      // One seed starts pinned, so that a refused unpin has something it could have undone.
      const pinned = await t.inject({
        method: 'POST',
        url: `/api/chat/channels/${channelId}/messages/${ownMessageIds[0]}/pin/`,
        headers: owner.auth,
      });
      expect(pinned.statusCode, pinned.body).toBe(200);
      pinnedByMessage.set(ownMessageIds[0]!, true).set(ownMessageIds[1]!, false);
      otherChannelIds = [siblingChannelId, foreignChannelId, ...fuzzedChannelIds];
      fuzzedChannelIds.push(channelId);
      otherChannelsBefore = await countRows(otherChannelIds);
      const [channel] = await t.deps.database.db
        .select({ lastSeq: chatChannels.lastSeq })
        .from(chatChannels)
        .where(eq(chatChannels.id, channelId));
      startSeq = channel!.lastSeq;
      socket = await connect(`${base}/ws/chat/${channelId}/?token=${sender.token}&since=${startSeq}`);
    });
    afterAll(async () => {
      socket?.close();
      await socket?.waitForClose(2_000);
    });

    /** Sends one frame, then a ping probe; returns the replies that came before the probe's pong. */
    async function exchange(sent: Sent): Promise<Frame[]> {
      if (sent.kind === 'text') socket.socket.send(sent.text);
      else socket.socket.send(sent.bytes, { binary: true });
      probes += 1;
      const probeId = `${probePrefix}${probes}`;
      socket.send({ tipo: 'ping', client_id: probeId });
      const pong = await socket.waitFor(
        (frame) => frame.type === 'pong' && frame.client_id === probeId,
        10_000,
        from,
      );
      const pongIndex = socket.frames.indexOf(pong);
      const replies = socket.frames.slice(from, pongIndex).filter((frame) => REPLY_TYPES.has(frame.type));
      from = pongIndex + 1;
      return replies;
    }

    /** The properties every answer must have, whatever was sent; returns the reply, if any. */
    async function checkedReply(text: string): Promise<Frame | undefined> {
      expect(Buffer.byteLength(text)).toBeLessThanOrEqual(MAX_PAYLOAD);
      const replies = await exchange({ kind: 'text', text });
      const context = `frame ${JSON.stringify(text.slice(0, 300))} got ${JSON.stringify(replies).slice(0, 600)}`;
      expect(replies.length, context).toBe(expectedReplies(text));
      const [reply] = replies;
      if (!reply) return undefined;
      if (reply.type === 'error') {
        expect(reply, context).toMatchObject({ code: expect.any(String), detail: expect.any(String) });
        // Checked in a test of its own, so one such frame does not stop the other properties.
        if (reply.code === 'server_error') internalErrors.push(text);
        // Both senders read and post in this channel; only the owner may pin.
        const misplacedRefusals = ['channels.not_found', 'channels.not_member'];
        if (canPin) misplacedRefusals.push('channels.not_admin');
        expect(misplacedRefusals, context).not.toContain(reply.code);
      }
      const clientId = usableClientId(text);
      if (clientId !== undefined) expect(reply.client_id, context).toBe(clientId);
      if (reply.type === 'ack' && typeof reply.id === 'string' && typeof reply.seq === 'number') {
        ackedMessageIds.add(reply.id);
      }
      if (reply.type === 'ack' && typeof reply.mensagem_id === 'string')
        ackedTargetIds.add(reply.mensagem_id);
      if (reply.type === 'ack' && reply.tipo === 'reaction') reactionAcks += 1;
      const isPinAck = reply.type === 'ack' && (reply.tipo === 'pin' || reply.tipo === 'unpin');
      if (!canPin) expect(isPinAck, `a member's pin was acked: ${context}`).toBe(false);
      if (isPinAck) {
        const id = String(reply.mensagem_id);
        const isPinned = reply.pinned_at !== null;
        if ((pinnedByMessage.get(id) ?? false) !== isPinned) pinChanges += 1;
        pinnedByMessage.set(id, isPinned);
      }
      expect(socket.closeCode, context).toBeUndefined();
      return reply;
    }

    async function checkText(text: string) {
      await checkedReply(text);
    }

    // ---- arbitraries -------------------------------------------------------------------------------
    const anyString = fc.oneof(
      fc.string({ maxLength: 200 }),
      fc.string({ unit: 'binary', maxLength: 200 }),
      fc.string({ unit: 'grapheme', maxLength: 100 }),
    );
    const ids = () =>
      fc.oneof(
        fc.constantFrom(
          ...ownMessageIds,
          ...foreignMessageIds,
          channelId,
          siblingChannelId,
          foreignChannelId,
        ),
        fc.uuid(),
        fc.constantFrom(
          ownMessageIds[0]!.toUpperCase(),
          `urn:uuid:${ownMessageIds[0]}`,
          ` ${ownMessageIds[0]}`,
        ),
      );
    /** Ids a well-formed frame may name: this channel's messages, other channels' and unknown ones. */
    const wellFormedIds = () =>
      fc.oneof(
        { arbitrary: fc.constantFrom(...ownMessageIds), weight: 2 },
        fc.constantFrom(...foreignMessageIds, channelId, foreignChannelId),
        fc.uuid(),
      );
    const anyValue = () =>
      fc.oneof(
        fc.jsonValue({ maxDepth: 2 }),
        anyString,
        ids(),
        fc.integer(),
        fc.double(),
        fc.constantFrom(null, true, false, '', 0, -1, 2 ** 53, [], {}),
      );
    const clientIds = fc.oneof(
      fc.string({ minLength: 1, maxLength: 64 }),
      fc.constantFrom('', 'dup-1', 'dup-2', 'x'.repeat(64), 'x'.repeat(65)),
      fc.string({ minLength: 65, maxLength: 90 }),
    );
    const contents = fc.oneof(
      fc.string({ maxLength: 300 }),
      fc.string({ unit: 'binary', maxLength: 300 }),
      fc.string({ unit: 'grapheme', maxLength: 200 }),
      fc.constantFrom(
        '',
        '   ',
        '\n\t',
        'olá',
        'a\u0000b',
        '\u0000',
        '\ud800',
        'x\udfff',
        'x'.repeat(4000),
        'x'.repeat(4001),
      ),
    );
    const emojis = fc.oneof(
      fc.constantFrom(
        'like',
        'love',
        'fire',
        'LIKE',
        '👍',
        '👍🏽',
        '👨‍👩‍👧',
        '🇧🇷',
        '👍👍',
        'a',
        '',
        '\u0000',
        'x'.repeat(65),
      ),
      fc.string({ unit: 'grapheme', maxLength: 4 }),
    );
    const optional = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined, freq: 2 });
    const withoutUndefined = (record: Record<string, unknown>) =>
      Object.fromEntries(Object.entries(record).filter(([, value]) => value !== undefined));

    /** Frames shaped like the real ones, with values that are sometimes valid and often not. */
    const nearlyValidFrames = () =>
      fc
        .oneof(
          fc.record(
            {
              tipo: fc.constant('text'),
              conteudo: contents,
              client_id: optional(clientIds),
              reply_to: optional(fc.oneof(ids(), fc.constant(null))),
            },
            { requiredKeys: ['tipo', 'conteudo'] },
          ),
          fc.record({
            tipo: fc.constantFrom('text', 'image', 'video', 'file'),
            conteudo: optional(contents),
            attachment_id: optional(ids()),
            conteudo_cifrado: optional(anyString),
            alg: optional(fc.constantFrom('AES-GCM', 'none')),
            key_version: optional(fc.integer({ min: -2, max: 3 })),
            client_id: optional(clientIds),
          }),
          fc.record(
            {
              tipo: fc.constant('reaction'),
              mensagem_id: ids(),
              emoji: emojis,
              client_id: optional(clientIds),
            },
            { requiredKeys: ['tipo', 'mensagem_id', 'emoji'] },
          ),
          fc.record({
            tipo: fc.constantFrom('pin', 'unpin'),
            mensagem_id: optional(ids()),
            client_id: optional(clientIds),
          }),
          fc.record({
            tipo: fc.constantFrom('typing_start', 'typing_stop', 'ping'),
            client_id: optional(clientIds),
          }),
          fc.constantFrom('typing_start', 'typing_stop').map((tipo) => ({ tipo })),
        )
        .map((record) => JSON.stringify(withoutUndefined(record)));

    /** Objects with a valid tipo (or a near miss) and random fields of random types. */
    const randomFieldFrames = () =>
      fc
        .tuple(
          fc.oneof(
            fc.constantFrom(...TIPOS),
            fc.constantFrom('TEXT', 'message', 'constructor', '__proto__', 'toString', ''),
            fc.jsonValue({ maxDepth: 1 }),
          ),
          fc.dictionary(fc.oneof(fc.constantFrom(...FIELD_NAMES), fc.string({ maxLength: 10 })), anyValue(), {
            maxKeys: 5,
          }),
        )
        .map(([tipo, fields]) => JSON.stringify({ ...fields, tipo }));

    /** Large frames that still fit in maxPayload. */
    const hugeFrames = fc
      .tuple(
        fc.integer({ min: 20_000, max: MAX_PAYLOAD - 200 }),
        fc.constantFrom('x', 'é', '😀', ' ', '"', '\\', '['),
        fc.constantFrom('content', 'field', 'raw', 'client_id', 'nested'),
      )
      .map(([size, unit, where]) => {
        const unitBytes = Buffer.byteLength(JSON.stringify(unit)) - 2;
        const filler = unit.repeat(Math.floor(size / Math.max(unitBytes, 1)));
        switch (where) {
          case 'content':
            return JSON.stringify({ tipo: 'text', conteudo: filler, client_id: 'huge' });
          case 'field':
            return JSON.stringify({ tipo: 'ping', [filler.slice(0, 5000)]: filler.slice(0, size / 3) });
          case 'client_id':
            return JSON.stringify({ tipo: 'text', conteudo: 'x', client_id: filler });
          case 'nested': {
            const depth = Math.floor(size / 4);
            return `{"tipo":"text","conteudo":${'['.repeat(depth)}${']'.repeat(depth)}}`;
          }
          default:
            return filler.slice(0, size);
        }
      })
      .filter((text) => Buffer.byteLength(text) <= MAX_PAYLOAD);

    /** Deeply nested JSON (and its unterminated form), as deep as maxPayload allows. */
    const deepNesting = fc
      .tuple(
        fc.double({ min: 0.05, max: 1, noNaN: true }),
        fc.constantFrom('array', 'object', 'open', 'in-frame'),
      )
      .map(([fraction, shape]) => {
        const room = MAX_PAYLOAD - 100;
        switch (shape) {
          case 'array': {
            const depth = Math.floor((room / 2) * fraction);
            return '['.repeat(depth) + ']'.repeat(depth);
          }
          case 'object': {
            const depth = Math.floor((room / 6) * fraction);
            return '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
          }
          case 'open':
            return '['.repeat(Math.floor(room * fraction));
          default: {
            const depth = Math.floor((room / 2) * fraction);
            return `{"tipo":"reaction","mensagem_id":"${ownMessageIds[0]}","emoji":${'['.repeat(depth)}${']'.repeat(depth)}}`;
          }
        }
      });

    // ---- properties -----------------------------------------------------------------------------------
    it.skipIf(skip)('arbitrary strings get exactly one error each', async () => {
      await fc.assert(fc.asyncProperty(anyString, checkText), { numRuns: RUNS });
    });

    it.skipIf(skip)('random JSON values get one reply each', async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.oneof(
            fc.json({ maxDepth: 3 }),
            fc.jsonValue().map((v) => JSON.stringify(v)),
          ),
          checkText,
        ),
        { numRuns: RUNS },
      );
    });

    it.skipIf(skip)('objects with a valid tipo and random fields or types get one reply each', async () => {
      await fc.assert(fc.asyncProperty(randomFieldFrames(), checkText), { numRuns: RUNS * 2 });
    });

    it.skipIf(skip)(
      'frames shaped like real ones (ids of other channels, bad emoji, NUL, lone surrogates, …) are answered once',
      async () => {
        await fc.assert(fc.asyncProperty(nearlyValidFrames(), checkText), { numRuns: RUNS * 3 });
      },
    );

    it.skipIf(skip)(
      canPin
        ? 'well-formed pin and unpin frames are acked for this channel’s messages, not found for others'
        : 'well-formed pin and unpin frames are refused with channels.not_admin for this channel’s messages, not found for others',
      async () => {
        const pinFrames = fc.record({
          tipo: fc.constantFrom('pin', 'unpin'),
          mensagem_id: wellFormedIds(),
          client_id: fc.string({ minLength: 1, maxLength: 64 }),
        });
        await fc.assert(
          fc.asyncProperty(pinFrames, async (frame) => {
            const reply = await checkedReply(JSON.stringify(frame));
            const { tipo, mensagem_id, client_id } = frame;
            // docs/permissions.md's order: the message in this channel (404) before the role (403).
            const expected = !ownMessageIds.includes(mensagem_id)
              ? { type: 'error', code: 'messages.not_found', client_id }
              : !canPin
                ? { type: 'error', code: 'channels.not_admin', client_id }
                : {
                    type: 'ack',
                    tipo,
                    client_id,
                    mensagem_id,
                    pinned_at: tipo === 'pin' ? expect.any(String) : null,
                  };
            expect(reply, JSON.stringify(frame)).toMatchObject(expected);
          }),
          { numRuns: RUNS / 2 },
        );
      },
    );

    it.skipIf(skip)(
      'well-formed reactions are acked for this channel’s messages (members may react), not found for others',
      async () => {
        const reactionFrames = fc.record({
          tipo: fc.constant('reaction'),
          mensagem_id: wellFormedIds(),
          emoji: fc.constantFrom('👍', '👍🏽', '👨‍👩‍👧', '🇧🇷'),
          client_id: fc.string({ minLength: 1, maxLength: 64 }),
        });
        await fc.assert(
          fc.asyncProperty(reactionFrames, async (frame) => {
            const reply = await checkedReply(JSON.stringify(frame));
            const { mensagem_id, client_id } = frame;
            const expected = ownMessageIds.includes(mensagem_id)
              ? { type: 'ack', tipo: 'reaction', client_id, mensagem_id, reactions: expect.any(Object) }
              : { type: 'error', code: 'messages.not_found', client_id };
            expect(reply, JSON.stringify(frame)).toMatchObject(expected);
          }),
          { numRuns: RUNS / 2 },
        );
      },
    );

    it.skipIf(skip)('huge strings within maxPayload and deep nesting get one error each', async () => {
      await fc.assert(fc.asyncProperty(fc.oneof(hugeFrames, deepNesting), checkText), {
        numRuns: 40,
      });
    });

    it.skipIf(skip)('binary frames get exactly one binary_not_supported error each', async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.oneof(
            fc.uint8Array({ maxLength: 2_000 }),
            fc.constant(new Uint8Array(Buffer.from(JSON.stringify({ tipo: 'ping', client_id: 'bin' })))),
          ),
          async (bytes) => {
            const replies = await exchange({ kind: 'binary', bytes });
            expect(replies).toEqual([
              { type: 'error', code: 'binary_not_supported', detail: expect.any(String) },
            ]);
          },
        ),
        { numRuns: 40 },
      );
    });

    it.skipIf(skip)('no frame was answered with an internal error', () => {
      expect(internalErrors.map((text) => text.slice(0, 200))).toEqual([]);
    });

    it.skipIf(skip)('after all that, the socket is open and answers a ping', async () => {
      socket.send({ tipo: 'ping', client_id: 'final' });
      await socket.waitFor((frame) => frame.type === 'pong' && frame.client_id === 'final');
      expect(socket.closeCode).toBeUndefined();
      // The fuzzing did store something, or the consistency checks below would prove little.
      expect(ackedMessageIds.size).toBeGreaterThan(0);
      expect(ackedTargetIds.size).toBeGreaterThan(0);
    });

    it.skipIf(skip)('the stored data stayed consistent', async () => {
      const { db } = t.deps.database;
      const [channel] = await db.select().from(chatChannels).where(eq(chatChannels.id, channelId));
      const events = await db
        .select()
        .from(chatEvents)
        .where(eq(chatEvents.channelId, channelId))
        .orderBy(asc(chatEvents.seq));
      const messages = await db.select().from(chatMessages).where(eq(chatMessages.channelId, channelId));

      // The log holds 1..last_seq with no gap and no duplicate.
      expect(events.map((e) => e.seq)).toEqual(Array.from({ length: channel!.lastSeq }, (_, i) => i + 1));
      // Every message has its chat.message event, with the same seq and id.
      const messageEvents = new Map(
        events.filter((e) => e.type === 'chat.message').map((e) => [e.seq, e.payload as { id?: string }]),
      );
      for (const message of messages) expect(messageEvents.get(message.seq)?.id, message.id).toBe(message.id);
      expect(messageEvents.size).toBe(messages.length);
      // Every acked send is a stored message (a repeated client_id acks the same id), and nothing else was stored.
      const newIds = new Set(messages.map((m) => m.id).filter((id) => !ownMessageIds.includes(id)));
      expect(newIds).toEqual(ackedMessageIds);
      // Every reaction or pin ack named a message of this channel.
      const storedIds = new Set(messages.map((m) => m.id));
      expect([...ackedTargetIds].filter((id) => !storedIds.has(id))).toEqual([]);
      // Pins are as the acks left them (for a member: as seeded), and only real changes were logged.
      const pinned = new Map(messages.map((m) => [m.id, m.pinnedAt !== null]));
      for (const [id, isPinned] of pinnedByMessage) expect(pinned.get(id), id).toBe(isPinned);
      expect(events.filter((e) => e.type === 'chat.pin' && e.seq > startSeq)).toHaveLength(pinChanges);
      expect(events.filter((e) => e.type === 'chat.reaction' && e.seq > startSeq)).toHaveLength(reactionAcks);
      // Nothing sent on this socket landed in another channel.
      expect(await countRows(otherChannelIds)).toEqual(otherChannelsBefore);

      // The socket saw every event after the point it connected from, once each and in order.
      const lastSeq = channel!.lastSeq;
      const deadline = Date.now() + 10_000;
      const seenSeqs = () =>
        socket.frames.filter((f) => typeof f.seq === 'number' && f.type.startsWith('chat.'));
      while (seenSeqs().at(-1)?.seq !== lastSeq && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 20));
      expect(seenSeqs().map((f) => f.seq)).toEqual(
        Array.from({ length: lastSeq - startSeq }, (_, i) => startSeq + i + 1),
      );
      const deliveredMessageIds = seenSeqs()
        .filter((f) => f.type === 'chat.message')
        .map((f) => (f.payload as { id: string }).id);
      expect(new Set(deliveredMessageIds)).toEqual(ackedMessageIds);
    });

    it.skipIf(skip)(
      'frames over maxPayload or with invalid UTF-8 close only their own socket (1009, 1007)',
      async () => {
        const oversize = await connect(`${base}/ws/chat/${channelId}/?token=${sender.token}`);
        oversize.socket.send('x'.repeat(MAX_PAYLOAD + 1));
        expect(await oversize.waitForClose()).toBe(1009);

        const badUtf8 = await connect(`${base}/ws/chat/${channelId}/?token=${sender.token}`);
        badUtf8.socket.send(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), { binary: false });
        expect(await badUtf8.waitForClose()).toBe(1007);

        // The same user's fuzzed socket is still there.
        socket.send({ tipo: 'ping', client_id: 'still-here' });
        await socket.waitFor((frame) => frame.type === 'pong' && frame.client_id === 'still-here');
        expect(socket.closeCode).toBeUndefined();
      },
    );
  });
});
