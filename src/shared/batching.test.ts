import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createBatcher } from './batching.js';

/** A controllable `run`: records every batch and lets the test finish them one by one. */
function controlledRun<T>() {
  const calls: Array<{ items: T[]; finish: (fail?: boolean) => void }> = [];
  const run = (items: T[]) =>
    new Promise<string[]>((resolve, reject) => {
      calls.push({
        items,
        finish: (fail = false) =>
          fail ? reject(new Error('batch failed')) : resolve(items.map((item) => `r:${String(item)}`)),
      });
    });
  return { calls, run };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('createBatcher', () => {
  it('runs a lone item at once, and groups the items that arrive while the slot is busy', async () => {
    const { calls, run } = controlledRun<number>();
    const batcher = createBatcher({ run });
    const first = batcher.submit(1);
    expect(calls.map((call) => call.items)).toEqual([[1]]);
    const later = [batcher.submit(2), batcher.submit(3), batcher.submit(4)];
    expect(calls).toHaveLength(1);
    calls[0]!.finish();
    expect(await first).toBe('r:1');
    await tick();
    expect(calls.map((call) => call.items)).toEqual([[1], [2, 3, 4]]);
    calls[1]!.finish();
    expect(await Promise.all(later)).toEqual(['r:2', 'r:3', 'r:4']);
  });

  it('keeps up to maxInFlight batches running and caps their size', async () => {
    const { calls, run } = controlledRun<number>();
    const batcher = createBatcher({ run, maxInFlight: 2, maxBatch: 2 });
    const results = [1, 2, 3, 4, 5, 6].map((item) => batcher.submit(item));
    expect(calls.map((call) => call.items)).toEqual([[1], [2]]);
    calls[0]!.finish();
    await tick();
    expect(calls.map((call) => call.items)).toEqual([[1], [2], [3, 4]]);
    calls[1]!.finish();
    await tick();
    expect(calls.map((call) => call.items)).toEqual([[1], [2], [3, 4], [5, 6]]);
    calls[2]!.finish();
    calls[3]!.finish();
    expect(await Promise.all(results)).toEqual(['r:1', 'r:2', 'r:3', 'r:4', 'r:5', 'r:6']);
  });

  it('never runs one key in two batches at once, and keeps each key in order', async () => {
    const { calls, run } = controlledRun<string>();
    const batcher = createBatcher({ run, maxInFlight: 3, keyOf: (item: string) => item[0]! });
    void batcher.submit('a1');
    void batcher.submit('a2');
    void batcher.submit('b1');
    void batcher.submit('a3');
    // a1 runs; a2 waits for it (same key) while b1 takes the second slot; a3 waits behind a2.
    expect(calls.map((call) => call.items)).toEqual([['a1'], ['b1']]);
    calls[1]!.finish();
    await tick();
    expect(calls).toHaveLength(2);
    calls[0]!.finish();
    await tick();
    expect(calls.map((call) => call.items)).toEqual([['a1'], ['b1'], ['a2', 'a3']]);
  });

  it('runs a failed batch again item by item, so only the failing item gets the error', async () => {
    const seen: number[][] = [];
    const batcher = createBatcher({
      run: async (items: number[]) => {
        seen.push(items);
        await tick();
        if (items.includes(3)) throw new Error(`bad ${items.join(',')}`);
        return items.map((item) => item * 10);
      },
    });
    const results = [1, 2, 3, 4].map((item) =>
      batcher.submit(item).then(
        (value) => ({ value }),
        (error: Error) => ({ error: error.message }),
      ),
    );
    expect(await Promise.all(results)).toEqual([
      { value: 10 },
      { value: 20 },
      { error: 'bad 3' },
      { value: 40 },
    ]);
    expect(seen).toEqual([[1], [2, 3, 4], [2], [3], [4]]);
  });

  it('answers every item exactly once with its own result, whatever the timing (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 3 }), fc.nat(3)), { minLength: 1, maxLength: 40 }),
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 1, max: 5 }),
        async (plan, maxInFlight, maxBatch) => {
          const running = new Map<number, number>();
          let overlap = false;
          let tooLarge = false;
          const order = new Map<number, number[]>();
          const submitted = new Map<number, number[]>();
          const batcher = createBatcher({
            maxInFlight,
            maxBatch,
            keyOf: (item: { key: number; id: number }) => String(item.key),
            run: async (items) => {
              const keys = new Set(items.map((item) => item.key));
              for (const key of keys) {
                if (running.has(key)) overlap = true;
                running.set(key, 1);
              }
              for (const item of items) order.set(item.key, [...(order.get(item.key) ?? []), item.id]);
              for (let i = 0; i < (items[0]!.id % 3) + 1; i++) await tick();
              for (const key of keys) running.delete(key);
              if (items.length > maxBatch) tooLarge = true;
              return items.map((item) => item.id * 2);
            },
          });
          const results = await Promise.all(
            plan.map(async ([key, delay], id) => {
              for (let i = 0; i < delay; i++) await tick();
              submitted.set(key, [...(submitted.get(key) ?? []), id]);
              return batcher.submit({ key, id });
            }),
          );
          expect(results).toEqual(plan.map((_, id) => id * 2));
          expect(overlap).toBe(false);
          expect(tooLarge).toBe(false);
          expect(order).toEqual(submitted);
        },
      ),
      { numRuns: 200 },
    );
  });
});
