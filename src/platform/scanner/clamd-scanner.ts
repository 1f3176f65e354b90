import { connect, type Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { ScannerUnavailableError, type ScanResult, type Scanner } from './scanner.js';

/** Where clamd listens: TCP (`CLAMAV_HOST`/`CLAMAV_PORT`) or a Unix socket (`CLAMAV_SOCKET`). */
export type ClamdAddress = { host: string; port: number } | { socketPath: string };

export interface ClamdScannerOptions {
  /** Longest clamd may stay silent: while connecting, while taking the stream, before its verdict. */
  timeoutMs: number;
}

// clamd takes any chunk length; smaller frames keep each write (and the socket buffer) small.
const MAX_FRAME_BYTES = 64 * 1024;
// A verdict is one short line; anything longer is not clamd.
const MAX_REPLY_BYTES = 4096;

/** The 4-byte big-endian length that precedes each INSTREAM chunk (0 ends the stream). */
export function frameHeader(length: number): Buffer {
  const header = Buffer.alloc(4);
  header.writeUInt32BE(length, 0);
  return header;
}

/** Turns clamd's reply to INSTREAM (without its trailing NUL) into a verdict. */
export function parseInstreamReply(reply: string): ScanResult {
  const text = reply.trim();
  if (text === 'stream: OK') return { status: 'clean' };
  const found = /^stream: (.+) FOUND$/.exec(text);
  if (found) return { status: 'infected', signature: found[1]! };
  if (text.endsWith('ERROR')) throw new ScannerUnavailableError(`clamd answered an error: ${text}`);
  throw new ScannerUnavailableError(`clamd answered something unexpected: ${JSON.stringify(text)}`);
}

function describe(address: ClamdAddress): string {
  return 'socketPath' in address ? address.socketPath : `${address.host}:${address.port}`;
}

/**
 * A Scanner speaking clamd's INSTREAM command: `zINSTREAM\0`, the body in length-prefixed chunks
 * (waiting for the socket to drain, so the body is never held whole), a zero-length chunk, then one
 * NUL-terminated reply. One connection per scan: clamd scans a stream only after it has all of it.
 *
 * The body is consumed; when the scan fails it is destroyed, so give it a stream of its own.
 */
export function createClamdScanner(address: ClamdAddress, options: ClamdScannerOptions): Scanner {
  const where = describe(address);
  const open = new Set<Socket>();

  async function scan(body: Readable): Promise<ScanResult> {
    const socket =
      'socketPath' in address ? connect(address.socketPath) : connect(address.port, address.host);
    open.add(socket);
    socket.setTimeout(options.timeoutMs);
    let sent = 0;
    let bodyDone = false;

    // Settles with clamd's reply, or rejects when the connection fails. clamd may answer before the
    // stream is over (size limit), so this races the sending below rather than following it.
    const reply = new Promise<string>((resolve, reject) => {
      const received: Buffer[] = [];
      let length = 0;
      const fail = (reason: string, cause?: unknown) =>
        reject(new ScannerUnavailableError(`clamd at ${where}: ${reason}`, { cause }));
      socket.on('data', (data: Buffer) => {
        received.push(data);
        length += data.length;
        const all = Buffer.concat(received, length);
        const end = all.indexOf(0);
        if (end >= 0) resolve(all.subarray(0, end).toString('utf8'));
        else if (length > MAX_REPLY_BYTES) fail('reply too long');
      });
      socket.on('end', () => {
        if (length > 0) resolve(Buffer.concat(received, length).toString('utf8'));
        else fail(closedEarly());
      });
      socket.on('timeout', () => {
        fail(`no answer within ${options.timeoutMs} ms`);
        socket.destroy();
      });
      socket.on('error', (error: NodeJS.ErrnoException) => {
        // A reset or broken pipe while sending is clamd hanging up on a stream it will not take.
        if (sent > 0 && !bodyDone && (error.code === 'ECONNRESET' || error.code === 'EPIPE')) {
          fail(closedEarly(), error);
        } else fail(`${error.code ?? error.message}`, error);
      });
      socket.on('close', () => fail('connection closed without a reply'));
    });
    reply.catch(() => undefined); // observed through the race below
    let settled = false;
    void reply.then(
      () => (settled = true),
      () => (settled = true),
    );

    function closedEarly(): string {
      return bodyDone
        ? 'connection closed without a reply'
        : `connection closed while the stream was being sent (after ${sent} bytes; ` +
            'a stream above clamd’s StreamMaxLength is cut off like this)';
    }

    async function write(data: Buffer): Promise<void> {
      if (socket.write(data)) return;
      // Waits for the socket to drain, or for the reply/failure that makes waiting pointless.
      await Promise.race([new Promise<void>((resolve) => socket.once('drain', resolve)), reply]);
    }

    async function send(): Promise<void> {
      await write(Buffer.from('zINSTREAM\0'));
      for await (const chunk of body) {
        const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
        for (let offset = 0; offset < bytes.length && !settled; offset += MAX_FRAME_BYTES) {
          const piece = bytes.subarray(offset, offset + MAX_FRAME_BYTES);
          socket.write(frameHeader(piece.length));
          await write(piece);
          sent += piece.length;
        }
        if (settled) break; // clamd answered or the connection failed: stop reading the body
      }
      if (!settled) {
        bodyDone = true;
        await write(frameHeader(0));
      }
    }

    try {
      const text = await Promise.race([send().then(() => reply), reply]);
      return parseInstreamReply(text);
    } catch (error) {
      if (!body.destroyed) body.destroy();
      throw error;
    } finally {
      open.delete(socket);
      socket.destroy();
    }
  }

  return {
    configured: true,
    scan,
    async close() {
      for (const socket of open) socket.destroy();
      open.clear();
    },
  };
}

/** The scanner when none is configured: every scan is `skipped` (the upload says so). */
export function createNoScanner(): Scanner {
  return {
    configured: false,
    async scan(body: Readable): Promise<ScanResult> {
      body.resume(); // nothing reads it otherwise, and a piped source would stall
      return { status: 'skipped' };
    },
    async close() {},
  };
}
