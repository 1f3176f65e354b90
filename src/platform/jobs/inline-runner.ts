import {
  backoffDelayMs,
  findJob,
  JOB_DEFAULTS,
  type AnyJobDefinition,
  type EnqueueOptions,
  type JobProcessingSettings,
  type JobRegistry,
  type JobRunner,
  type JobsLogger,
  type QueueCounts,
} from './jobs.js';

type InlineJob = {
  id: string;
  definition: AnyJobDefinition;
  payload: unknown;
  /** Tries started so far. */
  attempts: number;
  state: 'waiting' | 'active' | 'delayed';
  retryTimer?: NodeJS.Timeout;
};

type InlineQueue = {
  waiting: InlineJob[];
  active: Set<Promise<void>>;
  delayed: Set<InlineJob>;
  /** Ids of finished jobs kept (oldest first), bounded like BullMQ's removeOnComplete/removeOnFail. */
  completed: string[];
  failed: string[];
};

let nextId = 0;

/**
 * The embedded runner: the same processors, retries and schedules as the worker, in this process.
 * Jobs live in memory only: waiting and delayed jobs are dropped at close (or lost in a crash);
 * the periodic ones run again on the next start, and every processor is idempotent.
 */
export function createInlineJobRunner<Jobs extends AnyJobDefinition>(options: {
  registry: JobRegistry<Jobs>;
  settings: Pick<JobProcessingSettings, 'concurrency'>;
  logger: JobsLogger;
}): JobRunner<Jobs> {
  const { registry, settings, logger } = options;
  const queues = new Map<string, InlineQueue>(
    registry.queues.map((name) => [
      name,
      { waiting: [], active: new Set(), delayed: new Set(), completed: [], failed: [] },
    ]),
  );
  /** Every job this runner still knows (live or kept), by id: the same id is not added twice. */
  const known = new Map<string, InlineJob | 'finished'>();
  const schedules: Array<{ name: string; everyMs: number; payload: unknown }> = [];
  const scheduleTimers: NodeJS.Timeout[] = [];
  let started = false;
  let closing = false;
  let closed: Promise<void> | undefined;

  const queueOf = (job: InlineJob) => queues.get(job.definition.queue)!;

  function keep(list: string[], id: string, bound: number) {
    list.push(id);
    known.set(id, 'finished');
    while (list.length > bound) known.delete(list.shift()!);
  }

  /** Starts as many waiting jobs as the queue's concurrency allows. */
  function pump(queue: InlineQueue) {
    while (started && !closing && queue.active.size < settings.concurrency && queue.waiting.length > 0) {
      const job = queue.waiting.shift()!;
      const running = run(job).finally(() => {
        queue.active.delete(running);
        pump(queue);
      });
      queue.active.add(running);
    }
  }

  async function run(job: InlineJob) {
    const { definition } = job;
    const queue = queueOf(job);
    job.state = 'active';
    job.attempts += 1;
    try {
      await definition.process(job.payload as never, { jobId: job.id, attempt: job.attempts });
      keep(queue.completed, job.id, JOB_DEFAULTS.keepCompleted.count);
      logger.debug({ job: definition.name, jobId: job.id }, 'job completed');
    } catch (error) {
      const attempts = definition.attempts ?? JOB_DEFAULTS.attempts;
      if (closing) {
        logger.warn(
          { err: error, job: definition.name, jobId: job.id, attempt: job.attempts },
          'job failed while the runner closed; it is not retried',
        );
        return;
      }
      if (job.attempts < attempts) {
        const delayMs = backoffDelayMs(job.attempts, definition.backoffMs ?? JOB_DEFAULTS.backoffMs);
        logger.warn(
          { err: error, job: definition.name, jobId: job.id, attempt: job.attempts, retryInMs: delayMs },
          'job failed; it will be retried',
        );
        job.state = 'delayed';
        queue.delayed.add(job);
        job.retryTimer = setTimeout(() => {
          queue.delayed.delete(job);
          job.state = 'waiting';
          queue.waiting.push(job);
          pump(queue);
        }, delayMs);
        job.retryTimer.unref();
        return;
      }
      keep(queue.failed, job.id, JOB_DEFAULTS.keepFailed.count);
      logger.error(
        { err: error, job: definition.name, jobId: job.id, attempt: job.attempts },
        'job failed for good',
      );
    }
  }

  function add(name: string, payload: unknown, enqueueOptions: EnqueueOptions = {}) {
    if (closing) throw new Error(`job runner closed: cannot add "${name}"`);
    const definition = findJob(registry, name);
    const id = enqueueOptions.jobId ?? `inline-${++nextId}`;
    if (known.has(id)) return;
    const job: InlineJob = { id, definition, payload, attempts: 0, state: 'waiting' };
    known.set(id, job);
    const queue = queueOf(job);
    queue.waiting.push(job);
    // Never inside the caller's stack: the processor runs after enqueue has returned.
    setImmediate(() => pump(queue));
  }

  function startSchedule(schedule: { name: string; everyMs: number; payload: unknown }) {
    let previous: string | undefined;
    const fire = () => {
      // One run at a time: a run still waiting, running or retrying makes this period skip.
      const last = previous === undefined ? undefined : known.get(previous);
      if (last !== undefined && last !== 'finished') return;
      previous = `repeat-${schedule.name}-${Date.now()}`;
      add(schedule.name, schedule.payload, { jobId: previous });
    };
    fire();
    const timer = setInterval(fire, schedule.everyMs);
    timer.unref();
    scheduleTimers.push(timer);
  }

  return {
    mode: 'inline',
    async enqueue(name, payload, enqueueOptions) {
      add(name, payload, enqueueOptions);
    },
    schedule(name, { everyMs, payload }) {
      findJob(registry, name);
      const schedule = { name, everyMs, payload };
      schedules.push(schedule);
      if (started && !closing) startSchedule(schedule);
    },
    async start() {
      if (started || closing) return;
      started = true;
      for (const schedule of schedules) startSchedule(schedule);
      for (const queue of queues.values()) pump(queue);
    },
    async counts(): Promise<QueueCounts[]> {
      return [...queues].map(([name, queue]) => ({
        queue: name,
        counts: {
          waiting: queue.waiting.length,
          active: queue.active.size,
          delayed: queue.delayed.size,
          completed: queue.completed.length,
          failed: queue.failed.length,
          paused: 0,
        },
      }));
    },
    close({ graceMs } = {}) {
      closed ??= (async () => {
        closing = true;
        for (const timer of scheduleTimers) clearInterval(timer);
        let dropped = 0;
        const active: Array<Promise<void>> = [];
        for (const queue of queues.values()) {
          dropped += queue.waiting.length + queue.delayed.size;
          for (const job of queue.delayed) clearTimeout(job.retryTimer);
          queue.waiting = [];
          queue.delayed.clear();
          active.push(...queue.active);
        }
        if (dropped > 0) logger.warn({ dropped }, 'job runner closed with jobs that had not run');
        if (active.length === 0) return;
        let timer: NodeJS.Timeout | undefined;
        const finished = await Promise.race([
          Promise.allSettled(active).then(() => true),
          ...(graceMs === undefined
            ? []
            : [new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), graceMs)))]),
        ]);
        clearTimeout(timer);
        if (!finished)
          logger.warn({ active: active.length }, 'job runner closed before its active jobs ended');
      })();
      return closed;
    },
  };
}
