import type { Logger } from '../../platform/logger/logger.js';
import type { EventsRepository } from './events.repository.js';

/**
 * Retention of the event log (EVENT_LOG_RETENTION): events older than the window are deleted; a
 * client resuming from before the window gets `resync_required` and refetches over REST.
 * Runs in each API process until the worker takes over scheduled jobs; deleting twice is harmless.
 */
const PRUNE_BATCH = 5_000;

export function createEventLogPruner(deps: {
  eventsRepository: Pick<EventsRepository, 'deleteOlderThan'>;
  retentionMs: number;
  logger: Pick<Logger, 'info' | 'warn'>;
}) {
  async function runOnce(now = new Date()): Promise<number> {
    const cutoff = new Date(now.getTime() - deps.retentionMs);
    // Bounded statements: a large backlog (first run, a long pause) is not one huge transaction.
    let deleted = 0;
    for (;;) {
      const batch = await deps.eventsRepository.deleteOlderThan(cutoff, PRUNE_BATCH);
      deleted += batch;
      if (batch < PRUNE_BATCH) break;
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
