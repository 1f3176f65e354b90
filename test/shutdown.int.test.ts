import { connect } from 'node:net';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApiProcess } from './support/api-process.js';
import { openTestDatabase } from './support/database.js';
import { skipDatabaseTests } from './support/database.js';
import { ADMIN_DATABASE_URL } from './support/global-setup.js';
import { makeTempDir } from './support/temp-dirs.js';

describe.skipIf(skipDatabaseTests)('graceful shutdown on SIGTERM', () => {
  let database: Awaited<ReturnType<typeof openTestDatabase>> | undefined;
  let env: Record<string, string>;

  beforeAll(async () => {
    const dataDir = makeTempDir('hubx-shutdown-');
    env = { DATA_DIR: dataDir, JWT_SECRET: 'shutdown-test-secret-0123456789abcdef' };
    if (process.env.TEST_DB === 'postgres') {
      database = await openTestDatabase();
      await database.handle.close();
      env.DATABASE_URL = database.url!;
    }
  });
  afterAll(async () => {
    if (database) await database.drop().catch(() => undefined);
  });

  it('finishes the in-flight request, refuses new connections, closes the database and exits 0', async () => {
    const server = await startApiProcess(env);
    // An in-flight request: headers and half the body are sent before SIGTERM, the rest after.
    const body = JSON.stringify({
      username: 'grace',
      password: 'a-long-enough-password',
      email: 'g@example.test',
    });
    const socket = connect(server.port, '127.0.0.1');
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    let response = '';
    socket.on('data', (chunk) => (response += chunk.toString()));
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    socket.write(
      `POST /api/auth/register HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body.slice(0, 10)}`,
    );
    await new Promise((resolve) => setTimeout(resolve, 200));
    const exited = new Promise<number | null>((resolve) =>
      server.child.once('exit', (code) => resolve(code)),
    );
    server.child.kill('SIGTERM');
    await new Promise((resolve) => setTimeout(resolve, 300));

    // New connections are refused while the in-flight one is still being served.
    const refused = await new Promise<boolean>((resolve) => {
      const probe = connect(server.port, '127.0.0.1');
      probe.once('connect', () => {
        probe.destroy();
        resolve(false);
      });
      probe.once('error', () => resolve(true));
    });
    expect(refused).toBe(true);

    socket.write(body.slice(10));
    await closed;
    expect(response).toMatch(/^HTTP\/1\.1 201/);
    expect(response).toContain('"username":"grace"');
    expect(await exited).toBe(0);
    expect(server.output()).toContain('shutting down');
    if (database) {
      // The pool was ended: no connection of the server is left on its database.
      const admin = new pg.Client({ connectionString: ADMIN_DATABASE_URL });
      await admin.connect();
      const { rows } = await admin.query(
        'select count(*)::int as n from pg_stat_activity where datname = $1',
        [new URL(database.url!).pathname.slice(1)],
      );
      await admin.end();
      expect(rows[0].n).toBe(0);
    }
  }, 60_000);
});
