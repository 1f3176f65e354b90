import { Ajv, type ValidateFunction } from 'ajv';
import { Type, type Static, type TSchema } from 'typebox';
import type { RawData } from 'ws';
import type { Logger } from '../platform/logger/logger.js';
import { createMemoryRateLimiter, type RateLimitRule } from '../platform/rate-limit/rate-limit.js';
import { isAppError } from '../shared/errors.js';
import { containsUnstorableText } from '../shared/text.js';
import type { Connection, SocketUser } from './connection.js';

/** The most inbound frames one socket may have waiting to be handled; more are refused. */
const MAX_QUEUED_FRAMES = 32;

/** One socket as a frame handler sees it: a stable identity and its end. */
export type SocketRef = { readonly connection: object; onClose(listener: () => void): void };

/** What a frame handler knows: who sent it, on which channel's socket. */
export type FrameContext = { user: SocketUser; channelId: string; socket: SocketRef };

/**
 * A module's frame types, registered as its routes are with Fastify: the `tipo`s it handles, the
 * schema every such frame must match (validated before the handler runs), and the handler, which
 * calls the same service as REST and returns the reply frame (an ack), if any.
 */
export type FrameRegistration<S extends TSchema = TSchema> = {
  tipos: readonly string[];
  schema: S;
  handle(context: FrameContext, frame: Static<S>): Promise<object | undefined>;
  /** Record the time from the frame's arrival to its reply (send → ack). */
  timed?: boolean;
};

export type FrameError = { code: string; detail: string; client_id?: string };
export type ParsedFrame = { tipo: string; client_id?: string; [field: string]: unknown };
export type ParseResult = { ok: true; frame: ParsedFrame } | { ok: false; error: FrameError };

type Route = { registration: FrameRegistration; validate: ValidateFunction };

const PingFrame = Type.Object(
  { tipo: Type.Literal('ping'), client_id: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })) },
  { additionalProperties: false },
);
/** The transport's own frame: answers `pong` (with the `client_id`, if any). */
export const pingFrames: FrameRegistration<typeof PingFrame> = {
  tipos: ['ping'],
  schema: PingFrame,
  handle: async (_context, frame) => ({
    type: 'pong',
    ...(frame.client_id ? { client_id: frame.client_id } : {}),
  }),
};

/**
 * Parses, validates and dispatches the inbound frames of channel sockets: in arrival order per
 * socket, at most MAX_QUEUED_FRAMES waiting, within WS_FRAME_RATE_LIMIT; every failure answers
 * with an error frame (echoing a usable `client_id`), never by closing the socket.
 */
export function createFrameRouter(deps: {
  logger: Pick<Logger, 'error'>;
  frameRateLimit: RateLimitRule | undefined;
  idOf: (connection: Connection) => number;
  onAckTime?: (seconds: number) => void;
}) {
  const ajv = new Ajv({ allErrors: false, strict: false, coerceTypes: false, removeAdditional: false });
  ajv.addFormat('uuid', /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i);
  const routes = new Map<string, Route>();
  const frameLimiter = createMemoryRateLimiter(deps.frameRateLimit);
  const inbound = new WeakMap<Connection, { chain: Promise<void>; queued: number }>();
  const closeListeners = new WeakMap<Connection, SocketRef>();

  function register<S extends TSchema>(registration: FrameRegistration<S>): void {
    const route: Route = {
      registration: registration as FrameRegistration,
      validate: ajv.compile(registration.schema),
    };
    for (const tipo of registration.tipos) {
      if (routes.has(tipo)) throw new Error(`frame tipo '${tipo}' is registered twice`);
      routes.set(tipo, route);
    }
  }

  /** Parses and validates one text frame; never throws. */
  function parse(data: string): ParseResult {
    let value: unknown;
    try {
      value = JSON.parse(data);
    } catch {
      return { ok: false, error: { code: 'invalid_json', detail: 'The frame is not valid JSON.' } };
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      return {
        ok: false,
        error: { code: 'invalid_frame', detail: 'A frame is a JSON object with a "tipo".' },
      };
    }
    const record = value as Record<string, unknown>;
    const clientId =
      typeof record.client_id === 'string' && record.client_id.length <= 64 ? record.client_id : undefined;
    const withClientId = (error: FrameError): ParseResult => ({
      ok: false,
      error: clientId ? { ...error, client_id: clientId } : error,
    });
    const tipo = record.tipo;
    const route = typeof tipo === 'string' ? routes.get(tipo) : undefined;
    if (!route) {
      return withClientId({
        code: 'unknown_tipo',
        detail: `Unknown tipo. Use one of: ${[...routes.keys()].join(', ')}.`,
      });
    }
    if (containsUnstorableText(value)) {
      return withClientId({
        code: 'invalid_characters',
        detail: 'Text may not contain NUL characters or unpaired surrogates.',
      });
    }
    if (!route.validate(value)) {
      const [error] = route.validate.errors ?? [];
      const where = error?.instancePath ? error.instancePath.slice(1) : 'frame';
      const detail =
        error?.keyword === 'additionalProperties'
          ? `Unknown field '${String(error.params.additionalProperty)}'.`
          : `${where} ${error?.message ?? 'is invalid'}`;
      return withClientId({ code: 'invalid_frame', detail });
    }
    return { ok: true, frame: value as ParsedFrame };
  }

  function socketRefOf(connection: Connection): SocketRef {
    let ref = closeListeners.get(connection);
    if (!ref) {
      ref = {
        connection,
        onClose: (listener) => connection.socket.once('close', listener),
      };
      closeListeners.set(connection, ref);
    }
    return ref;
  }

  async function handleFrame(connection: Connection, channelId: string, data: RawData, arrivedAt: number) {
    const text = Array.isArray(data)
      ? Buffer.concat(data).toString('utf8')
      : Buffer.from(data as ArrayBuffer).toString('utf8');
    const budget = await frameLimiter.consume(String(deps.idOf(connection)));
    if (!budget.allowed) {
      connection.sendFrame({ type: 'error', code: 'rate_limited', detail: 'Too many frames; slow down.' });
      return;
    }
    const parsed = parse(text);
    if (!parsed.ok) {
      connection.sendFrame({ type: 'error', ...parsed.error });
      return;
    }
    const { frame } = parsed;
    const { registration } = routes.get(frame.tipo)!;
    try {
      const context = { user: connection.user, channelId, socket: socketRefOf(connection) };
      const reply = await registration.handle(context, frame);
      if (!reply) return;
      connection.sendReply(reply);
      if (registration.timed) deps.onAckTime?.((performance.now() - arrivedAt) / 1000);
    } catch (error) {
      const base = isAppError(error)
        ? { code: error.code, detail: error.detail }
        : { code: 'server_error', detail: 'Internal server error.' };
      if (!isAppError(error)) deps.logger.error({ err: error }, 'frame handler failed');
      connection.sendFrame({
        type: 'error',
        ...base,
        ...(frame.client_id ? { client_id: frame.client_id } : {}),
      });
    }
  }

  return {
    register,
    parse,
    /** Takes one inbound WebSocket message of a channel socket. */
    onMessage(connection: Connection, channelId: string, data: RawData, isBinary: boolean) {
      if (isBinary) {
        connection.sendFrame({
          type: 'error',
          code: 'binary_not_supported',
          detail: 'Send JSON text frames.',
        });
        return;
      }
      const arrivedAt = performance.now();
      const state = inbound.get(connection) ?? { chain: Promise.resolve(), queued: 0 };
      inbound.set(connection, state);
      if (state.queued >= MAX_QUEUED_FRAMES) {
        connection.sendFrame({ type: 'error', code: 'rate_limited', detail: 'Too many frames in flight.' });
        return;
      }
      state.queued += 1;
      // Frames of one socket are handled in the order they arrived.
      state.chain = state.chain
        .then(() => handleFrame(connection, channelId, data, arrivedAt))
        .catch((error: unknown) => deps.logger.error({ err: error }, 'frame handling failed'))
        .finally(() => {
          state.queued -= 1;
        });
    },
  };
}
export type FrameRouter = ReturnType<typeof createFrameRouter>;
