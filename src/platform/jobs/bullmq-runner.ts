import { Queue, Worker, type Job, type JobsOptions } from 'bullmq';
import {
  findJob,
  JOB_DEFAULTS,
  JobsUnavailableError,
  type AnyJobDefinition,
  type JobProcessingSettings,
  type JobRegistry,
  type JobRunner,
  type JobsLogger,
  type QueueCounts,
} from './jobs.js';

/** Retry, backoff and retention of one kind of job, from JOB_DEFAULTS and its overrides. */
function jobOptions(definition: AnyJobDefinition): JobsOptions {
  return {
    attempts: definition.attempts ?? JOB_DEFAULTS.attempts,
    backoff: { type: 'exponential', delay: definition.backoffMs ?? JOB_DEFAULTS.backoffMs },
    removeOnComplete: {
      count: JOB_DEFAULTS.keepCompleted.count,
      age: JOB_DEFAULTS.keepCompleted.ageSeconds,
    },
    removeOnFail: { count: JOB_DEFAULTS.keepFailed.count, age: JOB_DEFAULTS.keepFailed.ageSeconds },
  };
}

/** Logs a recurring failure (Redis down) once per interval instead of once per attempt. */
function throttled(log: (error: unknown) => void, intervalMs = 10_000) {
  let last = 0;
  return (error: unknown) => {
    const now = Date.now();
    if (now - last < intervalMs) return;
    last = now;
    log(error);
  };
}

/** How long a caller (a request) waits for Redis before the job queues count as unavailable. */
const REDIS_WAIT_MS = 5_000;

/**
 * Jobs in Redis queues (BullMQ). Any process may enqueue and read counts; only a process that calls
 * start() — the worker — creates BullMQ Workers, which process jobs and upsert the schedules.
 * Queues are opened on first use, so an API process that never enqueues holds no extra connection.
 */
export function createBullmqJobRunner<Jobs extends AnyJobDefinition>(options: {
  registry: JobRegistry<Jobs>;
  redis: { url: string; prefix: string };
  settings: JobProcessingSettings;
  logger: JobsLogger;
  /** Tests: a shorter wait for Redis than REDIS_WAIT_MS. */
  redisWaitMs?: number;
}): JobRunner<Jobs> {
  const { registry, settings, logger } = options;
  // BullMQ puts `<prefix>:<queue>:…` in front of its keys; the deployment's REDIS_PREFIX comes first.
  const prefix = `${options.redis.prefix}jobs`;
  const queues = new Map<string, Queue>();
  const workers: Worker[] = [];
  const schedules: Array<{ name: string; everyMs: number; payload: unknown }> = [];
  let started = false;
  let closing: Promise<void> | undefined;
  const redisError = throttled((error) => logger.warn({ err: error }, 'job queue: redis unavailable'));

  const redisWaitMs = options.redisWaitMs ?? REDIS_WAIT_MS;

  /**
   * Once connected, a command fails at once while Redis is down (no offline queue), but BullMQ
   * waits for the first connection without a deadline: the caller gets one.
   */
  async function withinDeadline<T>(operation: Promise<T>, what: string): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(
        () => reject(new JobsUnavailableError(`${what}: Redis did not answer within ${redisWaitMs} ms`)),
        redisWaitMs,
      );
    });
    try {
      return await Promise.race([operation, deadline]);
    } catch (error) {
      throw error instanceof JobsUnavailableError
        ? error
        : new JobsUnavailableError(`${what}: ${String(error)}`);
    } finally {
      clearTimeout(timer);
    }
  }

  function queueFor(name: string): Queue {
    let queue = queues.get(name);
    if (!queue) {
      queue = new Queue(name, {
        prefix,
        // Fail fast when Redis is down instead of holding the caller (a request) until it is back.
        connection: { url: options.redis.url, enableOfflineQueue: false, maxRetriesPerRequest: 1 },
      });
      queue.on('error', redisError);
      queues.set(name, queue);
    }
    return queue;
  }

  async function processJob(job: Job) {
    const definition = findJob(registry, job.name);
    await definition.process(job.data as never, { jobId: job.id!, attempt: job.attemptsMade + 1 });
  }

  function startWorker(queue: string) {
    const worker = new Worker(queue, processJob, {
      prefix,
      connection: { url: options.redis.url },
      concurrency: settings.concurrency,
      lockDuration: settings.lockDurationMs,
      stalledInterval: settings.stalledIntervalMs,
      // A job whose worker died is retried once more from `wait`; a second stall fails it.
      maxStalledCount: 1,
    });
    worker.on('error', redisError);
    worker.on('completed', (job) => logger.debug({ job: job.name, jobId: job.id }, 'job completed'));
    worker.on('failed', (job, error) => {
      if (!job) return;
      const final = job.attemptsMade >= (job.opts.attempts ?? 1);
      logger[final ? 'error' : 'warn'](
        { err: error, job: job.name, jobId: job.id, attempt: job.attemptsMade },
        final ? 'job failed for good' : 'job failed; it will be retried',
      );
    });
    worker.on('stalled', (jobId) =>
      logger.warn({ jobId }, 'job stalled (its worker stopped renewing its lock); back in the queue'),
    );
    workers.push(worker);
  }

  async function upsertSchedules() {
    for (const { name, everyMs, payload } of schedules) {
      const definition = findJob(registry, name);
      // One scheduler per job name: every worker upserts the same one, and BullMQ makes one job
      // per period whatever the number of workers. (A schedule taken out of the code stays in
      // Redis until removed with Queue.removeJobScheduler: workers of several versions may run.)
      const { attempts, backoff, removeOnComplete, removeOnFail } = jobOptions(definition);
      await queueFor(definition.queue).upsertJobScheduler(
        name,
        { every: everyMs },
        { name, data: payload, opts: { attempts, backoff, removeOnComplete, removeOnFail } },
      );
    }
  }

  return {
    mode: 'bullmq',
    async enqueue(name, payload, enqueueOptions = {}) {
      if (closing) throw new Error(`job runner closed: cannot add "${name}"`);
      const definition = findJob(registry, name);
      await withinDeadline(
        queueFor(definition.queue).add(name, payload, {
          ...jobOptions(definition),
          ...(enqueueOptions.jobId === undefined ? {} : { jobId: enqueueOptions.jobId }),
        }),
        `enqueue ${name}`,
      );
    },
    schedule(name, { everyMs, payload }) {
      findJob(registry, name);
      schedules.push({ name, everyMs, payload });
      if (started && !closing) void upsertSchedules().catch(redisError);
    },
    async start() {
      if (started || closing) return;
      started = true;
      for (const queue of registry.queues) startWorker(queue);
      await upsertSchedules();
      await Promise.all(workers.map((worker) => worker.waitUntilReady()));
    },
    async counts(): Promise<QueueCounts[]> {
      return Promise.all(
        registry.queues.map(async (name) => {
          const queue = queueFor(name);
          const [counts, paused] = await withinDeadline(
            Promise.all([
              queue.getJobCounts('waiting', 'prioritized', 'active', 'delayed', 'completed', 'failed'),
              queue.isPaused(),
            ]),
            `count the jobs of ${name}`,
          );
          const count = (state: string) => counts[state] ?? 0;
          // BullMQ pauses a whole queue: its waiting jobs are then the paused ones.
          const waiting = count('waiting') + count('prioritized');
          return {
            queue: name,
            counts: {
              waiting: paused ? 0 : waiting,
              active: count('active'),
              delayed: count('delayed'),
              completed: count('completed'),
              failed: count('failed'),
              paused: paused ? waiting : 0,
            },
          };
        }),
      );
    },
    close({ graceMs } = {}) {
      closing ??= (async () => {
        // Workers first: each stops fetching and waits for its active jobs. A job still running at
        // the deadline keeps its lock until it expires; then another worker's stalled check
        // moves it back to `wait` and it runs again (processors are idempotent).
        const closed = Promise.all(workers.map((worker) => worker.close()));
        let timer: NodeJS.Timeout | undefined;
        const finished = await Promise.race([
          closed.then(() => true),
          ...(graceMs === undefined
            ? []
            : [new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), graceMs)))]),
        ]);
        clearTimeout(timer);
        if (!finished) {
          logger.warn('jobs still active at the shutdown deadline; they will be retried by another worker');
        }
        await Promise.all([...queues.values()].map((queue) => queue.close()));
      })();
      return closing;
    },
  };
}
