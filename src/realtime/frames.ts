import { Ajv } from 'ajv';
import { Type, type Static } from 'typebox';
import { containsUnstorableText } from '../shared/text.js';

// Inbound frames: a discriminated union on `tipo`, validated before dispatch.
const Uuid = Type.String({ format: 'uuid' });
const ClientId = Type.Optional(Type.String({ minLength: 1, maxLength: 64 }));

const SendFrame = Type.Object(
  {
    tipo: Type.Union([
      Type.Literal('text'),
      Type.Literal('image'),
      Type.Literal('video'),
      Type.Literal('file'),
    ]),
    conteudo: Type.Optional(Type.String({ maxLength: 400_000 })),
    conteudo_cifrado: Type.Optional(Type.String({ minLength: 1, maxLength: 1_000_000 })),
    alg: Type.Optional(Type.String({ maxLength: 32 })),
    key_version: Type.Optional(Type.Integer({ minimum: 0, maximum: 2_147_483_647 })),
    attachment_id: Type.Optional(Uuid),
    reply_to: Type.Optional(Type.Union([Uuid, Type.Null()])),
    client_id: ClientId,
  },
  { additionalProperties: false },
);
const ReactionFrame = Type.Object(
  {
    tipo: Type.Literal('reaction'),
    mensagem_id: Uuid,
    emoji: Type.String({ maxLength: 64 }),
    client_id: ClientId,
  },
  { additionalProperties: false },
);
const PinFrame = Type.Object(
  { tipo: Type.Union([Type.Literal('pin'), Type.Literal('unpin')]), mensagem_id: Uuid, client_id: ClientId },
  { additionalProperties: false },
);
const TypingFrame = Type.Object(
  { tipo: Type.Union([Type.Literal('typing_start'), Type.Literal('typing_stop')]) },
  { additionalProperties: false },
);
const PingFrame = Type.Object(
  { tipo: Type.Literal('ping'), client_id: ClientId },
  { additionalProperties: false },
);

export type SendFrame = Static<typeof SendFrame>;
export type ReactionFrame = Static<typeof ReactionFrame>;
export type PinFrame = Static<typeof PinFrame>;
export type TypingFrame = Static<typeof TypingFrame>;
export type InboundFrame = SendFrame | ReactionFrame | PinFrame | TypingFrame | Static<typeof PingFrame>;

const SCHEMAS: Record<string, object> = {
  text: SendFrame,
  image: SendFrame,
  video: SendFrame,
  file: SendFrame,
  reaction: ReactionFrame,
  pin: PinFrame,
  unpin: PinFrame,
  typing_start: TypingFrame,
  typing_stop: TypingFrame,
  ping: PingFrame,
};

const ajv = new Ajv({ allErrors: false, strict: false, coerceTypes: false, removeAdditional: false });
ajv.addFormat('uuid', /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i);
const validators = Object.fromEntries(
  Object.entries(SCHEMAS).map(([tipo, schema]) => [tipo, ajv.compile(schema)]),
);

export type FrameError = { code: string; detail: string; client_id?: string };
export type ParseResult = { ok: true; frame: InboundFrame } | { ok: false; error: FrameError };

/** Parses and validates one text frame; never throws. */
export function parseInboundFrame(data: string): ParseResult {
  let value: unknown;
  try {
    value = JSON.parse(data);
  } catch {
    return { ok: false, error: { code: 'invalid_json', detail: 'The frame is not valid JSON.' } };
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return { ok: false, error: { code: 'invalid_frame', detail: 'A frame is a JSON object with a "tipo".' } };
  }
  const record = value as Record<string, unknown>;
  const clientId =
    typeof record.client_id === 'string' && record.client_id.length <= 64 ? record.client_id : undefined;
  const withClientId = (error: FrameError): ParseResult => ({
    ok: false,
    error: clientId ? { ...error, client_id: clientId } : error,
  });
  const tipo = record.tipo;
  if (typeof tipo !== 'string' || !Object.hasOwn(validators, tipo)) {
    return withClientId({
      code: 'unknown_tipo',
      detail: `Unknown tipo. Use one of: ${Object.keys(SCHEMAS).join(', ')}.`,
    });
  }
  if (containsUnstorableText(value)) {
    return withClientId({
      code: 'invalid_characters',
      detail: 'Text may not contain NUL characters or unpaired surrogates.',
    });
  }
  const validate = validators[tipo]!;
  if (!validate(value)) {
    const [error] = validate.errors ?? [];
    const where = error?.instancePath ? error.instancePath.slice(1) : 'frame';
    const detail =
      error?.keyword === 'additionalProperties'
        ? `Unknown field '${String(error.params.additionalProperty)}'.`
        : `${where} ${error?.message ?? 'is invalid'}`;
    return withClientId({ code: 'invalid_frame', detail });
  }
  return { ok: true, frame: value as InboundFrame };
}

/** What a frame handler knows: who sent it, on which channel's socket. */
export type FrameContext = {
  user: { id: string; username: string; isStaff: boolean; email: string };
  channelId: string;
};
/** Handlers the modules provide (they call the same services as REST); each returns the reply frame. */
export type FrameHandlers = {
  send(context: FrameContext, frame: SendFrame): Promise<object>;
  reaction(context: FrameContext, frame: ReactionFrame): Promise<object>;
  pin(context: FrameContext, frame: PinFrame): Promise<object>;
};
