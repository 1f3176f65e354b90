import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

// Prometheus instruments of one process. Each app owns its registry (tests build many apps in one
// process, and prom-client's global registry refuses a metric name twice). The hot-path methods
// take plain numbers and use label children made once, so a call costs no label object.

export type SocketKind = 'channel' | 'notifications';
export type BusConnection = 'publisher' | 'subscriber';
export type JobCount = { queue: string; state: string; count: number };
/** Reads the number of jobs per queue and state when Prometheus scrapes. */
export type JobCountsSource = () => Promise<JobCount[]>;

/** Send → ack and commit → delivery: a chat answers in milliseconds; seconds are already bad. */
const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
/** HTTP also has password hashing (≈ 0.1 s) and slow reads, so one bucket more. */
const HTTP_BUCKETS = [...LATENCY_BUCKETS, 10];
/** A scrape must answer even when the jobs backend (Redis) does not. */
const JOB_COUNTS_TIMEOUT_MS = 2_000;
/** The one `route` label of requests that matched no route: raw URLs would be unbounded. */
export const UNMATCHED_ROUTE = 'unmatched';
const HTTP_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms);
    timer.unref();
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export function createMetrics(
  options: {
    /**
     * Process metrics (CPU, memory, event-loop lag, GC). They start monitors that live as long as
     * the process, so they are only collected where they are served.
     */
    collectProcessMetrics?: boolean;
    /** Gets what a scrape-time source threw (the scrape goes on without that metric). */
    onCollectError?: (error: unknown) => void;
    /** How long a scrape waits for the job counts (tests shorten it). */
    jobCountsTimeoutMs?: number;
  } = {},
) {
  const registry = new Registry();
  const registers = [registry];
  if (options.collectProcessMetrics) collectDefaultMetrics({ register: registry });
  const onCollectError = options.onCollectError ?? (() => undefined);
  const jobCountsTimeoutMs = options.jobCountsTimeoutMs ?? JOB_COUNTS_TIMEOUT_MS;

  const connections = new Gauge({
    name: 'hubx_websocket_connections',
    help: 'Open WebSocket connections on this process, by kind (channel or notifications).',
    labelNames: ['kind'] as const,
    registers,
  });
  const channelSockets = connections.labels('channel');
  const notificationSockets = connections.labels('notifications');
  channelSockets.set(0);
  notificationSockets.set(0);

  const messagesWritten = new Counter({
    name: 'hubx_messages_written_total',
    help: 'Messages stored by sends on this process (REST and WebSocket; idempotent retries excluded).',
    registers,
  });
  const eventsDelivered = new Counter({
    name: 'hubx_events_delivered_total',
    help: 'Event frames written to WebSocket connections by this process.',
    registers,
  });
  const sendAck = new Histogram({
    name: 'hubx_send_ack_seconds',
    help: 'From a send frame arriving on a socket to its ack being written.',
    buckets: LATENCY_BUCKETS,
    registers,
  });
  const commitToDelivery = new Histogram({
    name: 'hubx_commit_to_delivery_seconds',
    help: "From an event's commit (its created_at) to its hand-out to this process's sockets.",
    buckets: LATENCY_BUCKETS,
    registers,
  });

  const busReconnects = new Counter({
    name: 'hubx_bus_reconnects_total',
    help: 'Reconnections of the Redis bus connections, by connection (publisher or subscriber).',
    labelNames: ['connection'] as const,
    registers,
  });
  const busReconnectChildren: Record<BusConnection, { inc(value?: number): void }> = {
    publisher: busReconnects.labels('publisher'),
    subscriber: busReconnects.labels('subscriber'),
  };
  busReconnectChildren.publisher.inc(0);
  busReconnectChildren.subscriber.inc(0);
  let readBusBacklog: (() => number) | undefined;
  const busBacklog = new Gauge({
    name: 'hubx_bus_publish_backlog',
    help: 'Messages the Redis bus holds to publish once Redis is back (0 without Redis).',
    registers,
    collect() {
      busBacklog.set(readBusBacklog?.() ?? 0);
    },
  });

  const httpRequests = new Counter({
    name: 'hubx_http_requests_total',
    help: `HTTP responses by method, route pattern ("${UNMATCHED_ROUTE}" when none matched) and status.`,
    labelNames: ['method', 'route', 'status'] as const,
    registers,
  });
  const httpDuration = new Histogram({
    name: 'hubx_http_request_duration_seconds',
    help: 'Time from an HTTP request arriving to its response being sent, by method, route and status.',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: HTTP_BUCKETS,
    registers,
  });
  type HttpChildren = { count: { inc(): void }; duration: { observe(value: number): void } };
  // route → method → status → children; each key set is bounded (route patterns, methods, codes).
  const httpChildren = new Map<string, Map<string, Map<number, HttpChildren>>>();
  function httpChildrenOf(method: string, route: string, status: number): HttpChildren {
    let byMethod = httpChildren.get(route);
    if (!byMethod) httpChildren.set(route, (byMethod = new Map()));
    let byStatus = byMethod.get(method);
    if (!byStatus) byMethod.set(method, (byStatus = new Map()));
    let children = byStatus.get(status);
    if (!children) {
      const labels = [method, route, String(status)] as const;
      children = { count: httpRequests.labels(...labels), duration: httpDuration.labels(...labels) };
      byStatus.set(status, children);
    }
    return children;
  }

  let jobCountsSource: JobCountsSource | undefined;
  const jobs = new Gauge({
    name: 'hubx_jobs',
    help: 'Jobs per queue and state, read from the jobs backend at scrape time.',
    labelNames: ['queue', 'state'] as const,
    registers,
    async collect() {
      if (!jobCountsSource) return;
      let counts: JobCount[];
      try {
        counts = await withTimeout(jobCountsSource(), jobCountsTimeoutMs, 'reading job counts');
      } catch (error) {
        // No stale numbers: a scrape that could not read the counts shows none.
        jobs.reset();
        onCollectError(error);
        return;
      }
      // Queues and states that disappeared leave no series behind.
      jobs.reset();
      for (const { queue, state, count } of counts) jobs.set({ queue, state }, count);
    },
  });

  return {
    registry,
    /** `text/plain; version=0.0.4; charset=utf-8`. */
    contentType: registry.contentType,
    /** Every metric in the Prometheus text format (runs the scrape-time sources). */
    render: () => registry.metrics(),

    // The WebSocket gateway.
    socketOpened(kind: SocketKind) {
      (kind === 'channel' ? channelSockets : notificationSockets).inc();
    },
    socketClosed(kind: SocketKind) {
      (kind === 'channel' ? channelSockets : notificationSockets).dec();
    },
    /** Event frames written to sockets (one per event per socket). */
    eventsDelivered(count: number) {
      if (count > 0) eventsDelivered.inc(count);
    },
    observeSendAck(seconds: number) {
      sendAck.observe(Math.max(0, seconds));
    },
    /** Clocks of different nodes may disagree by a little: a negative time counts as 0. */
    observeCommitToDelivery(seconds: number) {
      commitToDelivery.observe(Math.max(0, seconds));
    },

    // The messages service.
    messagesWritten(count: number) {
      if (count > 0) messagesWritten.inc(count);
    },

    // The bus.
    busReconnected(connection: BusConnection) {
      busReconnectChildren[connection].inc();
    },
    /** Where the backlog gauge reads from at scrape time (the Redis bus's unsent messages). */
    setBusBacklogSource(read: (() => number) | undefined) {
      readBusBacklog = read;
    },

    // HTTP (the metrics plugin's onResponse hook).
    observeHttpRequest(request: {
      method: string;
      route: string | undefined;
      status: number;
      seconds: number;
    }) {
      const method = HTTP_METHODS.has(request.method) ? request.method : 'OTHER';
      const children = httpChildrenOf(method, request.route ?? UNMATCHED_ROUTE, request.status);
      children.count.inc();
      children.duration.observe(request.seconds);
    },

    // Jobs.
    /** Where the jobs gauge reads from at scrape time; without one it reports nothing. */
    setJobCountsSource(source: JobCountsSource | undefined) {
      jobCountsSource = source;
    },
  };
}
export type Metrics = ReturnType<typeof createMetrics>;

/** What the WebSocket gateway reports. */
export type GatewayMetrics = Pick<
  Metrics,
  'socketOpened' | 'socketClosed' | 'eventsDelivered' | 'observeSendAck' | 'observeCommitToDelivery'
>;
