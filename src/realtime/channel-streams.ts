import type { Bus } from '../platform/bus/bus.js';
import type { Logger } from '../platform/logger/logger.js';
import type { StreamEvent } from '../shared/events.js';
import { ChannelStream, type EventLogReader } from './channel-stream.js';
import type { EventPolicy } from './event-policy.js';

/** Told of every event a stream of this node hands out, after its sockets got it. */
export type StreamObserver = (stream: ChannelStream, event: StreamEvent) => void;

/**
 * This node's channel streams: one per channel that something here follows (a channel socket or
 * a notification socket), started with the first holder and stopped with the last.
 */
export function createChannelStreams(deps: {
  bus: Pick<Bus, 'subscribe'>;
  eventLog: EventLogReader;
  policy: EventPolicy;
  gapWaitMs: number;
  logger: Pick<Logger, 'warn'>;
}) {
  const streams = new Map<string, ChannelStream>();
  const holders = new Map<string, Set<object>>();
  const observers: StreamObserver[] = [];

  function releaseIfIdle(channelId: string) {
    const stream = streams.get(channelId);
    if (!stream || (holders.get(channelId)?.size ?? 0) > 0) return;
    streams.delete(channelId);
    void stream.stop().catch((error: unknown) => deps.logger.warn({ err: error }, 'stream stop failed'));
  }

  return {
    observe(observer: StreamObserver) {
      observers.push(observer);
    },

    /**
     * Makes `holder` follow the channel: starts (or waits for) its stream and calls `join` with it
     * in the same tick as it is found current. Undefined when the holder let go meanwhile. A stream
     * whose last holder left while it was starting is stopped and out of the map by then: the
     * next one is started, rather than joining one that will never deliver.
     */
    async acquire(
      channelId: string,
      holder: object,
      join: (stream: ChannelStream) => void = () => undefined,
    ): Promise<ChannelStream | undefined> {
      let set = holders.get(channelId);
      if (!set) holders.set(channelId, (set = new Set()));
      set.add(holder);
      for (;;) {
        let stream = streams.get(channelId);
        if (!stream) {
          const created = new ChannelStream(channelId, deps.bus, deps.eventLog, {
            gapWaitMs: deps.gapWaitMs,
            policy: deps.policy,
            onEvent: (event) => observers.forEach((observer) => observer(created, event)),
            onError: (error) => deps.logger.warn({ err: error, channelId }, 'channel stream error'),
          });
          streams.set(channelId, (stream = created));
        }
        await stream.start();
        if (!holders.get(channelId)?.has(holder)) {
          releaseIfIdle(channelId);
          return undefined;
        }
        if (streams.get(channelId) !== stream) continue;
        join(stream);
        return stream;
      }
    },

    /** `holder` stops following the channel (its sockets leave the stream too). */
    release(channelId: string, holder: object) {
      const set = holders.get(channelId);
      set?.delete(holder);
      if (set?.size === 0) holders.delete(channelId);
      releaseIfIdle(channelId);
    },

    holds: (channelId: string, holder: object) => holders.get(channelId)?.has(holder) ?? false,

    /** After a bus reconnection: every stream reads what it missed from the log. */
    fillGaps() {
      for (const stream of streams.values()) void stream.fillGap();
    },

    async stopAll() {
      await Promise.all([...streams.values()].map((stream) => stream.stop()));
      streams.clear();
      holders.clear();
    },
  };
}
export type ChannelStreams = ReturnType<typeof createChannelStreams>;
