import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createDiskStorage } from './disk-storage.js';

describe('disk storage', () => {
  let root: string;
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'hubx-disk-'));
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('puts (creating folders), stats, gets whole or a byte range, deletes', async () => {
    const storage = createDiskStorage({ root: join(root, 'nested') });
    expect(
      await storage.put('a/b/c', Readable.from([Buffer.from('hello '), Buffer.from('world')]), {
        contentType: 'text/plain',
      }),
    ).toEqual({ size: 11 });
    expect(readFileSync(join(root, 'nested', 'a', 'b', 'c'), 'utf8')).toBe('hello world');
    expect(await storage.stat('a/b/c')).toEqual({ size: 11 });
    const whole = await storage.get('a/b/c');
    expect(whole?.size).toBe(11);
    expect(await text(whole!.body)).toBe('hello world');
    const range = await storage.get('a/b/c', { start: 6, end: 10 });
    expect(range?.size).toBe(11); // the whole object's size, as the storage contract says
    expect(await text(range!.body)).toBe('world');
    const clipped = await storage.get('a/b/c', { start: 6, end: 99 });
    expect(await text(clipped!.body)).toBe('world');
    await storage.delete('a/b/c');
    await storage.delete('a/b/c');
    expect(await storage.stat('a/b/c')).toBeUndefined();
    expect(await storage.get('a/b/c')).toBeUndefined();
    expect(readdirSync(join(root, 'nested', 'a', 'b'))).toEqual([]);
  });

  it('a body that errors rejects with its error and leaves no file, not even the temporary one', async () => {
    const storage = createDiskStorage({ root });
    const failure = new Error('too large');
    async function* body() {
      yield Buffer.alloc(1000, 1);
      throw failure;
    }
    await expect(storage.put('x/y', Readable.from(body()), { contentType: 'x/y' })).rejects.toBe(failure);
    expect(readdirSync(join(root, 'x'))).toEqual([]);
    expect(await storage.stat('x/y')).toBeUndefined();
  });

  it('replaces an existing object atomically', async () => {
    const storage = createDiskStorage({ root });
    await storage.put('k', Readable.from([Buffer.from('one')]), { contentType: 'text/plain' });
    await storage.put('k', Readable.from([Buffer.from('two!')]), { contentType: 'text/plain' });
    expect(readFileSync(join(root, 'k'), 'utf8')).toBe('two!');
    expect(readdirSync(root)).toEqual(['k']);
  });

  it.each(['../x', 'a/../../x', '/etc/passwd', 'a//b', 'a/./b', '', 'a\\b', 'a b', 'ç', 'x'.repeat(513)])(
    'refuses the key %j before any I/O',
    async (key) => {
      const storage = createDiskStorage({ root: join(root, 'never') });
      await expect(
        storage.put(key, Readable.from([Buffer.from('x')]), { contentType: 'x/y' }),
      ).rejects.toThrow(/invalid storage key/i);
      await expect(storage.get(key)).rejects.toThrow(/invalid storage key/i);
      await expect(storage.stat(key)).rejects.toThrow(/invalid storage key/i);
      await expect(storage.delete(key)).rejects.toThrow(/invalid storage key/i);
      expect(existsSync(join(root, 'never'))).toBe(false);
      expect(existsSync(join(root, '..', 'x'))).toBe(false);
    },
  );
});
