import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { inject } from 'vitest';
import WebSocket from 'ws';
import type { TestApp } from './app.js';

export type Frame = { type: string; [key: string]: unknown };

/** A WebSocket test client that keeps every frame it receives and lets a test wait for one. */
export class WsClient {
  readonly frames: Frame[] = [];
  closeCode: number | undefined;
  closeReason = '';
  private waiters: Array<() => void> = [];
  readonly closed: Promise<void>;

  constructor(readonly socket: WebSocket) {
    socket.on('message', (data) => {
      this.frames.push(JSON.parse(data.toString()) as Frame);
      this.wake();
    });
    this.closed = new Promise((resolve) => {
      socket.on('close', (code, reason) => {
        this.closeCode = code;
        this.closeReason = reason.toString();
        this.wake();
        resolve();
      });
    });
    socket.on('error', () => undefined);
  }

  private wake() {
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }

  send(frame: unknown) {
    this.socket.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  /** Resolves with the first received frame (from `from` on) matching the predicate. */
  async waitFor(predicate: (frame: Frame) => boolean, timeoutMs = 5_000, from = 0): Promise<Frame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.frames.slice(from).find(predicate);
      if (found) return found;
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(
          `no matching frame within ${timeoutMs} ms; got ${JSON.stringify(this.frames).slice(0, 2000)}`,
        );
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Waits until `count` frames of this type arrived; returns them. */
  async waitForCount(type: string, count: number, timeoutMs = 5_000): Promise<Frame[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const matching = this.frames.filter((frame) => frame.type === type);
      if (matching.length >= count) return matching;
      if (Date.now() > deadline) throw new Error(`only ${matching.length}/${count} '${type}' frames arrived`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  async waitForClose(timeoutMs = 5_000): Promise<number | undefined> {
    await Promise.race([this.closed, new Promise((resolve) => setTimeout(resolve, timeoutMs))]);
    return this.closeCode;
  }

  close() {
    this.socket.close();
  }
}

/** Starts the app (or a node of `t.addNode()`) on a free loopback port (once); returns its ws:// base URL. */
export async function listen(t: Pick<TestApp, 'app'>): Promise<string> {
  if (!t.app.server.listening) await t.app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = t.app.server.address() as AddressInfo;
  return `ws://127.0.0.1:${port}`;
}

export type ConnectOptions = { headers?: Record<string, string>; protocols?: string[] };

/** Opens a socket; resolves once open, or rejects with the HTTP status of a refused upgrade. */
export function connect(url: string, options: ConnectOptions = {}): Promise<WsClient> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, options.protocols ?? [], { headers: options.headers ?? {} });
    const client = new WsClient(socket);
    socket.once('open', () => resolve(client));
    socket.once('unexpected-response', (_request, response) => {
      reject(
        Object.assign(new Error(`upgrade refused: ${response.statusCode}`), { status: response.statusCode }),
      );
      socket.terminate();
    });
    socket.once('error', (error) => reject(error));
  });
}

/**
 * Opens a socket as `user` on `path` (which may carry a query already), and records it in `opened`
 * so the test file can close every socket it opened.
 */
export async function connectAs(
  base: string,
  path: string,
  user: { token: string },
  opened: WsClient[],
): Promise<WsClient> {
  const socket = await connect(`${base}${path}${path.includes('?') ? '&' : '?'}token=${user.token}`);
  opened.push(socket);
  return socket;
}

/** The HTTP status with which an upgrade is refused (undefined when it was accepted). */
export async function upgradeStatus(url: string, options: ConnectOptions = {}): Promise<number | undefined> {
  try {
    const client = await connect(url, options);
    client.close();
    return undefined;
  } catch (error) {
    return (error as { status?: number }).status;
  }
}

/** A unique Redis key prefix per test run, so runs never see each other's keys or channels. */
export const uniqueRedisPrefix = () => `hubx-test-${randomBytes(5).toString('hex')}:`;
export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
export const skipRedisTests = !inject('redisAvailable');

/** The buses the realtime suites run on, each suite once per bus: in process and Redis pub/sub. */
export const buses = [
  { name: 'in-process bus', redis: false, skip: false },
  { name: 'Redis bus', redis: true, skip: skipRedisTests },
];

/** An app's settings for its bus: each app gets its own Redis prefix, so apps never see each other's channels or limits. */
export const busEnv = (redis: boolean): Record<string, string> =>
  redis ? { REDIS_URL: TEST_REDIS_URL, REDIS_PREFIX: uniqueRedisPrefix() } : {};
