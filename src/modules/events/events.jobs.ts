import type { Logger } from '../../platform/logger/logger.js';
import type { EventsRepository } from './events.repository.js';

/** Seqs deleted per statement: a large backlog (first run, a busy channel) is not one huge transaction. */
const PRUNE_BATCH = 5_000;

/**
 * Retention of the event log (EVENT_LOG_RETENTION): events older than the window are deleted; a
 * client resuming from before the window gets `resync_required` and refetches over REST.
 * Runs in each API process until the worker takes over scheduled jobs; deleting twice is harmless.
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
  return {
    runOnce,
    /** Runs now and then every `intervalMs`; returns a function that stops it. */
    start(intervalMs = 3_600_000): () => void {
      const tick = () =>
        void runOnce().catch((error: unknown) =>
          deps.logger.warn({ err: error }, 'event log pruning failed'),
        );
      tick();
      const timer = setInterval(tick, intervalMs);
      timer.unref();
      return () => clearInterval(timer);
    },
  };
}
