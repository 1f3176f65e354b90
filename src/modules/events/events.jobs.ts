import { defineJob } from '../../platform/jobs/jobs.js';
import type { Logger } from '../../platform/logger/logger.js';
import type { EventsRepository } from './events.repository.js';

/** Seqs deleted per statement: a large backlog (first run, a busy channel) is not one huge transaction. */
const PRUNE_BATCH = 5_000;

/**
 * Retention of the event log (EVENT_LOG_RETENTION): events older than the window are deleted; a
 * client resuming from before the window gets `resync_required` and refetches over REST.
 * Deleting twice is harmless, so a run repeated after a crash or a retry does no damage.
 */
export function createEventLogPruner(deps: {
  eventsRepository: Pick<EventsRepository, 'findPrunable' | 'deleteUpTo'>;
  retentionMs: number;
  logger: Pick<Logger, 'info' | 'warn'>;
  batchSize?: number;
}) {
  const batchSize = deps.batchSize ?? PRUNE_BATCH;
  /**
   * Deletes, per channel, every event up to the newest one older than the window, lowest seqs
   * first, so what a channel keeps is always a gap-free run up to its last seq.
   */
  async function runOnce(now = new Date()): Promise<number> {
    const cutoff = new Date(now.getTime() - deps.retentionMs);
    let deleted = 0;
    for (const { channelId, first, upTo } of await deps.eventsRepository.findPrunable(cutoff)) {
      if (first === null || upTo === null) continue;
      for (let next = first + batchSize - 1; ; next += batchSize) {
        deleted += await deps.eventsRepository.deleteUpTo(channelId, Math.min(next, upTo));
        if (next >= upTo) break;
      }
    }
    if (deleted > 0) deps.logger.info({ deleted }, 'pruned the event log');
    return deleted;
  }
  return { runOnce };
}

/** How often the event log is pruned (a periodic job: once per period across every process). */
export const EVENT_LOG_PRUNE_INTERVAL_MS = 3_600_000;

/** The events module's jobs; the composition root registers them and schedules the pruning. */
export function createEventsJobs(deps: Parameters<typeof createEventLogPruner>[0]) {
  const pruner = createEventLogPruner(deps);
  return [
    defineJob({
      name: 'events.prune_log',
      queue: 'maintenance',
      async process(_payload: Record<string, never>) {
        await pruner.runOnce();
      },
    }),
  ] as const;
}
