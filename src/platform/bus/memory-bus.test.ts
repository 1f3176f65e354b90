import { describe, expect, it, vi } from 'vitest';
import { createMemoryBus } from './memory-bus.js';

const turn = () => new Promise((resolve) => setImmediate(resolve));

describe('memory bus', () => {
  it('delivers asynchronously, to every subscriber of the topic, in publish order across topics', async () => {
    const bus = createMemoryBus();
    const seen: string[] = [];
    await bus.subscribe('a', (message) => seen.push(`1:${message}`));
    await bus.subscribe('a', (message) => seen.push(`2:${message}`));
    await bus.subscribe('b', (message) => seen.push(`b:${message}`));
    await bus.publish('a', 'x');
    await bus.publish('b', 'y');
    await bus.publish('nobody', 'z');
    await bus.publish('a', 'w');
    expect(seen).toEqual([]);
    await turn();
    expect(seen).toEqual(['1:x', '2:x', 'b:y', '1:w', '2:w']);
  });

  it('lets I/O in during a long burst and still delivers all of it in order', async () => {
    const bus = createMemoryBus();
    const seen: number[] = [];
    await bus.subscribe('t', (message) => {
      const until = performance.now() + 0.5; // a subscriber that takes a while
      while (performance.now() < until);
      seen.push(Number(message));
    });
    for (let i = 0; i < 40; i++) await bus.publish('t', String(i));
    let turns = 0;
    while (seen.length < 40 && turns < 1_000) {
      await turn();
      turns += 1;
    }
    expect(seen).toEqual(Array.from({ length: 40 }, (_, i) => i));
    // 40 × 0.5 ms does not fit in one 2 ms slice: the event loop got turns in between.
    expect(turns).toBeGreaterThan(1);
  });

  it('stops delivering to a handler once it unsubscribed', async () => {
    const bus = createMemoryBus();
    const seen: string[] = [];
    const unsubscribe = await bus.subscribe('t', (message) => seen.push(message));
    await bus.publish('t', 'before');
    await turn();
    await unsubscribe();
    await bus.publish('t', 'after');
    await turn();
    expect(seen).toEqual(['before']);
  });

  it('reports a subscriber that throws and goes on delivering to the others, on every topic', async () => {
    const errors: unknown[] = [];
    const bus = createMemoryBus({ onError: (error) => errors.push(error) });
    const seen: string[] = [];
    const failure = new Error('subscriber bug');
    await bus.subscribe('a', () => {
      throw failure;
    });
    await bus.subscribe('a', (message) => seen.push(`a:${message}`));
    await bus.subscribe('b', (message) => seen.push(`b:${message}`));
    await bus.publish('a', 'x');
    await bus.publish('b', 'y');
    await bus.publish('a', 'z');
    await turn();
    await turn();
    expect(seen).toEqual(['a:x', 'b:y', 'a:z']);
    expect(errors).toHaveLength(2);
    expect(errors[0]).toMatchObject({ message: expect.stringContaining('topic a'), cause: failure });
  });

  it('without an onError, a throwing subscriber is written to stderr, never rethrown', async () => {
    const logged = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    try {
      const bus = createMemoryBus();
      const seen: string[] = [];
      await bus.subscribe('t', () => {
        throw new Error('subscriber bug');
      });
      await bus.subscribe('t', (message) => seen.push(message));
      await bus.publish('t', 'x');
      await turn();
      await turn();
      expect(seen).toEqual(['x']);
      expect(logged).toHaveBeenCalledTimes(1);
    } finally {
      logged.mockRestore();
    }
  });
});
