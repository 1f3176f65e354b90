import type { ConnectionKind } from './connection.js';

/** What the gateway reports; the composition root passes the metrics registry's instruments. */
export type RealtimeMetrics = {
  socketOpened(kind: ConnectionKind): void;
  socketClosed(kind: ConnectionKind): void;
  /** Event frames handed to sockets. */
  eventsDelivered(count: number): void;
  /** From a send frame's arrival to its ack. */
  observeSendAck(seconds: number): void;
  /** From a persisted event's commit (its `created_at`) to its hand-out on this node. */
  observeCommitToDelivery(seconds: number): void;
};

export const noRealtimeMetrics: RealtimeMetrics = {
  socketOpened: () => undefined,
  socketClosed: () => undefined,
  eventsDelivered: () => undefined,
  observeSendAck: () => undefined,
  observeCommitToDelivery: () => undefined,
};
