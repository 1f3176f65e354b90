import type { WebSocket } from 'ws';
import type { Viewer } from '../shared/events.js';

/** How long queued frames may wait for a socket to drain before it counts as not reading. */
const DRAIN_TIMEOUT_MS = 5_000;

export const CloseCodes = {
  goingAway: 1001,
  unauthorized: 4401,
  forbidden: 4403,
  notFound: 4404,
  slowConsumer: 4009,
  tooManyConnections: 4029,
} as const;

/**
 * An outbound event encoded once for every socket: `bytes` as published and, when the event's
 * policy redacts it for some viewers, `redacted` for those of whom `seesOriginal` says no.
 */
export type EncodedEvent = {
  seq: number | undefined;
  bytes: Buffer;
  redacted?: Buffer | undefined;
  seesOriginal?: ((viewer: Viewer) => boolean) | undefined;
  /** One viewer's own copy, ahead of both (the policy's `personal`). */
  personal?: { viewerId: string; bytes: Buffer } | undefined;
};

/** What the gateway knows of a socket's user (refreshed from the database on every access re-check). */
export type SocketUser = {
  id: string;
  username: string;
  email: string;
  isStaff: boolean;
  isModerator: boolean;
};
export type ConnectionKind = 'channel' | 'notifications';

/**
 * One client socket. It keeps the last seq it was sent so it never gets a duplicate or goes
 * backwards, buffers live events while its backlog is being replayed, and cuts itself off
 * (4009) instead of letting an unread send buffer grow.
 */
export class Connection {
  lastSeq = 0;
  alive = true;
  private replayQueue: EncodedEvent[] | undefined = [];
  private corked = false;
  private closing = false;

  /** Who the user is to the event policies (the modules decide what a viewer may see). */
  viewer: Viewer;
  /** Set by whoever opened the socket: checks access again after an access change. */
  recheck: () => Promise<void> = async () => undefined;

  constructor(
    readonly socket: WebSocket,
    /** Replaced, with `viewer`, when an access re-check finds the user changed (a moderator grant). */
    public user: SocketUser,
    readonly options: {
      maxBufferedBytes: number;
      kind?: ConnectionKind | undefined;
      channelId?: string | undefined;
      sessionKey?: string | undefined;
      viewer?: Viewer | undefined;
    },
  ) {
    this.viewer = options.viewer ?? { id: user.id, isModerator: false };
  }

  get kind(): ConnectionKind {
    return this.options.kind ?? 'channel';
  }

  get isOpen(): boolean {
    return !this.closing && this.socket.readyState === this.socket.OPEN;
  }

  /** Live event from the channel stream (in seq order). */
  deliver(event: EncodedEvent): void {
    if (this.replayQueue) {
      this.replayQueue.push(event);
      return;
    }
    this.sendEvent(event);
  }

  // Live events are held (queued) while anything holds the socket: its replay (from birth) and
  // any access re-check in flight. The queue is flushed, skipping what was already sent, when the
  // last hold is released.
  private holds = 1;

  hold(): void {
    this.holds += 1;
    this.replayQueue ??= [];
  }

  release(): void {
    this.holds = Math.max(0, this.holds - 1);
    if (this.holds > 0) return;
    const queue = this.replayQueue ?? [];
    this.replayQueue = undefined;
    for (const event of queue) this.sendEvent(event);
  }

  /**
   * For bulk sends (replay): waits until the socket has drained below the limit. False when the
   * client did not read within the timeout, and the socket was closed as a slow consumer.
   */
  async waitForDrain(timeoutMs = 10_000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (this.isOpen && this.socket.bufferedAmount > this.options.maxBufferedBytes / 2) {
      if (Date.now() > deadline) {
        this.close(CloseCodes.slowConsumer, 'slow consumer');
        return false;
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    return this.isOpen;
  }

  sendEvent(event: EncodedEvent): void {
    if (event.seq !== undefined) {
      if (event.seq <= this.lastSeq) return;
      this.lastSeq = event.seq;
    }
    if (event.personal?.viewerId === this.viewer.id) this.sendRaw(event.personal.bytes);
    else this.sendRaw(event.redacted && !event.seesOriginal?.(this.viewer) ? event.redacted : event.bytes);
  }

  sendFrame(frame: object): void {
    this.sendRaw(Buffer.from(JSON.stringify(frame)));
  }

  /**
   * A reply to the client's own frame (an ack). Its write waits for the check phase, where the
   * bus hands out what the same write published: a sender's ack and its own message then leave
   * in one socket write instead of two.
   */
  sendReply(frame: object): void {
    this.holdWritesUntilCheckPhase();
    this.sendFrame(frame);
  }

  sendRaw(bytes: Buffer): void {
    if (!this.isOpen) return;
    // Writes go out while the socket holds at most WS_MAX_BUFFERED_BYTES unsent; beyond that they
    // wait here (a burst to a client that reads), up to twice that much. A client that does not
    // read never drains, so the wait fills up or times out and it is cut (4009): memory per socket
    // stays bounded and the client resumes with `since`.
    if (this.overflow.length > 0 || this.socket.bufferedAmount > this.options.maxBufferedBytes) {
      this.overflow.push(bytes);
      this.overflowBytes += bytes.length;
      if (this.overflowBytes > 2 * this.options.maxBufferedBytes)
        this.close(CloseCodes.slowConsumer, 'slow consumer');
      else this.scheduleDrain();
      return;
    }
    this.write(bytes);
  }

  private get raw(): { cork(): void; uncork(): void } | undefined {
    return (this.socket as unknown as { _socket?: { cork(): void; uncork(): void } })._socket;
  }

  private write(bytes: Buffer): void {
    // Coalesce every frame of this tick into one socket write.
    const raw = this.raw;
    if (raw && !this.corked) {
      this.corked = true;
      raw.cork();
      process.nextTick(() => this.uncork(raw));
    }
    this.socket.send(bytes, { binary: false });
  }

  private holdWritesUntilCheckPhase(): void {
    const raw = this.raw;
    if (!raw || this.corked) return;
    this.corked = true;
    raw.cork();
    setImmediate(() => this.uncork(raw));
  }

  private uncork(raw: { uncork(): void }): void {
    this.corked = false;
    raw.uncork();
  }

  private overflow: Buffer[] = [];
  private overflowBytes = 0;
  private drainTimer: NodeJS.Timeout | undefined;
  private drainDeadline = 0;

  private scheduleDrain(): void {
    if (this.drainTimer) return;
    this.drainDeadline = Date.now() + DRAIN_TIMEOUT_MS;
    const poll = () => {
      this.drainTimer = undefined;
      if (!this.isOpen) {
        this.overflow = [];
        this.overflowBytes = 0;
        return;
      }
      while (this.overflow.length > 0 && this.socket.bufferedAmount <= this.options.maxBufferedBytes) {
        const next = this.overflow.shift()!;
        this.overflowBytes -= next.length;
        this.write(next);
        this.drainDeadline = Date.now() + DRAIN_TIMEOUT_MS;
      }
      if (this.overflow.length === 0) return;
      if (Date.now() > this.drainDeadline) {
        this.close(CloseCodes.slowConsumer, 'slow consumer');
        return;
      }
      this.drainTimer = setTimeout(poll, 5);
    };
    this.drainTimer = setTimeout(poll, 5);
  }

  close(code: number, reason: string): void {
    if (this.closing) return;
    this.closing = true;
    clearTimeout(this.drainTimer);
    this.overflow = [];
    this.overflowBytes = 0;
    try {
      this.socket.close(code, reason);
    } catch {
      this.socket.terminate();
    }
    // A client that does not read will not read the close frame either.
    setTimeout(() => this.socket.terminate(), 2_000).unref();
  }
}
