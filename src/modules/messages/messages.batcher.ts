type Pending<T> = { item: T; resolve: (seq: number | undefined) => void; reject: (error: unknown) => void };

/**
 * Group commit for sends, per channel: while one write of a channel is in flight, the sends that
 * arrive queue up and go together in the next write (one statement, one WAL flush). An idle
 * channel writes at once, so a lone send waits for nothing. If a batch fails (a repeated
 * client_id), its sends are written one by one so only the offending one gets the error.
 */
export function createSendBatcher<T>(deps: {
  write: (channelId: string, items: T[]) => Promise<number | undefined>;
  maxBatch?: number;
}) {
  const maxBatch = deps.maxBatch ?? 256;
  const queues = new Map<string, Pending<T>[]>();

  async function drain(channelId: string, queue: Pending<T>[]) {
    while (queue.length > 0) {
      const batch = queue.splice(0, maxBatch);
      try {
        const first = await deps.write(
          channelId,
          batch.map((pending) => pending.item),
        );
        batch.forEach((pending, index) => pending.resolve(first === undefined ? undefined : first + index));
      } catch (error) {
        if (batch.length === 1) {
          batch[0]!.reject(error);
          continue;
        }
        for (const pending of batch) {
          await deps.write(channelId, [pending.item]).then(pending.resolve, pending.reject);
        }
      }
    }
    queues.delete(channelId);
  }

  return {
    /** Resolves with the seq given to this item (undefined when the channel is gone). */
    submit(channelId: string, item: T): Promise<number | undefined> {
      return new Promise((resolve, reject) => {
        const queue = queues.get(channelId);
        if (queue) {
          queue.push({ item, resolve, reject });
          return;
        }
        const fresh = [{ item, resolve, reject }];
        queues.set(channelId, fresh);
        void drain(channelId, fresh);
      });
    },
  };
}
