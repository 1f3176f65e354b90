import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CONFIG_VARIABLES, ConfigError, loadConfig, MESSAGE_MAX_CHARS_LIMIT } from './config.js';
import type { StorageSettings } from '../platform/storage/create-storage.js';
import { makeTempDir } from '../../test/support/temp-dirs.js';

const dataDir = () => makeTempDir('hubx-config-');

describe('loadConfig', () => {
  it('gives the embedded defaults with no environment at all, keeping a generated secret in DATA_DIR', () => {
    const dir = dataDir();
    const config = loadConfig({ DATA_DIR: dir });
    expect(config.http).toMatchObject({ host: '127.0.0.1', port: 8000 });
    expect(config.database).toEqual({ kind: 'pglite', dataDir: join(dir, 'pglite') });
    expect(config.migrateOnStart).toBe(true);
    expect(config.chat.messageMaxChars).toBe(4000);
    expect(config.auth.jwtSecret.length).toBeGreaterThanOrEqual(32);
    expect(readFileSync(join(dir, 'jwt-secret'), 'utf8')).toBe(config.auth.jwtSecret);
    expect(loadConfig({ DATA_DIR: dir }).auth.jwtSecret).toBe(config.auth.jwtSecret);
  });

  it('parses typed values and lists', () => {
    const config = loadConfig({
      DATA_DIR: dataDir(),
      PORT: '9001',
      MIGRATE_ON_START: 'false',
      ALLOWED_ORIGINS: 'https://a.example, https://b.example',
      DATABASE_URL: 'postgres://u@localhost/db',
      JWT_SECRET: 's'.repeat(40),
    });
    expect(config.http.port).toBe(9001);
    expect(config.migrateOnStart).toBe(false);
    expect(config.http.allowedOrigins).toEqual(['https://a.example', 'https://b.example']);
    expect(config.database).toMatchObject({ kind: 'postgres', url: 'postgres://u@localhost/db' });
  });

  it('reads the job worker settings, with defaults', () => {
    expect(loadConfig({ DATA_DIR: dataDir() }).jobs).toEqual({
      concurrency: 4,
      lockDurationMs: 30_000,
      stalledIntervalMs: 30_000,
    });
    const config = loadConfig({
      DATA_DIR: dataDir(),
      WORKER_CONCURRENCY: '2',
      WORKER_LOCK_DURATION_MS: '1000',
      WORKER_STALLED_INTERVAL_MS: '500',
    });
    expect(config.jobs).toEqual({ concurrency: 2, lockDurationMs: 1000, stalledIntervalMs: 500 });
    expect(() => loadConfig({ DATA_DIR: dataDir(), WORKER_CONCURRENCY: '0' })).toThrow(/WORKER_CONCURRENCY/);
  });

  it('keeps attachments on disk under DATA_DIR by default', () => {
    const dir = dataDir();
    const settings: StorageSettings = loadConfig({ DATA_DIR: dir }).storage; // what createStorage takes
    expect(settings).toEqual({ driver: 'disk', root: join(dir, 'attachments') });
  });

  it('reads the S3 storage settings: path style follows S3_ENDPOINT unless set, the bucket is required', () => {
    expect(
      loadConfig({ DATA_DIR: dataDir(), STORAGE_DRIVER: 's3', S3_BUCKET: 'hubx-files' }).storage,
    ).toEqual({
      driver: 's3',
      bucket: 'hubx-files',
      endpoint: undefined,
      region: 'us-east-1',
      forcePathStyle: false,
    });
    const selfHosted = {
      DATA_DIR: dataDir(),
      STORAGE_DRIVER: 's3',
      S3_BUCKET: 'hubx-files',
      S3_ENDPOINT: 'http://minio:9000',
      S3_REGION: 'eu-west-1',
    };
    expect(loadConfig(selfHosted).storage).toEqual({
      driver: 's3',
      bucket: 'hubx-files',
      endpoint: 'http://minio:9000',
      region: 'eu-west-1',
      forcePathStyle: true,
    });
    expect(loadConfig({ ...selfHosted, S3_FORCE_PATH_STYLE: 'false' }).storage).toMatchObject({
      forcePathStyle: false,
    });
    expect(() => loadConfig({ DATA_DIR: dataDir(), STORAGE_DRIVER: 's3' })).toThrow(
      /S3_BUCKET: required when STORAGE_DRIVER=s3/,
    );
    expect(() => loadConfig({ DATA_DIR: dataDir(), STORAGE_DRIVER: 'ftp' })).toThrow(/STORAGE_DRIVER/);
    expect(() =>
      loadConfig({ DATA_DIR: dataDir(), STORAGE_DRIVER: 's3', S3_BUCKET: 'b-1', S3_ENDPOINT: 'minio:9000' }),
    ).toThrow(/S3_ENDPOINT/);
  });

  it('refuses bad values with one list naming every problem', () => {
    let error: unknown;
    try {
      loadConfig({ DATA_DIR: dataDir(), PORT: 'eighty', MESSAGE_MAX_CHARS: '0', DATABASE_URL: 'mysql://x' });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems.join('\n');
    expect(problems).toContain('PORT');
    expect(problems).toContain('MESSAGE_MAX_CHARS');
    expect(problems).toContain('DATABASE_URL');
  });

  it('takes MESSAGE_MAX_CHARS up to MESSAGE_MAX_CHARS_LIMIT, which the message schemas size their caps from', () => {
    const largest = String(MESSAGE_MAX_CHARS_LIMIT);
    expect(loadConfig({ DATA_DIR: dataDir(), MESSAGE_MAX_CHARS: largest }).chat.messageMaxChars).toBe(
      MESSAGE_MAX_CHARS_LIMIT,
    );
    expect(() =>
      loadConfig({ DATA_DIR: dataDir(), MESSAGE_MAX_CHARS: String(MESSAGE_MAX_CHARS_LIMIT + 1) }),
    ).toThrow(/MESSAGE_MAX_CHARS/);
  });

  it('requires JWT_SECRET with PostgreSQL and in production, and a key for platform tokens', () => {
    expect(() => loadConfig({ DATA_DIR: dataDir(), DATABASE_URL: 'postgres://u@h/d' })).toThrow(/JWT_SECRET/);
    expect(() => loadConfig({ DATA_DIR: dataDir(), NODE_ENV: 'production' })).toThrow(/JWT_SECRET/);
    expect(() => loadConfig({ DATA_DIR: dataDir(), PLATFORM_JWT_ISSUER: 'https://hubx' })).toThrow(
      /PLATFORM_JWT_SECRET or PLATFORM_JWKS_URL/,
    );
    expect(() => loadConfig({ DATA_DIR: dataDir(), JWT_SECRET: 'short' })).toThrow(/JWT_SECRET/);
  });
});

describe('METRICS_TOKEN', () => {
  it('is off when unset, and a bearer token of at least 16 characters when set', () => {
    expect(loadConfig({ DATA_DIR: dataDir() }).metrics).toEqual({ token: undefined });
    const token = 'abcDEF0123456789-._~+/=';
    expect(loadConfig({ DATA_DIR: dataDir(), METRICS_TOKEN: token }).metrics).toEqual({ token });
    expect(() => loadConfig({ DATA_DIR: dataDir(), METRICS_TOKEN: 'short-token' })).toThrow(/METRICS_TOKEN/);
    // Prometheus sends it verbatim in a header: no spaces or other characters a bearer token may not have.
    expect(() => loadConfig({ DATA_DIR: dataDir(), METRICS_TOKEN: 'a token with spaces' })).toThrow(
      /METRICS_TOKEN/,
    );
  });
});

describe('CLAMAV_*', () => {
  it('has no scanner by default, clamd over TCP with CLAMAV_HOST, over a Unix socket with CLAMAV_SOCKET', () => {
    expect(loadConfig({ DATA_DIR: dataDir() }).scanner).toBeUndefined();
    expect(loadConfig({ DATA_DIR: dataDir(), CLAMAV_HOST: 'clamd' }).scanner).toEqual({
      host: 'clamd',
      port: 3310,
      required: false,
      timeoutMs: 30_000,
    });
    expect(
      loadConfig({
        DATA_DIR: dataDir(),
        CLAMAV_SOCKET: '/run/clamav/clamd.ctl',
        CLAMAV_REQUIRED: 'true',
        CLAMAV_TIMEOUT_MS: '5000',
      }).scanner,
    ).toEqual({ socketPath: '/run/clamav/clamd.ctl', required: true, timeoutMs: 5000 });
  });

  it('refuses both transports at once, a required scanner that is not configured, and bad numbers', () => {
    expect(() => loadConfig({ DATA_DIR: dataDir(), CLAMAV_HOST: 'clamd', CLAMAV_SOCKET: '/s' })).toThrow(
      /CLAMAV_SOCKET/,
    );
    expect(() => loadConfig({ DATA_DIR: dataDir(), CLAMAV_REQUIRED: 'true' })).toThrow(/CLAMAV_REQUIRED/);
    expect(() => loadConfig({ DATA_DIR: dataDir(), CLAMAV_HOST: 'c', CLAMAV_PORT: '70000' })).toThrow(
      /CLAMAV_PORT/,
    );
    expect(() => loadConfig({ DATA_DIR: dataDir(), CLAMAV_HOST: 'c', CLAMAV_TIMEOUT_MS: '0' })).toThrow(
      /CLAMAV_TIMEOUT_MS/,
    );
  });
});

describe('documentation of the configuration', () => {
  it('.env.example and the README name every variable the service reads', () => {
    const example = readFileSync(new URL('../../.env.example', import.meta.url), 'utf8');
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    expect(CONFIG_VARIABLES.length).toBeGreaterThan(20);
    for (const name of CONFIG_VARIABLES) {
      expect(example, name).toContain(`${name}=`);
      expect(readme, name).toContain(`\`${name}\``);
    }
  });
});
