import type { ConnectionKind } from './connection.js';

/** What the gateway reports; the composition root connects it to the metrics registry. */
export type RealtimeMetrics = {
  socketOpened(kind: ConnectionKind): void;
  socketClosed(kind: ConnectionKind): void;
  /** Event frames handed to sockets. */
  eventsDelivered(count: number): void;
  /** From a send frame's arrival to its ack. */
  sendAcked(seconds: number): void;
  /** A persisted event handed out on this node; `createdAt` is its commit time. */
  eventHandedOut(createdAt: string): void;
};

export const noRealtimeMetrics: RealtimeMetrics = {
  socketOpened: () => undefined,
  socketClosed: () => undefined,
  eventsDelivered: () => undefined,
  sendAcked: () => undefined,
  eventHandedOut: () => undefined,
};
