import { AsyncResource } from 'node:async_hooks';

type Pending<T, R> = {
  item: T;
  key: string | undefined;
  resolve: (result: R) => void;
  reject: (error: unknown) => void;
};

export type BatcherOptions<T, R> = {
  /** Runs one batch; answers one result per item, in the items' order. */
  run: (items: T[]) => Promise<R[]>;
  /** Batches running at once. While all are busy, new items queue for the next batch. */
  maxInFlight?: number;
  maxBatch?: number;
  /** Items with the same key are never in two running batches at once, and keep their order. */
  keyOf?: (item: T) => string;
};

/**
 * Group commit for any per-item call: an item submitted while a slot is free runs at once, alone;
 * items submitted while every slot is busy go together in the next batch. Under light load nothing
 * waits; under heavy load one round trip serves many items. A batch that fails is run again item by
 * item, so an error reaches only the items that cause it.
 */
export function createBatcher<T, R>(options: BatcherOptions<T, R>) {
  const maxInFlight = options.maxInFlight ?? 1;
  const maxBatch = options.maxBatch ?? 256;
  const keyOf = options.keyOf;
  // A batch serves many callers: it runs in the context the batcher was made in, not in that of
  // whichever caller happened to start it (async-local state must not leak between requests).
  const run = AsyncResource.bind((items: T[]) => options.run(items));
  let queue: Pending<T, R>[] = [];
  // The keys of each running batch, one set per batch: short-lived sets instead of one long-lived
  // set whose table is reallocated on every add and delete (old-space churn under load).
  const running: Array<Set<string>> = [];
  let inFlight = 0;
  const isBusy = (key: string) => {
    for (const keys of running) if (keys.has(key)) return true;
    return false;
  };

  async function runAlone(pending: Pending<T, R>): Promise<void> {
    try {
      const [result] = await run([pending.item]);
      pending.resolve(result as R);
    } catch (error) {
      pending.reject(error);
    }
  }

  async function runBatch(batch: Pending<T, R>[], keys: Set<string> | undefined): Promise<void> {
    try {
      if (batch.length === 1) {
        await runAlone(batch[0]!);
        return;
      }
      let results: R[];
      try {
        results = await run(batch.map((pending) => pending.item));
      } catch {
        for (const pending of batch) await runAlone(pending);
        return;
      }
      batch.forEach((pending, index) => pending.resolve(results[index] as R));
    } finally {
      if (keys) running.splice(running.indexOf(keys), 1);
      inFlight -= 1;
      pump();
    }
  }

  /** Takes the next batch off the queue: oldest first, skipping keys that are still running. */
  function takeBatch(): Pending<T, R>[] {
    if (!keyOf) return queue.splice(0, maxBatch);
    const batch: Pending<T, R>[] = [];
    const rest: Pending<T, R>[] = [];
    for (const pending of queue) {
      if (batch.length < maxBatch && !isBusy(pending.key!)) batch.push(pending);
      else rest.push(pending);
    }
    queue = rest;
    return batch;
  }

  function pump(): void {
    while (inFlight < maxInFlight && queue.length > 0) {
      const batch = takeBatch();
      if (batch.length === 0) return;
      let keys: Set<string> | undefined;
      if (keyOf) {
        keys = new Set(batch.map((pending) => pending.key!));
        running.push(keys);
      }
      inFlight += 1;
      void runBatch(batch, keys);
    }
  }

  return {
    submit(item: T): Promise<R> {
      return new Promise<R>((resolve, reject) => {
        queue.push({ item, key: keyOf?.(item), resolve, reject });
        pump();
      });
    },
  };
}
export type Batcher<T, R> = ReturnType<typeof createBatcher<T, R>>;
