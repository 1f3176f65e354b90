import { randomBytes } from 'node:crypto';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClamdScanner, createNoScanner } from './clamd-scanner.js';
import { ScannerUnavailableError, type Scanner } from './scanner.js';
import {
  CLAMD_STREAM_MAX_BYTES,
  EICAR,
  EICAR_SIGNATURE,
  skipClamdTests,
  startClamd,
  type TestClamd,
} from '../../../test/support/clamd.js';

const MiB = 1024 * 1024;

/** `total` bytes in 64 KiB chunks made on demand, so the test itself never holds them whole. */
function generated(total: number, fill = () => randomBytes(64 * 1024)): Readable {
  let left = total;
  return new Readable({
    read() {
      if (left <= 0) return void this.push(null);
      const chunk = fill().subarray(0, Math.min(left, 64 * 1024));
      left -= chunk.length;
      this.push(chunk);
    },
  });
}

describe.skipIf(skipClamdTests)('clamd scanner against a real clamd', () => {
  let clamd: TestClamd;
  let tcp: Scanner;
  let unix: Scanner;

  beforeAll(async () => {
    clamd = await startClamd();
    tcp = createClamdScanner({ host: clamd.host, port: clamd.port }, { timeoutMs: 10_000 });
    unix = createClamdScanner({ socketPath: clamd.socketPath }, { timeoutMs: 10_000 });
  });
  afterAll(async () => {
    await tcp?.close();
    await unix?.close();
    await clamd?.stop();
  });

  it('finds clean bytes clean, over TCP and over the Unix socket', async () => {
    expect(tcp.configured).toBe(true);
    expect(await tcp.scan(Readable.from([Buffer.from('hello, world\n')]))).toEqual({ status: 'clean' });
    expect(await unix.scan(Readable.from([randomBytes(100_000)]))).toEqual({ status: 'clean' });
  });

  it('reports EICAR as infected with the signature name, over both transports', async () => {
    const infected = { status: 'infected', signature: EICAR_SIGNATURE };
    expect(await tcp.scan(Readable.from([EICAR]))).toEqual(infected);
    expect(await unix.scan(Readable.from([EICAR]))).toEqual(infected);
    // Split across frames (one byte per chunk): clamd scans the reassembled stream.
    expect(await tcp.scan(Readable.from([...EICAR].map((byte) => Buffer.from([byte]))))).toEqual(infected);
  });

  it('misses EICAR behind a prefix: the test signature is a whole-file hash (the limit of the test setup)', async () => {
    // Real ClamAV databases carry body signatures that find EICAR anywhere; the tests' .hdb line
    // matches only a stream that IS the 68-byte file. This pins down that limit, not a product behaviour.
    const body = Readable.from([randomBytes(2 * MiB), EICAR]);
    expect(await tcp.scan(body)).toEqual({ status: 'clean' });
  });

  it('streams a 20 MiB clean body (the upload limit) without trouble', async () => {
    let read = 0;
    const body = generated(20 * MiB);
    body.on('data', (chunk: Buffer) => (read += chunk.length));
    expect(await unix.scan(body)).toEqual({ status: 'clean' });
    expect(read).toBe(20 * MiB);
  });

  it('fails as unavailable, naming the size limit, for a stream above StreamMaxLength', async () => {
    const body = generated(CLAMD_STREAM_MAX_BYTES + 2 * MiB);
    const error = await tcp.scan(body).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ScannerUnavailableError);
    expect((error as Error).message).toMatch(/size limit exceeded|StreamMaxLength/);
    expect(body.destroyed).toBe(true); // stopped reading the rest
  });

  it('rejects with the body’s own error when the body fails midway (no hang)', async () => {
    let sent = 0;
    const failure = new Error('client went away');
    const body = new Readable({
      read() {
        if (sent++ < 5) this.push(randomBytes(64 * 1024));
        else this.destroy(failure);
      },
    });
    await expect(tcp.scan(body)).rejects.toBe(failure);
    // clamd is still fine afterwards.
    expect(await tcp.scan(Readable.from([EICAR]))).toEqual({
      status: 'infected',
      signature: EICAR_SIGNATURE,
    });
  });
});

describe('clamd scanner without a working clamd', () => {
  let silent: Server;
  const held: Socket[] = [];

  beforeAll(async () => {
    // Accepts, reads, never answers: what a wedged clamd looks like.
    silent = createServer((socket) => {
      held.push(socket);
      socket.resume();
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  });
  afterAll(async () => {
    for (const socket of held) socket.destroy();
    await new Promise<void>((resolve) => silent.close(() => resolve()));
  });

  it('fails fast as unavailable when nothing listens', async () => {
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const { port } = probe.address() as AddressInfo;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const scanner = createClamdScanner({ host: '127.0.0.1', port }, { timeoutMs: 10_000 });
    const started = Date.now();
    const error = await scanner.scan(Readable.from([Buffer.from('x')])).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ScannerUnavailableError);
    expect((error as Error).message).toContain('ECONNREFUSED');
    expect(Date.now() - started).toBeLessThan(2000);
    const missing = createClamdScanner({ socketPath: '/nonexistent/clamd.sock' }, { timeoutMs: 10_000 });
    await expect(missing.scan(Readable.from([Buffer.from('x')]))).rejects.toThrow(ScannerUnavailableError);
  });

  it('fails as unavailable after timeoutMs when clamd never answers', async () => {
    const { port } = silent.address() as AddressInfo;
    const scanner = createClamdScanner({ host: '127.0.0.1', port }, { timeoutMs: 300 });
    const started = Date.now();
    const error = await scanner.scan(Readable.from([Buffer.from('hello')])).catch((e: unknown) => e);
    const elapsed = Date.now() - started;
    expect(error).toBeInstanceOf(ScannerUnavailableError);
    expect((error as Error).message).toMatch(/no answer within 300 ms/);
    expect(elapsed).toBeGreaterThanOrEqual(250);
    expect(elapsed).toBeLessThan(3000);
  });

  it('without a scanner configured, every scan is skipped', async () => {
    const scanner = createNoScanner();
    expect(scanner.configured).toBe(false);
    const body = Readable.from([EICAR]);
    expect(await scanner.scan(body)).toEqual({ status: 'skipped' });
    await scanner.close();
  });
});
