import type { Bus } from '../platform/bus/bus.js';
import type { ChannelEvent, StreamEvent } from '../shared/events.js';
import { decodeMessage, topics, type Topic } from '../shared/topics.js';
import type { Connection, EncodedEvent } from './connection.js';
import { createEventPolicy, type EventPolicy } from './event-policy.js';

export type { StreamEvent } from '../shared/events.js';

/** What the transport reads of the event log. */
export type EventLogReader = {
  lastSeq(channelId: string): Promise<number | undefined>;
  /** The oldest seq the log still holds (retention prunes older ones). */
  firstSeq(channelId: string): Promise<number | undefined>;
  listAfter(channelId: string, afterSeq: number, limit: number): Promise<ChannelEvent[]>;
};

export type StreamOptions = {
  /** How long an early event waits for the missing ones before they are read from the log. */
  gapWaitMs: number;
  /** The modules' viewer policy (default: every viewer gets every event as published). */
  policy?: EventPolicy;
  onEvent?: (event: StreamEvent) => void;
  onError?: (error: unknown) => void;
};

const FILL_BATCH = 500;
/** Streams with at least this many local sockets hand out their events in batches (see emit). */
const BATCHED_FAN_OUT_MIN_SOCKETS = 64;
/** A stream waits this many times its recent fan-out cost between two fan-outs (see emit). */
const FLUSH_PACING = 3;
/** The longest a batch waits for pacing. */
const FLUSH_GAP_MAX_MS = 40;

const withoutPolicy = createEventPolicy();

/** Encodes an event once for every socket, with no viewer policy (tests, and ephemeral events). */
export function encodeEvent(event: StreamEvent, bytes?: Buffer): EncodedEvent {
  return withoutPolicy.encode(event, bytes);
}

/**
 * The events of one channel on this node, in order. Subscribes to the channel's bus topic while it
 * has local sockets; forwards seq n only after n-1, holding early events for `gapWaitMs` and then
 * filling the gap from the event log (commits on other nodes can publish out of order, and a
 * publish can be lost while Redis is away). Each event is encoded once for all sockets.
 */
export class ChannelStream {
  readonly connections = new Set<Connection>();
  private expected = 0;
  private ready = false;
  private readonly pending = new Map<number, { event: ChannelEvent; bytes: Buffer }>();
  private readonly policy: EventPolicy;
  /** The channel's topic, built once (it types what the bus hands this stream). */
  private readonly topic: Topic<StreamEvent>;
  private gapTimer: NodeJS.Timeout | undefined;
  private filling = false;
  private unsubscribe: (() => Promise<void>) | undefined;

  constructor(
    readonly channelId: string,
    private readonly bus: Pick<Bus, 'subscribe'>,
    private readonly log: EventLogReader,
    private readonly options: StreamOptions,
  ) {
    this.policy = options.policy ?? withoutPolicy;
    this.topic = topics.channel(channelId);
  }

  private starting: Promise<void> | undefined;

  /** Starts once; later calls wait for the same start. */
  start(topic: Topic<StreamEvent> = this.topic): Promise<void> {
    this.starting ??= this.subscribeAndLocate(topic);
    return this.starting;
  }

  /** Subscribes first, then reads where the log stands, so nothing falls between the two. */
  private async subscribeAndLocate(topic: Topic<StreamEvent>): Promise<void> {
    const unsubscribe = await this.bus.subscribe(topic, (message) => this.onBusMessage(message));
    // Stopped while subscribing (its last socket left): nobody else would ever unsubscribe it.
    if (this.stopped) {
      await unsubscribe();
      return;
    }
    this.unsubscribe = unsubscribe;
    const last = (await this.log.lastSeq(this.channelId)) ?? 0;
    this.expected = last + 1;
    this.ready = true;
    for (const seq of [...this.pending.keys()]) if (seq < this.expected) this.pending.delete(seq);
    this.drain();
  }

  private stopped = false;

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.gapTimer);
    this.pending.clear();
    this.outbox = [];
    clearTimeout(this.flushTimer);
    await this.unsubscribe?.();
  }

  /** The highest seq this stream has forwarded (what a new socket's live feed continues from). */
  get position(): number {
    return this.expected - 1;
  }

  private onBusMessage(message: string): void {
    if (this.stopped) return;
    let event: StreamEvent;
    try {
      event = decodeMessage(this.topic, message);
    } catch (error) {
      this.options.onError?.(error);
      return;
    }
    const bytes = Buffer.from(message);
    if (!('seq' in event)) {
      // Ephemeral (typing): no order to keep, nothing to replay.
      this.emit(event, this.policy.encode(event, bytes));
      return;
    }
    if (this.ready && event.seq < this.expected) return;
    if (this.ready && event.seq === this.expected && this.pending.size === 0) {
      // In order, nothing held: straight through. (Touching the long-lived map for every event
      // reallocates its table, and those tables outlive the young generation: old-space churn
      // that shows up as major-GC pauses under load.)
      this.forward(event, bytes);
      return;
    }
    this.pending.set(event.seq, { event, bytes });
    if (this.ready) this.drain();
  }

  private drain(): void {
    let next = this.pending.get(this.expected);
    while (next) {
      this.pending.delete(this.expected);
      this.forward(next.event, next.bytes);
      next = this.pending.get(this.expected);
    }
    if (this.pending.size === 0) {
      // The gap closed by itself: no log read needed.
      clearTimeout(this.gapTimer);
      this.gapTimer = undefined;
    } else if (!this.gapTimer) {
      this.gapTimer = setTimeout(() => {
        this.gapTimer = undefined;
        void this.fillGap();
      }, this.options.gapWaitMs);
    }
  }

  private forward(event: ChannelEvent, bytes: Buffer): void {
    this.expected = event.seq + 1;
    this.emit(event, this.policy.encode(event, bytes));
  }

  /**
   * A channel with many sockets on this node gets its events in batches: each socket coalesces
   * one tick's frames into one write, so it gets one write per batch instead of one per event (a
   * write costs far more than the bytes it carries). A batch leaves at the next check phase, or,
   * when the stream's last fan-outs were costly, once FLUSH_PACING times their cost has passed
   * since the last one: a large channel under load gets fewer, fuller writes and leaves the event
   * loop free to read, and one at rest waits for nothing. A channel with few sockets delivers at
   * once: its fan-out is cheap, and the bus's slice already coalesces what arrives together.
   * Events are handed out one after the other either way, so a removal closes a socket before it
   * is given anything that came after it.
   */
  private emit(event: StreamEvent, encoded: EncodedEvent): void {
    if (this.outbox.length === 0 && this.connections.size < BATCHED_FAN_OUT_MIN_SOCKETS) {
      this.handOut(event, encoded);
      return;
    }
    this.outbox.push({ event, encoded });
    if (this.outbox.length > 1) return;
    const wait = this.nextFlushAt - performance.now();
    if (wait >= 1) this.flushTimer = setTimeout(this.flushOutbox, wait);
    else setImmediate(this.flushOutbox);
  }

  private handOut(event: StreamEvent, encoded: EncodedEvent): void {
    for (const connection of this.connections) connection.deliver(encoded);
    this.options.onEvent?.(event);
  }

  private outbox: Array<{ event: StreamEvent; encoded: EncodedEvent }> = [];
  private flushTimer: NodeJS.Timeout | undefined;
  /** Moving average of a fan-out's cost in ms, socket writes included. */
  private flushCost = 0;
  private nextFlushAt = 0;

  private readonly flushOutbox = (): void => {
    this.flushTimer = undefined;
    const batch = this.outbox;
    if (batch.length === 0) return;
    this.outbox = [];
    const started = performance.now();
    for (const { event, encoded } of batch) this.handOut(event, encoded);
    // The sockets' writes run in their own next-tick callbacks, queued before this one.
    process.nextTick(() => {
      const now = performance.now();
      this.flushCost = 0.7 * this.flushCost + 0.3 * (now - started);
      this.nextFlushAt = now + Math.min(FLUSH_GAP_MAX_MS, FLUSH_PACING * this.flushCost);
    });
  };

  /**
   * Reads what is missing from the log (also used after a Redis reconnection). A hole below the
   * oldest event the log still holds was pruned: the stream goes on past it.
   */
  async fillGap(): Promise<void> {
    if (this.filling || !this.ready) return;
    this.filling = true;
    try {
      for (;;) {
        const events = await this.log.listAfter(this.channelId, this.expected - 1, FILL_BATCH);
        const first = events[0]?.seq;
        const isHoleGone =
          first !== undefined && first > this.expected && (await this.isPruned(this.expected));
        if (this.stopped) return;
        // Re-checked: live events may have moved the stream on while the log answered.
        if (isHoleGone && first > this.expected) this.skipPrunedTo(first);
        let isAtHole = false;
        for (const event of events) {
          if (event.seq < this.expected) continue;
          if (event.seq > this.expected) {
            isAtHole = true;
            break;
          }
          this.pending.delete(event.seq);
          this.forward(event, Buffer.from(JSON.stringify(event)));
        }
        // A hole the log does not fill (yet): the same read would return the same page again.
        if (isAtHole || events.length < FILL_BATCH) break;
      }
    } catch (error) {
      this.options.onError?.(error);
    } finally {
      this.filling = false;
      this.drain();
    }
  }

  /** Whether retention deleted `seq`: it lies below the oldest seq the log still holds. */
  private async isPruned(seq: number): Promise<boolean> {
    const oldest = await this.log.firstSeq(this.channelId);
    return oldest === undefined || oldest > seq;
  }

  /**
   * The events from `expected` to `seq` - 1 are gone for good: go on from `seq`. Sockets see the
   * jump and reconnect with `since`, which the log answers with `resync_required`.
   */
  private skipPrunedTo(seq: number): void {
    this.options.onError?.(
      new Error(
        `channel ${this.channelId}: events ${this.expected}..${seq - 1} were pruned from the log before this node forwarded them; going on from ${seq}`,
      ),
    );
    this.expected = seq;
    for (const held of [...this.pending.keys()]) if (held < seq) this.pending.delete(held);
  }
}
