import { createDiskStorage } from './disk-storage.js';
import { createS3Storage, type S3StorageOptions } from './s3-storage.js';
import type { Storage } from './storage.js';

/** What `config.storage` holds (src/config/config.ts); platform code does not import the config. */
export type StorageSettings = { driver: 'disk'; root: string } | ({ driver: 's3' } & S3StorageOptions);

/** The configured driver (the composition root calls this once and closes it at shutdown). */
export function createStorage(settings: StorageSettings): Storage {
  if (settings.driver === 's3') {
    const { driver: _driver, ...options } = settings;
    return createS3Storage(options);
  }
  return createDiskStorage({ root: settings.root });
}
