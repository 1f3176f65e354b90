import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { WebSocket } from 'ws';
import { createMemoryBus } from '../platform/bus/memory-bus.js';
import type { Bus } from '../platform/bus/bus.js';
import { messageEventPolicies } from '../modules/messages/messages.policy.js';
import type { ChannelEvent } from '../shared/events.js';
import { ChannelStream, encodeEvent as encodeTyped, type EventLogReader } from './channel-stream.js';
import { Connection, type EncodedEvent } from './connection.js';
import { createEventPolicy } from './event-policy.js';

/** Events as these tests write them: loose payloads, cast once where they enter the stream. */
type StreamEvent = {
  type: string;
  seq?: number;
  channel: string;
  created_at?: string;
  payload?: Record<string, unknown>;
};
const typed = (e: StreamEvent) => e as unknown as ChannelEvent;
const encodeEvent = (e: StreamEvent) => encodeTyped(typed(e));
/** The viewer policy the app runs with for messages (hidden content redacted for non-moderators). */
const messagesPolicy = createEventPolicy(messageEventPolicies);

const CHANNEL = '0190f5b2-0000-7000-8000-000000000001';
const TOPIC = `channel:${CHANNEL}`;
const GAP_WAIT_MS = 100;

const event = (seq: number, extra: Partial<StreamEvent> = {}): StreamEvent => ({
  type: 'chat.message',
  seq,
  channel: CHANNEL,
  created_at: new Date(Date.UTC(2025, 0, 1, 0, 0, seq)).toISOString(),
  payload: { id: `m${seq}`, conteudo: `message ${seq}` },
  ...extra,
});

/** An event log in memory: what the database would hold, read the way the gateway reads it. */
function createFakeLog(initial: StreamEvent[] = []) {
  const events = [...initial];
  const calls: Array<{ afterSeq: number; limit: number }> = [];
  let failNext = 0;
  // The seq the channel row holds: pruning the log does not lower it.
  let lastSeq = events.at(-1)?.seq;
  const reader: EventLogReader = {
    lastSeq: vi.fn(async () => lastSeq),
    firstSeq: vi.fn(async () => events[0]?.seq),
    listAfter: vi.fn(async (channelId: string, afterSeq: number, limit: number) => {
      calls.push({ afterSeq, limit });
      // A stream that reads without end would otherwise hang the test instead of failing it.
      if (calls.length > 100) throw new Error('runaway log reads');
      if (failNext > 0) {
        failNext -= 1;
        throw new Error('database unavailable');
      }
      return events
        .filter((e) => e.channel === channelId && e.seq! > afterSeq)
        .slice(0, limit)
        .map(typed);
    }),
  };
  return {
    reader,
    calls,
    /** Commits an event to the log (without publishing it). */
    append(...added: StreamEvent[]) {
      events.push(...added);
      events.sort((a, b) => a.seq! - b.seq!);
      lastSeq = Math.max(lastSeq ?? 0, ...added.map((e) => e.seq!));
    },
    /** Retention: deletes every event up to `seq`. */
    prune(seq: number) {
      events.splice(0, events.filter((e) => e.seq! <= seq).length);
    },
    failNextReads(count: number) {
      failNext = count;
    },
  };
}

/** Stands in for a socket: records every delivery (the stream only calls `deliver`). */
function createRecordingConnection() {
  const deliveries: EncodedEvent[] = [];
  const connection = {
    deliver: (encoded: EncodedEvent) => deliveries.push(encoded),
  } as unknown as Connection;
  return {
    connection,
    deliveries,
    seqs: () => deliveries.map((d) => d.seq),
    decoded: () => deliveries.map((d) => JSON.parse(d.bytes.toString('utf8')) as StreamEvent),
  };
}

/** Lets the memory bus and the stream deliver (check phases) and pending promise callbacks run. */
const flush = async () => {
  for (let i = 0; i < 5; i += 1) await Promise.resolve();
  await vi.advanceTimersByTimeAsync(0);
  for (let i = 0; i < 2; i += 1) await new Promise((resolve) => setImmediate(resolve));
};

describe('ChannelStream', () => {
  let bus: Bus;
  let streams: ChannelStream[];

  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
    bus = createMemoryBus();
    streams = [];
  });
  afterEach(async () => {
    await Promise.all(streams.map((stream) => stream.stop()));
    vi.useRealTimers();
  });

  async function startStream(
    log: ReturnType<typeof createFakeLog>,
    options: { onEvent?: (e: StreamEvent) => void; onError?: (e: unknown) => void } = {},
  ) {
    const stream = new ChannelStream(CHANNEL, bus, log.reader, { gapWaitMs: GAP_WAIT_MS, ...options });
    streams.push(stream);
    const socket = createRecordingConnection();
    stream.connections.add(socket.connection);
    await stream.start(TOPIC);
    return { stream, socket };
  }

  /** Commits to the log and publishes, as the unit of work does after a commit. */
  async function commitAndPublish(log: ReturnType<typeof createFakeLog>, ...events: StreamEvent[]) {
    log.append(...events);
    for (const e of events) await bus.publish(TOPIC, JSON.stringify(e));
    await flush();
  }

  it('starts at the position of the log and forwards in-order publishes at once', async () => {
    const log = createFakeLog([event(1), event(2)]);
    const { stream, socket } = await startStream(log);
    expect(stream.position).toBe(2);

    await commitAndPublish(log, event(3), event(4));
    expect(socket.seqs()).toEqual([3, 4]);
    expect(socket.decoded().map((e) => e.payload?.id)).toEqual(['m3', 'm4']);
    expect(stream.position).toBe(4);
    expect(log.calls).toEqual([]);
  });

  it('forwards out-of-order publishes in seq order without reading the log', async () => {
    const log = createFakeLog();
    const { socket } = await startStream(log);
    log.append(event(1), event(2), event(3), event(4));
    for (const seq of [3, 2, 4, 1]) await bus.publish(TOPIC, JSON.stringify(event(seq)));
    await flush();
    expect(socket.seqs()).toEqual([1, 2, 3, 4]);

    // The gap was closed before the timer fired; whatever the timer does later changes nothing.
    await vi.advanceTimersByTimeAsync(GAP_WAIT_MS * 3);
    expect(socket.seqs()).toEqual([1, 2, 3, 4]);
  });

  it('holds early events back until the missing one arrives', async () => {
    const log = createFakeLog();
    const { socket } = await startStream(log);
    log.append(event(1), event(2), event(3));
    await bus.publish(TOPIC, JSON.stringify(event(2)));
    await bus.publish(TOPIC, JSON.stringify(event(3)));
    await flush();
    expect(socket.seqs()).toEqual([]);
    await vi.advanceTimersByTimeAsync(GAP_WAIT_MS / 2);
    await bus.publish(TOPIC, JSON.stringify(event(1)));
    await flush();
    expect(socket.seqs()).toEqual([1, 2, 3]);
  });

  it('drops duplicates, live and pending alike', async () => {
    const log = createFakeLog();
    const { socket } = await startStream(log);
    log.append(event(1), event(2), event(3));
    for (const seq of [1, 1, 3, 3, 2, 2, 1, 3]) await bus.publish(TOPIC, JSON.stringify(event(seq)));
    await flush();
    await vi.advanceTimersByTimeAsync(GAP_WAIT_MS * 2);
    expect(socket.seqs()).toEqual([1, 2, 3]);
  });

  it('fills a gap from the log after gapWaitMs, not before', async () => {
    const log = createFakeLog();
    const { socket, stream } = await startStream(log);
    // seq 1 committed but its publish never arrives; 2 and 3 do.
    log.append(event(1));
    await commitAndPublish(log, event(2), event(3));
    expect(socket.seqs()).toEqual([]);

    await vi.advanceTimersByTimeAsync(GAP_WAIT_MS - 1);
    expect(socket.seqs()).toEqual([]);
    expect(log.calls).toEqual([]);

    await vi.advanceTimersByTimeAsync(1);
    await flush();
    expect(socket.seqs()).toEqual([1, 2, 3]);
    expect(log.calls[0]).toMatchObject({ afterSeq: 0 });
    expect(stream.position).toBe(3);
    // The filled event carries the log's content, not something invented.
    expect(socket.decoded()[0]).toEqual(event(1));

    // Later live events continue from there.
    await commitAndPublish(log, event(4));
    expect(socket.seqs()).toEqual([1, 2, 3, 4]);
  });

  it('fills a gap in the middle and keeps what arrived after it', async () => {
    const log = createFakeLog();
    const { socket } = await startStream(log);
    await commitAndPublish(log, event(1));
    log.append(event(2), event(3));
    await commitAndPublish(log, event(4), event(5));
    expect(socket.seqs()).toEqual([1]);
    await vi.advanceTimersByTimeAsync(GAP_WAIT_MS);
    await flush();
    expect(socket.seqs()).toEqual([1, 2, 3, 4, 5]);
    expect(log.calls.map((c) => c.afterSeq)).toEqual([1]);
  });

  it('never forwards past a seq the log does not hold (yet)', async () => {
    const log = createFakeLog();
    const { socket } = await startStream(log);
    log.append(event(1));
    await commitAndPublish(log, event(3));
    await vi.advanceTimersByTimeAsync(GAP_WAIT_MS);
    await flush();
    expect(socket.seqs()).toEqual([1]);
    await commitAndPublish(log, event(2));
    expect(socket.seqs()).toEqual([1, 2, 3]);
  });

  it('drops events at or before the position it started from', async () => {
    const log = createFakeLog([1, 2, 3, 4, 5].map((seq) => event(seq)));
    const { socket } = await startStream(log);
    for (const seq of [3, 4, 5]) await bus.publish(TOPIC, JSON.stringify(event(seq)));
    await flush();
    await vi.advanceTimersByTimeAsync(GAP_WAIT_MS * 2);
    expect(socket.seqs()).toEqual([]);
    // Stale events are not a gap: they cost no log read.
    expect(log.calls).toEqual([]);
    await commitAndPublish(log, event(6));
    expect(socket.seqs()).toEqual([6]);
  });

  it('keeps events published while it was locating itself in the log, and only the new ones', async () => {
    const log = createFakeLog([event(1), event(2), event(3)]);
    let releaseLastSeq!: (seq: number) => void;
    vi.mocked(log.reader.lastSeq).mockImplementationOnce(
      () => new Promise<number>((resolve) => (releaseLastSeq = resolve)),
    );
    const stream = new ChannelStream(CHANNEL, bus, log.reader, { gapWaitMs: GAP_WAIT_MS });
    streams.push(stream);
    const socket = createRecordingConnection();
    stream.connections.add(socket.connection);
    const started = stream.start(TOPIC);
    await flush();
    // Subscribed, but lastSeq has not answered: 3 (already counted by lastSeq) and 4 (new) arrive.
    log.append(event(4));
    await bus.publish(TOPIC, JSON.stringify(event(3)));
    await bus.publish(TOPIC, JSON.stringify(event(4)));
    await flush();
    expect(socket.seqs()).toEqual([]);
    releaseLastSeq(3);
    await started;
    await flush();
    expect(socket.seqs()).toEqual([4]);
    expect(stream.position).toBe(4);
  });

  it('passes ephemeral events (no seq) straight through, even while a gap is open', async () => {
    const log = createFakeLog();
    const events: StreamEvent[] = [];
    const { socket, stream } = await startStream(log, { onEvent: (e) => events.push(e) });
    log.append(event(1));
    await commitAndPublish(log, event(2));
    const typing = { type: 'chat.typing', channel: CHANNEL, payload: { action: 'start', user_id: 'u1' } };
    await bus.publish(TOPIC, JSON.stringify(typing));
    await bus.publish(TOPIC, JSON.stringify(typing));
    await flush();
    expect(socket.deliveries).toHaveLength(2);
    expect(socket.seqs()).toEqual([undefined, undefined]);
    expect(socket.decoded()[0]).toEqual(typing);
    expect(stream.position).toBe(0);

    await vi.advanceTimersByTimeAsync(GAP_WAIT_MS);
    await flush();
    expect(socket.seqs()).toEqual([undefined, undefined, 1, 2]);
    expect(events.map((e) => e.seq)).toEqual([undefined, undefined, 1, 2]);
  });

  it('fillGap() recovers a lost publish with nothing after it (the Redis reconnect path)', async () => {
    const log = createFakeLog([event(1)]);
    const { socket, stream } = await startStream(log);
    // Committed while the bus was away: no later event will reveal the gap.
    log.append(event(2), event(3));
    await vi.advanceTimersByTimeAsync(GAP_WAIT_MS * 5);
    expect(socket.seqs()).toEqual([]);

    await stream.fillGap();
    await flush();
    expect(socket.seqs()).toEqual([2, 3]);
    expect(stream.position).toBe(3);

    // A late publish of what was filled is a duplicate.
    await bus.publish(TOPIC, JSON.stringify(event(3)));
    await flush();
    expect(socket.seqs()).toEqual([2, 3]);

    // Nothing missing: a fill delivers nothing.
    await stream.fillGap();
    await flush();
    expect(socket.seqs()).toEqual([2, 3]);
  });

  it('fillGap() pages through a long backlog in order', async () => {
    const log = createFakeLog();
    const { socket } = await startStream(log);
    const backlog = Array.from({ length: 1_203 }, (_, i) => event(i + 1));
    log.append(...backlog);
    await streams[0]!.fillGap();
    await flush();
    expect(socket.seqs()).toEqual(backlog.map((e) => e.seq));
    expect(log.calls.length).toBeGreaterThanOrEqual(3);
  });

  it('goes on past events retention pruned while it was behind, a long log after them too', async () => {
    const log = createFakeLog([1, 2, 3, 4, 5].map((seq) => event(seq)));
    const errors: unknown[] = [];
    const { socket, stream } = await startStream(log, { onError: (e) => errors.push(e) });
    // 6..1205 committed but never published here; 1..100 pruned before anything revealed the gap.
    log.append(...Array.from({ length: 1_200 }, (_, i) => event(i + 6)));
    log.prune(100);
    await commitAndPublish(log, event(1_206));
    await vi.advanceTimersByTimeAsync(GAP_WAIT_MS);
    await flush();

    // 6..100 are gone for good: the socket gets a jump to 101, then everything in order.
    expect(socket.seqs()).toEqual(Array.from({ length: 1_106 }, (_, i) => i + 101));
    expect(stream.position).toBe(1_206);
    expect(errors).toHaveLength(1);
    expect(String(errors[0])).toMatch(/events 6\.\.100 were pruned/);
    // Three pages of 500, each read once.
    expect(log.calls.map((c) => c.afterSeq)).toEqual([5, 600, 1_100]);

    await commitAndPublish(log, event(1_207));
    expect(socket.seqs().at(-1)).toBe(1_207);
    await vi.advanceTimersByTimeAsync(GAP_WAIT_MS * 5);
    expect(log.calls).toHaveLength(3);
  });

  it('goes on past a short pruned stretch, and fillGap() (the reconnect path) does too', async () => {
    const log = createFakeLog([event(1), event(2)]);
    const errors: unknown[] = [];
    const { socket, stream } = await startStream(log, { onError: (e) => errors.push(e) });
    log.append(event(3), event(4), event(5), event(6));
    log.prune(4);
    await commitAndPublish(log, event(7));
    await vi.advanceTimersByTimeAsync(GAP_WAIT_MS);
    await flush();
    expect(socket.seqs()).toEqual([5, 6, 7]);
    expect(errors).toHaveLength(1);

    // Nothing pending: only a fill after a reconnection can notice.
    log.append(event(8), event(9), event(10));
    log.prune(8);
    await stream.fillGap();
    await flush();
    expect(socket.seqs()).toEqual([5, 6, 7, 9, 10]);
    expect(stream.position).toBe(10);
    expect(errors).toHaveLength(2);
  });

  it('waits at a hole the log does not fill yet, with a long log after it, reading it once per wait', async () => {
    const log = createFakeLog();
    const errors: unknown[] = [];
    const { socket } = await startStream(log, { onError: (e) => errors.push(e) });
    // 1 and 3..602 are in the log, 2 is not (yet): nothing may pass 1, and nothing was pruned.
    log.append(event(1), ...Array.from({ length: 600 }, (_, i) => event(i + 3)));
    await commitAndPublish(log, event(603));
    await vi.advanceTimersByTimeAsync(GAP_WAIT_MS);
    await flush();
    expect(socket.seqs()).toEqual([1]);
    expect(log.calls).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(GAP_WAIT_MS);
    await flush();
    expect(log.calls).toHaveLength(2);
    expect(errors).toEqual([]);

    log.append(event(2));
    await vi.advanceTimersByTimeAsync(GAP_WAIT_MS);
    await flush();
    expect(socket.seqs()).toEqual(Array.from({ length: 603 }, (_, i) => i + 1));
  });

  it('does nothing on fillGap() before it has started', async () => {
    const log = createFakeLog([event(1)]);
    const stream = new ChannelStream(CHANNEL, bus, log.reader, { gapWaitMs: GAP_WAIT_MS });
    await stream.fillGap();
    await flush();
    expect(log.calls).toEqual([]);
  });

  it('reports a failed log read and fills the gap on a later attempt', async () => {
    const log = createFakeLog();
    const errors: unknown[] = [];
    const { socket, stream } = await startStream(log, { onError: (e) => errors.push(e) });
    log.append(event(1));
    log.failNextReads(1);
    await commitAndPublish(log, event(2));
    await vi.advanceTimersByTimeAsync(GAP_WAIT_MS);
    await flush();
    expect(errors).toHaveLength(1);
    expect(socket.seqs()).toEqual([]);
    // The stream does not give up on the held event: it tries again.
    await vi.advanceTimersByTimeAsync(GAP_WAIT_MS);
    await flush();
    expect(socket.seqs()).toEqual([1, 2]);
    expect(stream.position).toBe(2);
  });

  it('reports an unparseable bus message and carries on', async () => {
    const log = createFakeLog();
    const errors: unknown[] = [];
    const { socket } = await startStream(log, { onError: (e) => errors.push(e) });
    await bus.publish(TOPIC, '{not json');
    await commitAndPublish(log, event(1));
    expect(errors).toHaveLength(1);
    expect(socket.seqs()).toEqual([1]);
  });

  it('encodes each event once: every socket gets the same bytes, the published ones', async () => {
    const log = createFakeLog();
    const { stream, socket } = await startStream(log);
    const other = createRecordingConnection();
    stream.connections.add(other.connection);
    const published = JSON.stringify(event(1));
    log.append(event(1));
    await bus.publish(TOPIC, published);
    await flush();
    expect(socket.deliveries[0]!.bytes).toBe(other.deliveries[0]!.bytes);
    expect(socket.deliveries[0]!.bytes.toString('utf8')).toBe(published);
  });

  it('calls onEvent once per forwarded event, in order', async () => {
    const log = createFakeLog();
    const seen: Array<number | undefined> = [];
    await startStream(log, { onEvent: (e) => seen.push(e.seq) });
    log.append(event(1), event(2), event(3));
    for (const seq of [2, 3, 2, 1]) await bus.publish(TOPIC, JSON.stringify(event(seq)));
    await flush();
    expect(seen).toEqual([1, 2, 3]);
  });

  it('subscribes once however often start() is called', async () => {
    const log = createFakeLog();
    const subscribe = vi.spyOn(bus, 'subscribe');
    const stream = new ChannelStream(CHANNEL, bus, log.reader, { gapWaitMs: GAP_WAIT_MS });
    streams.push(stream);
    await Promise.all([stream.start(TOPIC), stream.start(TOPIC)]);
    await stream.start(TOPIC);
    expect(subscribe).toHaveBeenCalledTimes(1);
    expect(log.reader.lastSeq).toHaveBeenCalledTimes(1);
  });

  it('stops: no more deliveries, and a pending gap is not filled', async () => {
    const log = createFakeLog();
    const { stream, socket } = await startStream(log);
    log.append(event(1));
    await commitAndPublish(log, event(2));
    await stream.stop();
    await vi.advanceTimersByTimeAsync(GAP_WAIT_MS * 3);
    await commitAndPublish(log, event(3));
    expect(socket.deliveries).toEqual([]);
    expect(log.calls).toEqual([]);
  });

  it('stopped while its subscribe is still pending: unsubscribes once it completes and forwards nothing', async () => {
    const log = createFakeLog([event(1)]);
    let releaseSubscribe!: () => void;
    const subscribed = new Promise<void>((resolve) => (releaseSubscribe = resolve));
    const unsubscribe = vi.fn(async () => undefined);
    let handler: ((message: string) => void) | undefined;
    const slowBus: Pick<Bus, 'subscribe'> = {
      async subscribe(_topic, onMessage) {
        handler = onMessage;
        await subscribed;
        return unsubscribe;
      },
    };
    const stream = new ChannelStream(CHANNEL, slowBus, log.reader, { gapWaitMs: GAP_WAIT_MS });
    const socket = createRecordingConnection();
    stream.connections.add(socket.connection);
    const starting = stream.start(TOPIC);
    // The last socket leaves (the gateway stops the stream) before the subscription is in place.
    await stream.stop();
    expect(unsubscribe).not.toHaveBeenCalled();
    releaseSubscribe();
    await starting;
    // Nobody else holds this stream any more: it must let go of the topic by itself.
    expect(unsubscribe).toHaveBeenCalledTimes(1);
    handler!(JSON.stringify(event(2)));
    await flush();
    expect(socket.deliveries).toEqual([]);
    expect(log.calls).toEqual([]);
  });

  it('a gap that closes by itself cancels its log read', async () => {
    const log = createFakeLog();
    const { socket } = await startStream(log);
    log.append(event(1), event(2));
    await bus.publish(TOPIC, JSON.stringify(event(2)));
    await flush();
    await bus.publish(TOPIC, JSON.stringify(event(1)));
    await flush();
    await vi.advanceTimersByTimeAsync(GAP_WAIT_MS * 3);
    expect(socket.seqs()).toEqual([1, 2]);
    expect(log.calls).toEqual([]);
  });

  it('redacts hidden messages in a second encoding, leaving visible ones alone', () => {
    const hidden = event(1, {
      payload: { id: 'm1', conteudo: 'secret', hidden_at: '2025-01-01T00:00:00.000Z' },
    });
    const encoded = messagesPolicy.encode(typed(hidden));
    expect(JSON.parse(encoded.bytes.toString('utf8'))).toEqual(hidden);
    expect(JSON.parse(encoded.redacted!.toString('utf8'))).toEqual({
      ...hidden,
      payload: { id: 'm1', conteudo: '', conteudo_cifrado: null, hidden_at: '2025-01-01T00:00:00.000Z' },
    });
    expect(
      messagesPolicy.encode(typed(event(2, { payload: { id: 'm2', hidden_at: null } }))).redacted,
    ).toBeUndefined();
    expect(
      messagesPolicy.encode(typed(event(3, { payload: { id: 'm3', hidden_at: null } }))).redacted,
    ).toBeUndefined();
  });
});

describe('ChannelStream feeding a real Connection', () => {
  /** Just enough of a ws socket for Connection: open, with an empty send buffer. */
  function createFakeSocket() {
    const sent: string[] = [];
    const socket = {
      OPEN: 1,
      readyState: 1,
      bufferedAmount: 0,
      send: (bytes: Buffer) => sent.push(bytes.toString('utf8')),
      close: () => undefined,
      terminate: () => undefined,
    } as unknown as WebSocket;
    return { socket, sent, seqs: () => sent.map((text) => (JSON.parse(text) as StreamEvent).seq) };
  }
  const user = (isStaff: boolean) => ({
    id: 'u1',
    username: 'u1',
    email: 'u1@example.test',
    isStaff,
    isModerator: isStaff,
  });

  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
  });
  afterEach(() => {
    vi.useRealTimers();
    vi.restoreAllMocks();
  });

  async function startStreamWith(initial: StreamEvent[] = [], onEvent?: (e: StreamEvent) => void) {
    const bus = createMemoryBus();
    const log = createFakeLog(initial);
    const stream = new ChannelStream(CHANNEL, bus, log.reader, {
      gapWaitMs: GAP_WAIT_MS,
      onEvent: onEvent as ((e: unknown) => void) | undefined,
      policy: messagesPolicy,
    });
    await stream.start(TOPIC);
    return { bus, log, stream };
  }

  /** A live socket on the stream (past its replay). */
  function attachLive(stream: ChannelStream, socket: WebSocket, isStaff = false) {
    const connection = new Connection(socket, user(isStaff), {
      maxBufferedBytes: 1_000_000,
      viewer: { id: 'u1', isModerator: isStaff },
    });
    connection.release();
    stream.connections.add(connection);
    return connection;
  }

  it('a socket replaying its backlog gets the backlog, then queued live events, each once and in order', async () => {
    const { bus, log, stream } = await startStreamWith([event(1), event(2)]);
    const fake = createFakeSocket();
    const connection = new Connection(fake.socket, user(false), { maxBufferedBytes: 1_000_000 });
    stream.connections.add(connection);

    // Live events arrive while the backlog (since=0) is being read: they are queued.
    log.append(event(3), event(4));
    await bus.publish(TOPIC, JSON.stringify(event(3)));
    await bus.publish(TOPIC, JSON.stringify(event(4)));
    await flush();
    expect(fake.sent).toEqual([]);

    // The replay read the log after 3 had committed, so it overlaps the queue.
    for (const e of (await log.reader.listAfter(CHANNEL, 0, 500)).slice(0, 3))
      connection.sendEvent(encodeEvent(e));
    connection.release();
    await commitAndPublishTo(bus, log, event(5));
    expect(fake.seqs()).toEqual([1, 2, 3, 4, 5]);
    await stream.stop();
  });

  it('non-staff sockets get the redacted copy of a hidden message, staff the original', async () => {
    const { bus, log, stream } = await startStreamWith();
    const member = createFakeSocket();
    const staff = createFakeSocket();
    attachLive(stream, member.socket);
    attachLive(stream, staff.socket, true);
    const hidden = event(1, {
      payload: { id: 'm1', conteudo: 'segredo', hidden_at: '2025-01-01T00:00:00.000Z' },
    });
    await commitAndPublishTo(bus, log, hidden);
    expect((JSON.parse(member.sent[0]!) as StreamEvent).payload?.conteudo).toBe('');
    expect((JSON.parse(staff.sent[0]!) as StreamEvent).payload?.conteudo).toBe('segredo');
    await stream.stop();
  });

  it("a message held as spam: its sender's sockets get it as sent, others redacted, staff the original", async () => {
    const { bus, log, stream } = await startStreamWith();
    const sockets = {
      sender: { fake: createFakeSocket(), id: 'spammer', isStaff: false },
      member: { fake: createFakeSocket(), id: 'member', isStaff: false },
      staff: { fake: createFakeSocket(), id: 'staff', isStaff: true },
    };
    for (const { fake, id, isStaff } of Object.values(sockets)) {
      const connection = new Connection(fake.socket, user(isStaff), {
        maxBufferedBytes: 1_000_000,
        viewer: { id, isModerator: isStaff },
      });
      connection.release();
      stream.connections.add(connection);
    }
    const hiddenAt = '2025-01-01T00:00:00.000Z';
    const spam = event(1, {
      payload: {
        id: 'm1',
        conteudo: 'buy',
        conteudo_cifrado: null,
        hidden_at: hiddenAt,
        is_spam: true,
        remetente: { id: 'spammer', username: 'spammer' },
      },
    });
    await commitAndPublishTo(bus, log, spam);
    const payloadOf = (name: keyof typeof sockets) =>
      (JSON.parse(sockets[name].fake.sent[0]!) as StreamEvent).payload;
    expect(payloadOf('sender')).toMatchObject({ conteudo: 'buy', hidden_at: null, is_spam: false });
    expect(payloadOf('member')).toMatchObject({ conteudo: '', hidden_at: hiddenAt, is_spam: true });
    expect(payloadOf('staff')).toMatchObject({ conteudo: 'buy', hidden_at: hiddenAt, is_spam: true });
    // A message hidden by flags has no copy for its author.
    const flagged = { ...spam.payload, is_spam: false };
    expect(messagesPolicy.encode(typed(event(2, { payload: flagged }))).personal).toBeUndefined();
    await stream.stop();
  });

  /**
   * A socket whose raw TCP side counts writes: frames sent while corked leave in one write. Each
   * send costs `sendMs` of the (mocked) clock the bus slices its deliveries by, as a fan-out to
   * many sockets would.
   */
  function createCountingSocket(sendMs = 0) {
    const writes: string[][] = [];
    let corks = 0;
    let corked: string[] = [];
    const socket = {
      OPEN: 1,
      readyState: 1,
      bufferedAmount: 0,
      send: (bytes: Buffer) => {
        clock += sendMs;
        if (corks > 0) corked.push(bytes.toString('utf8'));
        else writes.push([bytes.toString('utf8')]);
      },
      close: () => {
        socket.readyState = 2;
      },
      terminate: () => undefined,
      _socket: {
        cork: () => {
          corks += 1;
        },
        uncork: () => {
          corks -= 1;
          if (corks === 0 && corked.length > 0) {
            writes.push(corked);
            corked = [];
          }
        },
      },
    };
    const seqsOf = (write: string[]) => write.map((text) => (JSON.parse(text) as StreamEvent).seq);
    return { socket: socket as unknown as WebSocket, writes, writeSeqs: () => writes.map(seqsOf) };
  }

  let clock = 0;
  // As many sockets as make a stream hand out its events in batches (a channel with many members
  // on this node); fewer get each event at once.
  const MANY = 64;

  async function startLargeStream(sendMs: number, onEvent?: (e: StreamEvent) => void) {
    vi.spyOn(performance, 'now').mockImplementation(() => clock);
    const { bus, log, stream } = await startStreamWith([], onEvent);
    const fakes = Array.from({ length: MANY }, () => createCountingSocket(sendMs));
    const connections = fakes.map((fake) => attachLive(stream, fake.socket));
    return { bus, log, stream, fakes, connections };
  }

  it('a burst of events (one group write) reaches each socket in one write, even when its fan-out outlasts a bus slice', async () => {
    // 64 sockets at 0.05 ms a send: 3.2 ms an event. Without the stream's own batching the bus
    // would end its 2 ms slice after the first event, and each event would leave in its own write.
    const { bus, log, stream, fakes } = await startLargeStream(0.05);
    await commitAndPublishTo(bus, log, event(1), event(2), event(3));
    clock += 1_000;
    await commitAndPublishTo(bus, log, event(4));
    for (const fake of fakes) expect(fake.writeSeqs()).toEqual([[1, 2, 3], [4]]);
    await stream.stop();
  });

  it('paces a costly fan-out: what arrives soon after one waits, then leaves in one write; at rest nothing waits', async () => {
    // 64 sockets at 0.5 ms a send: the first fan-out costs 32 ms, so the next waits ≈ 29 ms.
    const { bus, log, stream, fakes } = await startLargeStream(0.5);
    await commitAndPublishTo(bus, log, event(1));
    for (const fake of fakes) expect(fake.writeSeqs()).toEqual([[1]]);

    await commitAndPublishTo(bus, log, event(2), event(3));
    await vi.advanceTimersByTimeAsync(20);
    for (const fake of fakes) expect(fake.writeSeqs()).toEqual([[1]]);
    await vi.advanceTimersByTimeAsync(10);
    for (const fake of fakes) expect(fake.writeSeqs()).toEqual([[1], [2, 3]]);

    // That fan-out cost 64 ms, but a wait never exceeds 40 ms.
    await commitAndPublishTo(bus, log, event(4));
    await vi.advanceTimersByTimeAsync(40);
    for (const fake of fakes) expect(fake.writeSeqs()).toEqual([[1], [2, 3], [4]]);

    // Long after the last fan-out, an event goes out at the next check phase.
    clock += 1_000;
    await commitAndPublishTo(bus, log, event(5));
    for (const fake of fakes) expect(fake.writeSeqs()).toEqual([[1], [2, 3], [4], [5]]);
    await stream.stop();
  });

  it('a removal inside a burst cuts the socket before anything that came after it', async () => {
    const removed: { connection?: Connection } = {};
    // What the gateway does with a removal: it closes the removed user's sockets.
    const { bus, log, stream, fakes, connections } = await startLargeStream(0, (e) => {
      if (e.type === 'chat.participant') removed.connection!.close(4403, 'access revoked');
    });
    removed.connection = connections[0];
    await commitAndPublishTo(
      bus,
      log,
      event(1),
      event(2, { type: 'chat.participant', payload: { action: 'removed', user: { id: 'u1' } } }),
      event(3),
    );
    expect(fakes[0]!.writeSeqs()).toEqual([[1, 2]]);
    for (const fake of fakes.slice(1)) expect(fake.writeSeqs()).toEqual([[1, 2, 3]]);
    await stream.stop();
  });

  it("a sender's ack and its own message, published by the same write, leave in one socket write", async () => {
    const { bus, log, stream } = await startStreamWith();
    const fake = createCountingSocket();
    const sender = attachLive(stream, fake.socket);
    // As a send does: the write commits and publishes its event, then the handler answers.
    log.append(event(1));
    await bus.publish(TOPIC, JSON.stringify(event(1)));
    sender.sendReply({ type: 'ack', seq: 1 });
    await flush();
    expect(
      fake.writes.map((write) => write.map((text) => (JSON.parse(text) as { type: string }).type)),
    ).toEqual([['ack', 'chat.message']]);
    await stream.stop();
  });

  async function commitAndPublishTo(
    bus: Bus,
    log: ReturnType<typeof createFakeLog>,
    ...events: StreamEvent[]
  ) {
    log.append(...events);
    for (const e of events) await bus.publish(TOPIC, JSON.stringify(e));
    await flush();
  }
});
