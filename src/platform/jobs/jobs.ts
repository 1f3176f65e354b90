// Background jobs: a typed registry (job name → payload type → processor) and the runner interface
// its two adapters implement — inline (in this process; the embedded default) and BullMQ (Redis
// queues processed by `npm run worker`). It knows nothing about chat.
import type { Logger } from '../logger/logger.js';

/** What a processor learns about the run it is in. */
export type JobContext = {
  /** Stable across retries; periodic runs get one id per scheduled time. */
  jobId: string;
  /** 1 on the first try, 2 on the first retry, … */
  attempt: number;
};

/**
 * One kind of job. Processors must be idempotent: a job can run again after a crash, a lost lock
 * or a retry, and a periodic run can overlap the previous one's retries.
 */
export type JobDefinition<Name extends string = string, Payload = never> = {
  readonly name: Name;
  /** Jobs of one queue share its workers; a slow kind of job gets a queue of its own. */
  readonly queue: string;
  /** Overrides JOB_DEFAULTS for this kind of job. */
  readonly attempts?: number;
  readonly backoffMs?: number;
  readonly process: (payload: Payload, context: JobContext) => Promise<void>;
};
/** Any job definition (a processor of any payload is one of `never`). */
export type AnyJobDefinition = JobDefinition<string, never>;

/** The payload type of the job called `Name` among `Jobs`. */
export type JobPayload<Jobs extends AnyJobDefinition, Name extends Jobs['name']> =
  Extract<Jobs, { name: Name }> extends JobDefinition<Name, infer Payload> ? Payload : never;

export const DEFAULT_QUEUE = 'default';

/**
 * Retry, backoff and retention of every job, in one place (a definition may override attempts and
 * backoff). Exponential backoff: the n-th retry waits `backoffMs * 2^(n-1)` (1 s, 2 s, 4 s, 8 s).
 * Finished jobs are kept for the queue view, bounded so Redis does not grow without end.
 */
export const JOB_DEFAULTS = {
  attempts: 5,
  backoffMs: 1_000,
  keepCompleted: { count: 1_000, ageSeconds: 24 * 3600 },
  keepFailed: { count: 5_000, ageSeconds: 7 * 24 * 3600 },
} as const;

/** The wait before retry number `retry` (1 = first retry): BullMQ's exponential strategy, no jitter. */
export function backoffDelayMs(retry: number, backoffMs: number): number {
  return Math.round(2 ** (retry - 1) * backoffMs);
}

/** Declares a kind of job; its payload type is the processor's first parameter. */
export function defineJob<const Name extends string, Payload>(definition: {
  name: Name;
  queue?: string;
  attempts?: number;
  backoffMs?: number;
  process: (payload: Payload, context: JobContext) => Promise<void>;
}): JobDefinition<Name, Payload> {
  return { ...definition, queue: definition.queue ?? DEFAULT_QUEUE };
}

/** Every job the process knows, by name; `Jobs` carries their names and payload types. */
export type JobRegistry<Jobs extends AnyJobDefinition = AnyJobDefinition> = {
  readonly definitions: ReadonlyMap<string, AnyJobDefinition>;
  /** Queue names, each once, in the order their first job was declared. */
  readonly queues: readonly string[];
  /** Type-level only: the union of the registered definitions. */
  readonly jobs?: Jobs;
};

export function createJobRegistry<const Definitions extends readonly AnyJobDefinition[]>(
  definitions: Definitions,
): JobRegistry<Definitions[number]> {
  const byName = new Map<string, AnyJobDefinition>();
  for (const definition of definitions) {
    if (byName.has(definition.name)) throw new Error(`job "${definition.name}" is defined twice`);
    // BullMQ refuses ':' in queue names (it separates the parts of its keys).
    if (definition.queue.includes(':')) throw new Error(`queue "${definition.queue}" may not contain ':'`);
    byName.set(definition.name, definition);
  }
  return { definitions: byName, queues: [...new Set(definitions.map((definition) => definition.queue))] };
}

/** The definition of `name`, or an error naming it (a name the registry does not know is a bug). */
export function findJob(registry: JobRegistry, name: string): AnyJobDefinition {
  const definition = registry.definitions.get(name);
  if (!definition) throw new Error(`unknown job "${name}"`);
  return definition;
}

/** The job queues cannot be reached (Redis down or not answering in time). */
export class JobsUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'JobsUnavailableError';
  }
}

export const JOB_STATES = ['waiting', 'active', 'delayed', 'completed', 'failed', 'paused'] as const;
export type JobState = (typeof JOB_STATES)[number];
export type QueueCounts = { queue: string; counts: Record<JobState, number> };

export type EnqueueOptions = {
  /** A job whose id is already known (waiting, active, delayed or kept) is not added again. */
  jobId?: string;
};

export type JobRunner<Jobs extends AnyJobDefinition = AnyJobDefinition> = {
  readonly mode: 'inline' | 'bullmq';
  /**
   * Adds a job. Call it after the transaction that makes the job necessary has committed (a job
   * enqueued inside it could run before, or without, the commit). Rejects with
   * JobsUnavailableError when Redis does not answer in time (the job may still be added once it
   * does: give a jobId to make a retry harmless).
   */
  enqueue<Name extends Jobs['name']>(
    name: Name,
    payload: JobPayload<Jobs, Name>,
    options?: EnqueueOptions,
  ): Promise<void>;
  /**
   * Runs `name` now and then every `everyMs`, once per period across every process. Takes effect
   * on start() (the API process of a BullMQ deployment never starts its runner: the worker does).
   */
  schedule<Name extends Jobs['name']>(
    name: Name,
    options: { everyMs: number; payload: JobPayload<Jobs, Name> },
  ): void;
  /** Begins processing (and the schedules). */
  start(): Promise<void>;
  /** Jobs per queue and state (kept finished jobs are bounded by JOB_DEFAULTS); may reject like enqueue. */
  counts(): Promise<QueueCounts[]>;
  /**
   * Stops taking jobs and waits for the active ones up to `graceMs`; after that they are left to
   * be retried (BullMQ: by another worker once their lock expires).
   */
  close(options?: { graceMs?: number }): Promise<void>;
};

export type JobsLogger = Pick<Logger, 'debug' | 'info' | 'warn' | 'error'>;

/** How jobs are processed: per queue, by this process or by each worker. */
export type JobProcessingSettings = {
  concurrency: number;
  /** BullMQ: how long a worker's lock on an active job lasts before it counts as stalled. */
  lockDurationMs: number;
  /** BullMQ: how often workers look for stalled jobs (whose worker died) to retry them. */
  stalledIntervalMs: number;
};
