import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Storage } from './storage.js';
import { assertStorageKey } from './storage.keys.js';

/**
 * Attachment bytes as files under `root` (DATA_DIR/attachments in the embedded mode). A put writes
 * `<key>.part-<random>` beside the target and renames it into place, so a reader never sees half a
 * file and a failed upload leaves nothing behind.
 */
export function createDiskStorage({ root }: { root: string }): Storage {
  const base = resolve(root);
  const pathOf = (key: string) => {
    assertStorageKey(key);
    return join(base, ...key.split('/'));
  };
  const statFile = async (path: string) => {
    try {
      const info = await stat(path);
      return info.isFile() ? { size: info.size } : undefined;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  };

  return {
    driver: 'disk',
    async put(key, body) {
      const target = pathOf(key);
      await mkdir(dirname(target), { recursive: true });
      const temp = `${target}.part-${randomBytes(8).toString('hex')}`;
      const file = createWriteStream(temp, { flags: 'wx' });
      try {
        await pipeline(body, file);
        await rename(temp, target);
      } catch (error) {
        await rm(temp, { force: true });
        throw error;
      }
      return { size: file.bytesWritten };
    },
    async get(key, range) {
      const path = pathOf(key);
      const found = await statFile(path);
      if (!found) return undefined;
      if (range) {
        const end = Math.min(range.end, found.size - 1);
        // `size` is the whole object's (what Content-Range needs), as on S3.
        return { body: createReadStream(path, { start: range.start, end }), size: found.size };
      }
      return { body: createReadStream(path), size: found.size };
    },
    async stat(key) {
      return statFile(pathOf(key));
    },
    async delete(key) {
      await rm(pathOf(key), { force: true });
    },
    async close() {},
  };
}
