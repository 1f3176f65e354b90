// A minimal WebSocket client (RFC 6455) for the load generator. One generator process reads every
// delivery of a benchmark (130k frames/s in the 100-member channel), and with the `ws` client its
// own parsing saturated its core, so its queueing showed up as server latency. This client parses
// frames straight from the TCP chunks, hands text payloads to one callback without copying,
// answers pings and close frames, sends masked text frames, and does nothing else.
import { createHash, randomBytes, randomFillSync } from 'node:crypto';
import { request } from 'node:http';
import type { Socket } from 'node:net';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

export type LeanSocket = { send(text: string): void; terminate(): void; closeCode(): number | undefined };

/** Connects and upgrades; rejects with the HTTP status when the server refuses. */
export function openLeanSocket(
  url: string,
  token: string,
  handlers: { onText?: (payload: Buffer) => void; onClose?: (code: number) => void },
): Promise<LeanSocket> {
  const target = new URL(url);
  const key = randomBytes(16).toString('base64');
  return new Promise((resolve, reject) => {
    const req = request({
      host: target.hostname,
      port: target.port,
      path: `${target.pathname}${target.search}`,
      headers: {
        connection: 'Upgrade',
        upgrade: 'websocket',
        'sec-websocket-version': '13',
        'sec-websocket-key': key,
        authorization: `Bearer ${token}`,
      },
    });
    req.once('response', (response) => {
      response.resume();
      reject(new Error(`upgrade ${response.statusCode}`));
    });
    req.once('error', reject);
    req.once('upgrade', (response, socket: Socket, head: Buffer) => {
      const expected = createHash('sha1').update(`${key}${GUID}`).digest('base64');
      if (response.headers['sec-websocket-accept'] !== expected) {
        socket.destroy();
        reject(new Error('bad Sec-WebSocket-Accept'));
        return;
      }
      socket.setNoDelay(true);
      let code: number | undefined;
      let pending: Buffer | undefined;
      const onData = (chunk: Buffer) => {
        const data = pending ? Buffer.concat([pending, chunk]) : chunk;
        pending = undefined;
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
          if (opcode === 0x1) handlers.onText?.(payload);
          else if (opcode === 0x9) socket.write(clientFrame(0xa, payload));
          else if (opcode === 0x8) {
            code = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
            socket.end(clientFrame(0x8, payload.subarray(0, 2)));
          }
        }
        if (offset < data.length) pending = Buffer.from(data.subarray(offset));
      };
      socket.on('data', onData);
      socket.on('error', () => undefined);
      socket.once('close', () => handlers.onClose?.(code ?? 1006));
      if (head.length > 0) onData(head);
      resolve({
        send: (text) => socket.write(clientFrame(0x1, Buffer.from(text))),
        terminate: () => socket.destroy(),
        closeCode: () => code,
      });
    });
    req.end();
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
