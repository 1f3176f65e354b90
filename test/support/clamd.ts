import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect, createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { makeTempDir } from './temp-dirs.js';

/**
 * The EICAR anti-virus test file (68 bytes), built here so no file in the repository trips a
 * scanner on a developer's machine.
 */
export const EICAR = Buffer.from(
  ['X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR', '-STANDARD-ANTIVIRUS-TEST-FILE!H+H*'].join(''),
  'latin1',
);
/** What clamd reports for EICAR with the tests' own signature (clamd adds `.UNOFFICIAL`). */
export const EICAR_SIGNATURE = 'Test.EICAR.UNOFFICIAL';
/** clamd's StreamMaxLength in the tests: above CHAT_UPLOAD_MAX_SIZE (20 MiB), like production must be. */
export const CLAMD_STREAM_MAX_BYTES = 32 * 1024 * 1024;

function findClamd(): string | undefined {
  for (const candidate of ['/usr/sbin/clamd', '/usr/local/sbin/clamd'])
    if (existsSync(candidate)) return candidate;
  const which = spawnSync('sh', ['-c', 'command -v clamd'], { encoding: 'utf8' });
  return which.status === 0 ? which.stdout.trim() || undefined : undefined;
}

const clamdPath = findClamd();
if (!clamdPath) {
  // Same rule as PostgreSQL and Redis (test/support/global-setup.ts): mandatory in CI, loud skip elsewhere.
  if (process.env.CI === 'true') {
    throw new Error(
      'clamd is required in CI but not installed (apt-get install clamav-daemon; .ci/run does it)',
    );
  }
  console.warn(
    `\n${'!'.repeat(78)}\n!! clamd is not installed (Debian: clamav-daemon): the clamd tests are SKIPPED.\n${'!'.repeat(78)}\n`,
  );
}

/** True when clamd is missing and the tests that need it should skip (never in CI). */
export const skipClamdTests = clamdPath === undefined;

export interface TestClamd {
  host: string;
  port: number;
  socketPath: string;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Sends one clamd command over the Unix socket and resolves with its reply (without the NUL). */
export function clamdCommand(socketPath: string, command: string, timeoutMs = 1000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(socketPath);
    let reply = '';
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error('timeout')));
    socket.on('connect', () => socket.write(`z${command}\0`));
    socket.on('data', (data) => (reply += data.toString('utf8')));
    socket.on('end', () => resolve(reply.replace(/\0$/, '')));
    socket.on('error', reject);
  });
}

/**
 * Starts a clamd of this test file in the foreground, with a config and a one-line signature
 * database (an MD5 hash signature of EICAR) in a temp folder: no signature download. Its only
 * signature matches the EICAR file as a whole — a hash signature matches whole files, so EICAR
 * inside a larger stream is NOT detected by it (real ClamAV databases have body signatures for that).
 * Resolves once clamd answers PING; `stop()` kills it and waits for it to exit.
 */
export async function startClamd(): Promise<TestClamd> {
  if (!clamdPath) throw new Error('clamd is not installed');
  const dir = makeTempDir('hubx-clamd-');
  const db = join(dir, 'db');
  mkdirSync(db);
  const md5 = createHash('md5').update(EICAR).digest('hex');
  writeFileSync(join(db, 'test.hdb'), `${md5}:${EICAR.length}:Test.EICAR\n`);
  const port = await freePort();
  const socketPath = join(dir, 'clamd.sock');
  const logFile = join(dir, 'clamd.log');
  const configFile = join(dir, 'clamd.conf');
  // No `User`: clamd keeps the test user's identity (root included), so the temp folder is its own.
  writeFileSync(
    configFile,
    [
      `LocalSocket ${socketPath}`,
      `TCPSocket ${port}`,
      'TCPAddr 127.0.0.1',
      `DatabaseDirectory ${db}`,
      'Foreground yes',
      `StreamMaxLength ${CLAMD_STREAM_MAX_BYTES / 1024 / 1024}M`,
      `LogFile ${logFile}`,
      `PidFile ${join(dir, 'clamd.pid')}`,
      '',
    ].join('\n'),
  );

  const child: ChildProcess = spawn(clamdPath, ['--foreground', `--config-file=${configFile}`], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (data: Buffer) => (stderr += data.toString('utf8')));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let running = true;
  void exited.then(() => (running = false));

  const stop = async () => {
    if (running) child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  };

  const deadline = Date.now() + 30_000;
  for (;;) {
    if (!running || Date.now() > deadline) {
      await stop();
      const log = existsSync(logFile) ? readFileSync(logFile, 'utf8') : '';
      throw new Error(`clamd did not answer PING (exited: ${!running})\n${stderr}\n${log}`);
    }
    const pong = await clamdCommand(socketPath, 'PING').catch(() => '');
    if (pong === 'PONG') break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return { host: '127.0.0.1', port, socketPath, stop };
}
