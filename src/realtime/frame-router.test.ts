import fc from 'fast-check';
import { Type } from 'typebox';
import { describe, expect, it } from 'vitest';
import { AppError } from '../shared/errors.js';
import { messagePinFrames, messageSendFrames } from '../modules/messages/messages.ws.js';
import { flagFrames } from '../modules/moderation/moderation.ws.js';
import { reactionFrames } from '../modules/reactions/reactions.ws.js';
import { typingFrames } from '../modules/typing/typing.ws.js';
import { createFrameRouter, pingFrames, type ParseResult } from './frame-router.js';

/** The router as the app registers it (parsing never reaches the handlers' services). */
function createAppFrameRouter() {
  const unused = () => Promise.reject(new Error('not called by parse'));
  const router = createFrameRouter({
    logger: { error: () => undefined },
    frameRateLimit: undefined,
    idOf: () => 0,
  });
  router.register(messageSendFrames({ messagesService: { sendMessage: unused } }));
  router.register(reactionFrames({ reactionsService: { toggleReaction: unused } }));
  router.register(messagePinFrames({ messagesService: { setPinned: unused } }));
  router.register(typingFrames({ bus: { publish: unused }, canRead: unused }));
  router.register(flagFrames({ moderationService: { flagMessage: unused } }));
  router.register(pingFrames);
  return router;
}
const router = createAppFrameRouter();
const parseInboundFrame = (text: string) => router.parse(text);

const MESSAGE_ID = '0190f5b2-7c1a-7d3e-8a4b-1c2d3e4f5a6b';
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
  'flag',
  'ping',
];

const parse = (frame: unknown) =>
  parseInboundFrame(typeof frame === 'string' ? frame : JSON.stringify(frame));
const errorOf = (result: ParseResult) => {
  if (result.ok) throw new Error(`expected an error, got ${JSON.stringify(result.frame)}`);
  return result.error;
};

describe('parseInboundFrame', () => {
  describe('valid frames of every tipo', () => {
    const valid: Array<Record<string, unknown>> = [
      { tipo: 'text', conteudo: 'olá' },
      { tipo: 'text', conteudo: 'olá', client_id: 'c-1', reply_to: null },
      { tipo: 'text', conteudo: 'x', reply_to: MESSAGE_ID, client_id: 'x'.repeat(64) },
      { tipo: 'text', conteudo_cifrado: 'AAAA', alg: 'AES-GCM', key_version: 0 },
      { tipo: 'text', conteudo_cifrado: 'AAAA', alg: 'AES-GCM', key_version: 2_147_483_647 },
      { tipo: 'image', attachment_id: MESSAGE_ID },
      { tipo: 'video', attachment_id: MESSAGE_ID.toUpperCase() },
      { tipo: 'file', attachment_id: MESSAGE_ID, conteudo: '' },
      { tipo: 'reaction', mensagem_id: MESSAGE_ID, emoji: 'like' },
      { tipo: 'reaction', mensagem_id: MESSAGE_ID, emoji: '👍', client_id: 'r1' },
      { tipo: 'pin', mensagem_id: MESSAGE_ID },
      { tipo: 'unpin', mensagem_id: MESSAGE_ID, client_id: 'u' },
      { tipo: 'flag', mensagem_id: MESSAGE_ID, motivo: 'spam', client_id: 'f' },
      { tipo: 'typing_start' },
      { tipo: 'typing_stop' },
      { tipo: 'ping' },
      { tipo: 'ping', client_id: 'p-1' },
    ];
    it.each(valid)('accepts %j unchanged', (frame) => {
      const result = parse(frame);
      expect(result).toEqual({ ok: true, frame });
    });

    it('accepts surrounding whitespace and unicode content', () => {
      expect(parseInboundFrame('  \n{"tipo":"text","conteudo":"\\u00e9 \\ud83d\\ude00"}\t ')).toEqual({
        ok: true,
        frame: { tipo: 'text', conteudo: 'é 😀' },
      });
    });
  });

  describe('not JSON', () => {
    it.each([
      '',
      ' ',
      '{',
      '{"tipo":"ping"',
      "{'tipo':'ping'}",
      'undefined',
      'NaN',
      '{"tipo":"ping"}}',
      '\u0000',
    ])('%j is invalid_json', (text) => {
      expect(errorOf(parseInboundFrame(text))).toEqual({
        code: 'invalid_json',
        detail: 'The frame is not valid JSON.',
      });
    });
  });

  describe('JSON that is not an object', () => {
    it.each(['null', '1', '-0', '1e400', '"ping"', 'true', '[]', '[{"tipo":"ping"}]'])(
      '%s is invalid_frame',
      (text) => {
        const error = errorOf(parseInboundFrame(text));
        expect(error.code).toBe('invalid_frame');
        expect(error).not.toHaveProperty('client_id');
      },
    );
  });

  describe('unknown tipo', () => {
    it.each([
      {},
      { tipo: 'TEXT' },
      { tipo: 'message' },
      { tipo: '' },
      { tipo: 1 },
      { tipo: null },
      { tipo: ['text'] },
      { tipo: { text: true } },
      // Names every object inherits must not be mistaken for known frame types.
      { tipo: 'constructor' },
      { tipo: 'toString' },
      { tipo: 'hasOwnProperty' },
      { tipo: '__proto__' },
      { tipo: 'valueOf' },
    ])('%j is unknown_tipo listing the valid ones', (frame) => {
      const error = errorOf(parse(frame));
      expect(error.code).toBe('unknown_tipo');
      for (const tipo of TIPOS) expect(error.detail).toContain(tipo);
    });

    it('a JSON "__proto__" key does not smuggle a tipo in', () => {
      expect(errorOf(parseInboundFrame('{"__proto__":{"tipo":"ping"}}')).code).toBe('unknown_tipo');
    });
  });

  describe('invalid fields', () => {
    it.each([
      [{ tipo: 'text', conteudo: 5 }, 'conteudo'],
      [{ tipo: 'text', conteudo: null }, 'conteudo'],
      [{ tipo: 'text', conteudo: 'x'.repeat(400_001) }, 'conteudo'],
      [{ tipo: 'text', conteudo_cifrado: '' }, 'conteudo_cifrado'],
      [{ tipo: 'text', alg: 'x'.repeat(33) }, 'alg'],
      [{ tipo: 'text', key_version: -1 }, 'key_version'],
      [{ tipo: 'text', key_version: 1.5 }, 'key_version'],
      [{ tipo: 'text', key_version: 2_147_483_648 }, 'key_version'],
      // No coercion: a numeric string is not a number.
      [{ tipo: 'text', key_version: '1' }, 'key_version'],
      [{ tipo: 'text', reply_to: 'not-a-uuid' }, 'reply_to'],
      [{ tipo: 'text', reply_to: `urn:uuid:${MESSAGE_ID}` }, 'reply_to'],
      [{ tipo: 'image', attachment_id: 42 }, 'attachment_id'],
      [{ tipo: 'text', conteudo: 'x', client_id: '' }, 'client_id'],
      [{ tipo: 'text', conteudo: 'x', client_id: 7 }, 'client_id'],
      [{ tipo: 'reaction', mensagem_id: MESSAGE_ID }, 'frame'],
      [{ tipo: 'reaction', emoji: 'like' }, 'frame'],
      [{ tipo: 'reaction', mensagem_id: 'abc', emoji: 'like' }, 'mensagem_id'],
      [{ tipo: 'reaction', mensagem_id: MESSAGE_ID, emoji: 'x'.repeat(65) }, 'emoji'],
      [{ tipo: 'pin' }, 'frame'],
      [{ tipo: 'unpin', mensagem_id: null }, 'mensagem_id'],
      [{ tipo: 'ping', client_id: null }, 'client_id'],
    ])('%j is invalid_frame naming %s', (frame, where) => {
      const error = errorOf(parse(frame));
      expect(error.code).toBe('invalid_frame');
      expect(error.detail.startsWith(where)).toBe(true);
    });

    it.each([
      [{ tipo: 'text', conteudo: 'x', channel: MESSAGE_ID }, 'channel'],
      [{ tipo: 'typing_start', client_id: 'c' }, 'client_id'],
      [{ tipo: 'ping', extra: 1 }, 'extra'],
      [{ tipo: 'pin', mensagem_id: MESSAGE_ID, emoji: 'like' }, 'emoji'],
    ])('%j names the unknown field %s', (frame, field) => {
      expect(errorOf(parse(frame))).toMatchObject({
        code: 'invalid_frame',
        detail: `Unknown field '${field}'.`,
      });
    });

    it('refuses an own "__proto__" field on a frame', () => {
      const error = errorOf(parseInboundFrame('{"tipo":"ping","__proto__":{"x":1}}'));
      expect(error).toMatchObject({ code: 'invalid_frame', detail: "Unknown field '__proto__'." });
    });
  });

  describe('client_id on errors', () => {
    it('is echoed when it is a usable string, so the client can match the error to its frame', () => {
      expect(errorOf(parse({ tipo: 'nope', client_id: 'c-9' }))).toMatchObject({
        code: 'unknown_tipo',
        client_id: 'c-9',
      });
      expect(errorOf(parse({ tipo: 'text', conteudo: 1, client_id: 'c-10' }))).toMatchObject({
        code: 'invalid_frame',
        client_id: 'c-10',
      });
    });

    it.each([{ client_id: '' }, { client_id: 12 }, { client_id: 'x'.repeat(65) }, { client_id: ['a'] }])(
      'is not echoed when it is %j',
      (extra) => {
        const error = errorOf(parse({ tipo: 'text', conteudo: 1, ...extra }));
        expect(error.code).toBe('invalid_frame');
        expect(error).not.toHaveProperty('client_id');
      },
    );
  });

  describe('properties', () => {
    const isFrameError = (result: ParseResult) =>
      !result.ok &&
      // invalid_characters: the code REST uses for NUL, should frames get the same check.
      ['invalid_json', 'invalid_frame', 'unknown_tipo', 'invalid_characters'].includes(result.error.code) &&
      typeof result.error.detail === 'string' &&
      result.error.detail.length > 0;

    it('never throws on arbitrary text, and answers ok or a known error code', () => {
      fc.assert(
        fc.property(fc.string({ unit: 'binary', maxLength: 300 }), (text) => {
          const result = parseInboundFrame(text);
          expect(result.ok || isFrameError(result)).toBe(true);
        }),
        { numRuns: 500 },
      );
    });

    it('never throws on arbitrary JSON, and only valid tipos come back ok', () => {
      fc.assert(
        fc.property(fc.jsonValue(), (value) => {
          const result = parse(value);
          if (result.ok) expect(TIPOS).toContain(result.frame.tipo);
          else expect(isFrameError(result)).toBe(true);
        }),
        { numRuns: 500 },
      );
    });

    it('objects with a valid tipo and random extra fields are refused, echoing a usable client_id', () => {
      fc.assert(
        fc.property(
          fc.constantFrom(...TIPOS),
          fc.dictionary(
            fc.string({ minLength: 1, maxLength: 12 }).filter((key) => !['tipo', 'client_id'].includes(key)),
            fc.jsonValue({ maxDepth: 2 }),
            { minKeys: 1, maxKeys: 4 },
          ),
          fc.option(fc.string({ minLength: 1, maxLength: 64 }), { nil: undefined }),
          (tipo, fields, clientId) => {
            // Every field name the schemas know, with a value of the wrong type, or an unknown name.
            const frame = { ...fields, tipo, ...(clientId !== undefined ? { client_id: clientId } : {}) };
            const result = parse(frame);
            if (result.ok) {
              // Only possible when the random fields happen to be valid ones with valid values.
              expect(TIPOS).toContain(result.frame.tipo);
              return;
            }
            expect(result.error.code).toBe('invalid_frame');
            expect(result.error.client_id).toBe(clientId);
          },
        ),
        { numRuns: 500 },
      );
    });

    it('well-formed text frames are always accepted', () => {
      fc.assert(
        fc.property(
          fc.string({ maxLength: 2000 }),
          fc.option(fc.string({ minLength: 1, maxLength: 64 }), { nil: undefined }),
          fc.option(fc.oneof(fc.uuid(), fc.constant(null)), { nil: undefined }),
          (conteudo, clientId, replyTo) => {
            const frame: Record<string, unknown> = { tipo: 'text', conteudo };
            if (clientId !== undefined) frame.client_id = clientId;
            if (replyTo !== undefined) frame.reply_to = replyTo;
            expect(parse(frame)).toEqual({ ok: true, frame });
          },
        ),
        { numRuns: 300 },
      );
    });
  });
});

describe('a module registering a frame type', () => {
  /** Just enough of a Connection for the router: what it was sent. */
  function createFakeConnection() {
    const sent: Array<Record<string, unknown>> = [];
    const connection = {
      user: { id: 'u1', username: 'u1', email: 'u1@example.test', isStaff: false },
      socket: { once: () => undefined },
      sendFrame: (frame: Record<string, unknown>) => sent.push(frame),
      sendReply: (frame: Record<string, unknown>) => sent.push(frame),
    };
    return {
      connection: connection as unknown as Parameters<ReturnType<typeof createFrameRouter>['onMessage']>[0],
      sent,
    };
  }
  const settle = () => new Promise((resolve) => setTimeout(resolve, 10));

  it('gets its frames validated against its schema and dispatched to its handler, whose reply is sent', async () => {
    const router = createAppFrameRouter();
    const handled: Array<{ channelId: string; frame: unknown }> = [];
    router.register({
      tipos: ['wave'],
      schema: Type.Object(
        { tipo: Type.Literal('wave'), times: Type.Integer({ minimum: 1, maximum: 3 }) },
        { additionalProperties: false },
      ),
      async handle({ channelId }, frame) {
        handled.push({ channelId, frame });
        return { type: 'ack', tipo: 'wave', times: frame.times };
      },
    });
    expect(errorOf(router.parse('{"tipo":"nope"}')).detail).toContain('wave');
    const { connection, sent } = createFakeConnection();
    router.onMessage(connection, 'c1', Buffer.from('{"tipo":"wave","times":2}'), false);
    router.onMessage(connection, 'c1', Buffer.from('{"tipo":"wave","times":9}'), false);
    await settle();
    expect(handled).toEqual([{ channelId: 'c1', frame: { tipo: 'wave', times: 2 } }]);
    expect(sent).toEqual([
      { type: 'ack', tipo: 'wave', times: 2 },
      { type: 'error', code: 'invalid_frame', detail: 'times must be <= 3' },
    ]);
  });

  it('answers a handler error with an error frame carrying the client_id', async () => {
    const router = createAppFrameRouter();
    router.register({
      tipos: ['boom'],
      schema: Type.Object({ tipo: Type.Literal('boom'), client_id: Type.String() }),
      handle: () => Promise.reject(new AppError({ status: 409, code: 'boom.refused', detail: 'No.' })),
    });
    const { connection, sent } = createFakeConnection();
    router.onMessage(connection, 'c1', Buffer.from('{"tipo":"boom","client_id":"k"}'), false);
    await settle();
    expect(sent).toEqual([{ type: 'error', code: 'boom.refused', detail: 'No.', client_id: 'k' }]);
  });

  it('cannot take a tipo another module registered', () => {
    const router = createAppFrameRouter();
    expect(() => router.register({ ...pingFrames, tipos: ['text'] })).toThrow(/registered twice/);
  });
});
