// A minimal WebSocket client (RFC 6455) for the load generator. One generator process reads every
// delivery of a benchmark (130k frames/s in the 100-member channel), and with the `ws` client its
// own parsing saturated its core, so its queueing showed up as server latency. This client does
// the upgrade itself over a plain TCP socket whose reads land in one shared buffer (`onread`: no
// stream machinery and no allocation per read), parses frames straight from it, hands text
// payloads to one callback without copying (valid only during the call), answers pings and close
// frames, sends masked text frames, and does nothing else.
import { createHash, randomBytes, randomFillSync } from 'node:crypto';
import { connect } from 'node:net';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const HEADER_END = Buffer.from('\r\n\r\n');

export type LeanSocket = { send(text: string): void; terminate(): void; closeCode(): number | undefined };

// Every socket reads into this buffer; a read is parsed before the next one can land.
const readBuffer = Buffer.alloc(256 * 1024);

/** Connects and upgrades; rejects with the HTTP status when the server refuses. */
export function openLeanSocket(
  url: string,
  token: string,
  handlers: { onText?: (payload: Buffer, now: number) => void; onClose?: (code: number) => void },
): Promise<LeanSocket> {
  const target = new URL(url);
  const key = randomBytes(16).toString('base64');
  return new Promise((resolve, reject) => {
    let code: number | undefined;
    let pending: Buffer | undefined;
    let upgraded = false;
    let settled = false;
    const fail = (error: Error) => {
      if (settled) return;
      settled = true;
      socket.destroy();
      reject(error);
    };

    const onFrames = (data: Buffer) => {
      const now = performance.timeOrigin + performance.now();
      let offset = 0;
      while (data.length - offset >= 2) {
        const opcode = data[offset]! & 0x0f;
        let length = data[offset + 1]! & 0x7f;
        let header = 2;
        if (length === 126) {
          if (data.length - offset < 4) break;
          length = data.readUInt16BE(offset + 2);
          header = 4;
        } else if (length === 127) {
          if (data.length - offset < 10) break;
          length = Number(data.readBigUInt64BE(offset + 2));
          header = 10;
        }
        if (data.length - offset < header + length) break;
        const payload = data.subarray(offset + header, offset + header + length);
        offset += header + length;
        // The server never fragments its frames (each event is one frame), so FIN is not tracked.
        if (opcode === 0x1) handlers.onText?.(payload, now);
        else if (opcode === 0x9) socket.write(clientFrame(0xa, payload));
        else if (opcode === 0x8) {
          code = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
          socket.end(clientFrame(0x8, payload.subarray(0, 2)));
        }
      }
      // What is left belongs to the next read, and the shared buffer will be overwritten.
      if (offset < data.length) pending = Buffer.from(data.subarray(offset));
    };

    /** The upgrade response: the status line and the accept header, then frames may follow. */
    const onHandshake = (data: Buffer) => {
      const end = data.indexOf(HEADER_END);
      if (end < 0) {
        if (data.length > 16 * 1024) fail(new Error('upgrade response too long'));
        else pending = Buffer.from(data);
        return;
      }
      const head = data.toString('latin1', 0, end);
      const status = Number(head.slice(9, 12));
      if (status !== 101) {
        fail(new Error(`upgrade ${status}`));
        return;
      }
      const accept = /\r\nsec-websocket-accept: *([^\r]*)/i.exec(head)?.[1];
      if (accept !== createHash('sha1').update(`${key}${GUID}`).digest('base64')) {
        fail(new Error('bad Sec-WebSocket-Accept'));
        return;
      }
      upgraded = true;
      settled = true;
      resolve({
        send: (text) => socket.write(clientFrame(0x1, Buffer.from(text))),
        terminate: () => socket.destroy(),
        closeCode: () => code,
      });
      if (end + HEADER_END.length < data.length) onFrames(data.subarray(end + HEADER_END.length));
    };

    const socket = connect({
      host: target.hostname,
      port: Number(target.port),
      noDelay: true,
      onread: {
        buffer: readBuffer,
        callback: (bytes: number, buffer: Uint8Array) => {
          const chunk = Buffer.from(buffer.buffer, buffer.byteOffset, bytes);
          const data = pending ? Buffer.concat([pending, chunk]) : chunk;
          pending = undefined;
          if (upgraded) onFrames(data);
          else onHandshake(data);
          return true;
        },
      },
    });
    socket.once('connect', () => {
      socket.write(
        `GET ${target.pathname}${target.search} HTTP/1.1\r\nHost: ${target.host}\r\n` +
          `Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n` +
          `Sec-WebSocket-Key: ${key}\r\nAuthorization: Bearer ${token}\r\n\r\n`,
      );
    });
    socket.on('error', (error) => fail(error));
    socket.once('close', () => {
      if (upgraded) handlers.onClose?.(code ?? 1006);
      else fail(new Error('closed before the upgrade'));
    });
  });
}

// Masks come from a pool refilled now and then: a crypto call per frame creates a native object
// per call whose weak-handle cleanup made this generator's young-generation pauses 15-20 ms.
const maskPool = Buffer.alloc(64 * 1024);
let maskOffset = maskPool.length;
function nextMask(): Buffer {
  if (maskOffset + 4 > maskPool.length) {
    randomFillSync(maskPool);
    maskOffset = 0;
  }
  maskOffset += 4;
  return maskPool.subarray(maskOffset - 4, maskOffset);
}

/** A masked client frame (RFC 6455 requires clients to mask). */
function clientFrame(opcode: number, payload: Buffer): Buffer {
  const mask = nextMask();
  const header = payload.length < 126 ? 2 : payload.length < 65_536 ? 4 : 10;
  const frame = Buffer.alloc(header + 4 + payload.length);
  frame[0] = 0x80 | opcode;
  if (header === 2) frame[1] = 0x80 | payload.length;
  else if (header === 4) {
    frame[1] = 0x80 | 126;
    frame.writeUInt16BE(payload.length, 2);
  } else {
    frame[1] = 0x80 | 127;
    frame.writeBigUInt64BE(BigInt(payload.length), 2);
  }
  mask.copy(frame, header);
  for (let i = 0; i < payload.length; i++) frame[header + 4 + i] = payload[i]! ^ mask[i % 4]!;
  return frame;
}
