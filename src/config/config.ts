import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Ajv } from 'ajv';
import { Type, type Static } from 'typebox';
import { parseRateLimitRule } from '../platform/rate-limit/rate-limit.js';

/** The largest MESSAGE_MAX_CHARS accepted; request schemas size their absolute caps from it. */
export const MESSAGE_MAX_CHARS_LIMIT = 100_000;

// Every environment variable the service reads is declared here, once. Nothing else reads process.env.
const Bool = (fallback: boolean) => Type.Boolean({ default: fallback });
const EnvSchema = Type.Object({
  NODE_ENV: Type.Union([Type.Literal('development'), Type.Literal('production'), Type.Literal('test')], {
    default: 'development',
  }),
  HOST: Type.String({ default: '127.0.0.1', minLength: 1 }),
  PORT: Type.Integer({ default: 8000, minimum: 0, maximum: 65535 }),
  LOG_LEVEL: Type.String({
    enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'],
    default: 'info',
  }),
  TRUST_PROXY: Bool(false),
  DATA_DIR: Type.String({ default: './data', minLength: 1 }),
  STORAGE_DRIVER: Type.Union([Type.Literal('disk'), Type.Literal('s3')], { default: 'disk' }),
  S3_BUCKET: Type.Optional(Type.String({ minLength: 3, maxLength: 63 })),
  S3_ENDPOINT: Type.Optional(Type.String({ pattern: '^https?://' })),
  S3_REGION: Type.String({ default: 'us-east-1', minLength: 1 }),
  // Unset: path style exactly when S3_ENDPOINT is set (what MinIO and most self-hosted servers need).
  S3_FORCE_PATH_STYLE: Type.Optional(Type.Boolean()),
  DATABASE_URL: Type.Optional(Type.String({ pattern: '^postgres(ql)?://' })),
  DATABASE_POOL_SIZE: Type.Integer({ default: 10, minimum: 2, maximum: 200 }),
  MIGRATE_ON_START: Bool(true),
  REDIS_URL: Type.Optional(Type.String({ pattern: '^rediss?://' })),
  REDIS_PREFIX: Type.String({ default: 'hubx:' }),
  JWT_SECRET: Type.Optional(Type.String({ minLength: 32 })),
  JWT_ISSUER: Type.String({ default: 'hubx-chat', minLength: 1 }),
  JWT_AUDIENCE: Type.String({ default: 'hubx-chat', minLength: 1 }),
  JWT_ACCESS_TTL_SECONDS: Type.Integer({ default: 300, minimum: 30, maximum: 86_400 }),
  JWT_REFRESH_TTL_SECONDS: Type.Integer({ default: 86_400, minimum: 60, maximum: 30 * 86_400 }),
  PLATFORM_JWT_ISSUER: Type.Optional(Type.String({ minLength: 1 })),
  PLATFORM_JWT_AUDIENCE: Type.Optional(Type.String({ minLength: 1 })),
  PLATFORM_JWT_SECRET: Type.Optional(Type.String({ minLength: 32 })),
  PLATFORM_JWKS_URL: Type.Optional(Type.String({ pattern: '^https?://' })),
  PLATFORM_JWT_ALGORITHMS: Type.String({ default: 'HS256,RS256,ES256' }),
  AUTH_ALLOW_REGISTRATION: Bool(true),
  PASSWORD_MIN_LENGTH: Type.Integer({ default: 8, minimum: 6, maximum: 128 }),
  SESSION_TTL_SECONDS: Type.Integer({ default: 14 * 86_400, minimum: 60 }),
  SESSION_COOKIE_NAME: Type.String({ default: 'hubx_session', pattern: '^[A-Za-z0-9_-]+$' }),
  SESSION_COOKIE_SECURE: Bool(false),
  ALLOWED_ORIGINS: Type.String({ default: '' }),
  MESSAGE_MAX_CHARS: Type.Integer({ default: 4000, minimum: 1, maximum: MESSAGE_MAX_CHARS_LIMIT }),
  CHAT_SEND_RATE_LIMIT: Type.String({ default: '5/5s', pattern: '^(0|\\d+/\\d+(\\.\\d+)?s)$' }),
  AUTH_RATE_LIMIT: Type.String({ default: '10/60s', pattern: '^(0|\\d+/\\d+(\\.\\d+)?s)$' }),
  CHAT_FLAG_RATE_LIMIT: Type.String({ default: '20/60s', pattern: '^(0|\\d+/\\d+(\\.\\d+)?s)$' }),
  // Attachments: the size limit is enforced while streaming; types are matched on the detected type.
  CHAT_UPLOAD_MAX_SIZE: Type.Integer({ default: 20_971_520, minimum: 1, maximum: 10_737_418_240 }),
  CHAT_ALLOWED_MIME_TYPES: Type.String({
    default: 'image/*,video/*,audio/*,application/pdf,text/plain',
    pattern: '^\\s*[a-z0-9.+-]+/(\\*|[a-z0-9.+-]+)\\s*(,\\s*[a-z0-9.+-]+/(\\*|[a-z0-9.+-]+)\\s*)*$',
  }),
  CHAT_UPLOAD_RATE_LIMIT: Type.String({ default: '20/60s', pattern: '^(0|\\d+/\\d+(\\.\\d+)?s)$' }),
  FLAG_HIDE_THRESHOLD: Type.Integer({ default: 3, minimum: 1, maximum: 1000 }),
  // Spam rules: 0 turns a rule off. Limits are "this many are fine, one more is spam".
  CHAT_SPAM_MESSAGES_PER_MINUTE: Type.Integer({ default: 20, minimum: 0, maximum: 1_000_000 }),
  CHAT_SPAM_REPEAT_LIMIT: Type.Integer({ default: 3, minimum: 0, maximum: 1_000_000 }),
  CHAT_SPAM_LINK_LIMIT: Type.Integer({ default: 3, minimum: 0, maximum: 1_000_000 }),
  CHAT_SPAM_DOMAINS: Type.String({ default: '' }),
  REACTION_NAMES: Type.String({
    default: 'like,love,haha,wow,sad,angry,thumbsup,thumbsdown,clap,fire,check',
  }),
  REACTION_MAX_DISTINCT: Type.Integer({ default: 20, minimum: 1, maximum: 200 }),
  EVENT_LOG_RETENTION: Type.String({ default: '7d', pattern: '^\\d+(s|m|h|d)$' }),
  EVENT_GAP_WAIT_MS: Type.Integer({ default: 100, minimum: 1, maximum: 10_000 }),
  WS_MAX_PAYLOAD_BYTES: Type.Integer({ default: 65_536, minimum: 1024, maximum: 16_777_216 }),
  WS_MAX_CONNECTIONS_PER_USER: Type.Integer({ default: 20, minimum: 1, maximum: 10_000 }),
  WS_HEARTBEAT_INTERVAL_MS: Type.Integer({ default: 30_000, minimum: 100 }),
  WS_MAX_BUFFERED_BYTES: Type.Integer({ default: 1_048_576, minimum: 1024 }),
  WS_FRAME_RATE_LIMIT: Type.String({ default: '60/10s', pattern: '^(0|\\d+/\\d+(\\.\\d+)?s)$' }),
  BODY_LIMIT_BYTES: Type.Integer({ default: 1_048_576, minimum: 1024 }),
  SHUTDOWN_TIMEOUT_MS: Type.Integer({ default: 10_000, minimum: 100 }),
  WORKER_CONCURRENCY: Type.Integer({ default: 4, minimum: 1, maximum: 100 }),
  WORKER_LOCK_DURATION_MS: Type.Integer({ default: 30_000, minimum: 500 }),
  WORKER_STALLED_INTERVAL_MS: Type.Integer({ default: 30_000, minimum: 200 }),
  // A bearer token as RFC 6750 spells it (what a scraper can send verbatim); unset: no /metrics.
  METRICS_TOKEN: Type.Optional(Type.String({ minLength: 16, pattern: '^[A-Za-z0-9._~+/-]+=*$' })),
  // clamd (INSTREAM): TCP with CLAMAV_HOST, or a Unix socket with CLAMAV_SOCKET; neither: no scanning.
  CLAMAV_HOST: Type.Optional(Type.String({ minLength: 1 })),
  CLAMAV_PORT: Type.Integer({ default: 3310, minimum: 1, maximum: 65535 }),
  CLAMAV_SOCKET: Type.Optional(Type.String({ minLength: 1 })),
  CLAMAV_REQUIRED: Bool(false),
  CLAMAV_TIMEOUT_MS: Type.Integer({ default: 30_000, minimum: 100, maximum: 600_000 }),
});
type Env = Static<typeof EnvSchema>;

/** Names of every variable the service reads (documented in .env.example and the README). */
export const CONFIG_VARIABLES = Object.keys(EnvSchema.properties);

export type Config = ReturnType<typeof buildConfig>;

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

const ajv = new Ajv({ coerceTypes: true, useDefaults: true, allErrors: true, strict: false });
const validateEnv = ajv.compile(EnvSchema);

function splitList(value: string): string[] {
  return value
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item.length > 0);
}

const DURATION_UNITS_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
function parseDuration(value: string): number {
  const unit = value.at(-1) as keyof typeof DURATION_UNITS_MS;
  return Number(value.slice(0, -1)) * DURATION_UNITS_MS[unit];
}

/** Where attachment bytes live; S3 credentials come from the AWS SDK's default chain, not from here. */
export type StorageConfig =
  | { driver: 'disk'; root: string }
  | { driver: 's3'; bucket: string; endpoint: string | undefined; region: string; forcePathStyle: boolean };

function storageConfig(env: Env): StorageConfig {
  if (env.STORAGE_DRIVER === 'disk') return { driver: 'disk', root: resolve(env.DATA_DIR, 'attachments') };
  return {
    driver: 's3',
    bucket: env.S3_BUCKET ?? '', // loadConfig refuses s3 without a bucket
    endpoint: env.S3_ENDPOINT,
    region: env.S3_REGION,
    forcePathStyle: env.S3_FORCE_PATH_STYLE ?? env.S3_ENDPOINT !== undefined,
  };
}

function buildConfig(env: Env, jwtSecret: string) {
  const origins = splitList(env.ALLOWED_ORIGINS);
  return {
    env: env.NODE_ENV,
    http: {
      host: env.HOST,
      port: env.PORT,
      trustProxy: env.TRUST_PROXY,
      bodyLimit: env.BODY_LIMIT_BYTES,
      allowedOrigins: origins,
    },
    log: { level: env.LOG_LEVEL },
    database: env.DATABASE_URL
      ? { kind: 'postgres' as const, url: env.DATABASE_URL, poolSize: env.DATABASE_POOL_SIZE }
      : { kind: 'pglite' as const, dataDir: resolve(env.DATA_DIR, 'pglite') },
    migrateOnStart: env.MIGRATE_ON_START,
    /** DATA_DIR, absolute: the embedded database, the secret and (disk driver) attachment bytes. */
    dataDir: resolve(env.DATA_DIR),
    storage: storageConfig(env),
    redis: env.REDIS_URL ? { url: env.REDIS_URL, prefix: env.REDIS_PREFIX } : undefined,
    auth: {
      jwtSecret,
      issuer: env.JWT_ISSUER,
      audience: env.JWT_AUDIENCE,
      accessTtlSeconds: env.JWT_ACCESS_TTL_SECONDS,
      refreshTtlSeconds: env.JWT_REFRESH_TTL_SECONDS,
      allowRegistration: env.AUTH_ALLOW_REGISTRATION,
      passwordMinLength: env.PASSWORD_MIN_LENGTH,
      attemptRateLimit: parseRateLimitRule(env.AUTH_RATE_LIMIT),
      session: {
        ttlSeconds: env.SESSION_TTL_SECONDS,
        cookieName: env.SESSION_COOKIE_NAME,
        secureCookie: env.SESSION_COOKIE_SECURE,
      },
      platform: env.PLATFORM_JWT_ISSUER
        ? {
            issuer: env.PLATFORM_JWT_ISSUER,
            audience: env.PLATFORM_JWT_AUDIENCE ?? env.JWT_AUDIENCE,
            secret: env.PLATFORM_JWT_SECRET,
            jwksUrl: env.PLATFORM_JWKS_URL,
            algorithms: splitList(env.PLATFORM_JWT_ALGORITHMS),
          }
        : undefined,
    },
    chat: {
      messageMaxChars: env.MESSAGE_MAX_CHARS,
      sendRateLimit: parseRateLimitRule(env.CHAT_SEND_RATE_LIMIT),
      flagRateLimit: parseRateLimitRule(env.CHAT_FLAG_RATE_LIMIT),
      flagHideThreshold: env.FLAG_HIDE_THRESHOLD,
      spam: {
        messagesPerMinute: env.CHAT_SPAM_MESSAGES_PER_MINUTE,
        repeatLimit: env.CHAT_SPAM_REPEAT_LIMIT,
        linkLimit: env.CHAT_SPAM_LINK_LIMIT,
        domains: splitList(env.CHAT_SPAM_DOMAINS).map((domain) =>
          domain.toLowerCase().replace(/^\.+|\.+$/g, ''),
        ),
      },
      reactionNames: new Set(splitList(env.REACTION_NAMES)),
      reactionMaxDistinct: env.REACTION_MAX_DISTINCT,
    },
    attachments: {
      maxSize: env.CHAT_UPLOAD_MAX_SIZE,
      allowedMimeTypes: splitList(env.CHAT_ALLOWED_MIME_TYPES.toLowerCase()),
      uploadRateLimit: parseRateLimitRule(env.CHAT_UPLOAD_RATE_LIMIT),
    },
    realtime: {
      eventLogRetentionMs: parseDuration(env.EVENT_LOG_RETENTION),
      gapWaitMs: env.EVENT_GAP_WAIT_MS,
      maxPayloadBytes: env.WS_MAX_PAYLOAD_BYTES,
      maxConnectionsPerUser: env.WS_MAX_CONNECTIONS_PER_USER,
      heartbeatIntervalMs: env.WS_HEARTBEAT_INTERVAL_MS,
      maxBufferedBytes: env.WS_MAX_BUFFERED_BYTES,
      frameRateLimit: parseRateLimitRule(env.WS_FRAME_RATE_LIMIT),
    },
    shutdownTimeoutMs: env.SHUTDOWN_TIMEOUT_MS,
    jobs: {
      concurrency: env.WORKER_CONCURRENCY,
      lockDurationMs: env.WORKER_LOCK_DURATION_MS,
      stalledIntervalMs: env.WORKER_STALLED_INTERVAL_MS,
    },
    metrics: { token: env.METRICS_TOKEN },
    scanner: scannerConfig(env),
  };
}

type ScannerAddress = { host: string; port: number } | { socketPath: string };

/** undefined: no scanner configured (uploads are accepted with `scan: "skipped"`). */
function scannerConfig(env: Env): (ScannerAddress & { required: boolean; timeoutMs: number }) | undefined {
  const address: ScannerAddress | undefined = env.CLAMAV_SOCKET
    ? { socketPath: resolve(env.CLAMAV_SOCKET) }
    : env.CLAMAV_HOST
      ? { host: env.CLAMAV_HOST, port: env.CLAMAV_PORT }
      : undefined;
  return address && { ...address, required: env.CLAMAV_REQUIRED, timeoutMs: env.CLAMAV_TIMEOUT_MS };
}

// The embedded mode must start on a fresh clone with no setup, so it keeps a generated secret in DATA_DIR.
function readOrCreateEmbeddedSecret(dataDir: string): string {
  const file = join(resolve(dataDir), 'jwt-secret');
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  mkdirSync(resolve(dataDir), { recursive: true });
  const secret = randomBytes(48).toString('base64url');
  writeFileSync(file, secret, { mode: 0o600 });
  return secret;
}

/** Parses and validates the environment; throws ConfigError listing every problem at once. */
export function loadConfig(source: Record<string, string | undefined> = process.env): Config {
  const env: Record<string, unknown> = {};
  for (const key of Object.keys(EnvSchema.properties)) {
    const value = source[key];
    if (value !== undefined && value !== '') env[key] = value;
  }
  const problems: string[] = [];
  if (!validateEnv(env)) {
    for (const error of validateEnv.errors ?? []) {
      const name = error.instancePath.replace(/^\//, '') || 'environment';
      problems.push(`${name}: ${error.message ?? 'is invalid'}`);
    }
  }
  const parsed = env as Env;
  if (problems.length === 0) {
    if (parsed.DATABASE_URL && !parsed.JWT_SECRET) {
      problems.push('JWT_SECRET: required (at least 32 characters) when DATABASE_URL is set');
    }
    if (parsed.NODE_ENV === 'production' && !parsed.JWT_SECRET) {
      problems.push('JWT_SECRET: required in production');
    }
    if (parsed.STORAGE_DRIVER === 's3' && !parsed.S3_BUCKET) {
      problems.push('S3_BUCKET: required when STORAGE_DRIVER=s3');
    }
    if (parsed.PLATFORM_JWT_ISSUER && parsed.PLATFORM_JWT_ISSUER === parsed.JWT_ISSUER) {
      problems.push('PLATFORM_JWT_ISSUER: must differ from JWT_ISSUER (tokens are routed by issuer)');
    }
    if (parsed.PLATFORM_JWT_ISSUER && !parsed.PLATFORM_JWT_SECRET && !parsed.PLATFORM_JWKS_URL) {
      problems.push('PLATFORM_JWT_ISSUER: needs PLATFORM_JWT_SECRET or PLATFORM_JWKS_URL');
    }
    if (parsed.CLAMAV_HOST && parsed.CLAMAV_SOCKET) {
      problems.push('CLAMAV_SOCKET: set either CLAMAV_HOST (TCP) or CLAMAV_SOCKET, not both');
    }
    if (parsed.CLAMAV_REQUIRED && !parsed.CLAMAV_HOST && !parsed.CLAMAV_SOCKET) {
      problems.push('CLAMAV_REQUIRED: needs CLAMAV_HOST or CLAMAV_SOCKET (there is no scanner to require)');
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  const secret = parsed.JWT_SECRET ?? readOrCreateEmbeddedSecret(parsed.DATA_DIR);
  return buildConfig(parsed, secret);
}

/** Loads `.env` from the working directory when present (Node's own parser), then the config. */
export function loadConfigFromProcess(): Config {
  if (existsSync('.env')) process.loadEnvFile('.env');
  return loadConfig(process.env);
}
