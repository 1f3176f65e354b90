import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type { Storage } from './storage.js';
import { assertStorageKey } from './storage.keys.js';

export interface S3StorageOptions {
  bucket: string;
  /** An S3-compatible endpoint (MinIO, R2, s3rver in tests); unset: AWS itself. */
  endpoint?: string;
  region: string;
  /** `https://endpoint/bucket/key` instead of `https://bucket.endpoint/key` (what most self-hosted servers need). */
  forcePathStyle?: boolean;
  /** Explicit credentials (tests); unset: the SDK's default chain (AWS_ACCESS_KEY_ID/…, profiles, instance roles). */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
}

// 5 MiB is S3's smallest part; two parts in flight bound the memory one upload holds to ~10 MiB.
const PART_SIZE = 5 * 1024 * 1024;
const QUEUE_SIZE = 2;

function isNotFound(error: unknown): boolean {
  if (!(error instanceof S3ServiceException)) return false;
  return error.name === 'NoSuchKey' || error.name === 'NotFound' || error.$metadata.httpStatusCode === 404;
}

/** Attachment bytes in an S3 bucket (or any S3-compatible server), shared by every API node. */
export function createS3Storage(options: S3StorageOptions): Storage {
  const client = new S3Client({
    region: options.region,
    endpoint: options.endpoint,
    forcePathStyle: options.forcePathStyle ?? false,
    credentials: options.credentials,
    // With an S3-compatible endpoint, checksums only where S3 requires them: the SDK's default since
    // early 2025 (a CRC32 header on every upload) is refused by several such servers. AWS itself keeps
    // the default. (s3rver, used by the tests, accepts both.)
    ...(options.endpoint
      ? { requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED' }
      : {}),
  });
  const bucket = options.bucket;

  return {
    driver: 's3',

    async put(key, body, { contentType }) {
      assertStorageKey(key);
      let size = 0;
      // Counts bytes on their way through; pipeline() destroys it with the body's error, so the upload
      // sees the failure and aborts its multipart upload instead of completing a truncated object.
      const counter = new Transform({
        transform(chunk: Buffer, _encoding, callback) {
          size += chunk.length;
          callback(null, chunk);
        },
      });
      // The body's own error (listened to before pipeline() is, so it is known by the time the upload
      // fails): that is what put rejects with, not the premature-close errors that follow it.
      let bodyError: unknown;
      body.once('error', (error) => {
        bodyError ??= error;
      });
      const piping = pipeline(body, counter).catch(() => undefined);
      const upload = new Upload({
        client,
        params: { Bucket: bucket, Key: key, Body: counter, ContentType: contentType },
        partSize: PART_SIZE,
        queueSize: QUEUE_SIZE,
        leavePartsOnError: false,
      });
      try {
        await upload.done();
      } catch (error) {
        const failure = bodyError ?? error;
        body.destroy();
        await piping;
        throw failure;
      }
      await piping;
      if (bodyError !== undefined) {
        // The body failed after its last byte reached S3 (an error on 'end'): do not keep the object.
        await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
        throw bodyError;
      }
      return { size };
    },

    async get(key, range) {
      assertStorageKey(key);
      if (
        range &&
        !(
          Number.isInteger(range.start) &&
          Number.isInteger(range.end) &&
          0 <= range.start &&
          range.start <= range.end
        )
      ) {
        throw new RangeError(`Invalid byte range ${range.start}-${range.end}`);
      }
      try {
        const result = await client.send(
          new GetObjectCommand({
            Bucket: bucket,
            Key: key,
            Range: range ? `bytes=${range.start}-${range.end}` : undefined,
          }),
        );
        // ContentRange "bytes a-b/total" carries the object's size when a range was asked for.
        const total = result.ContentRange ? Number(result.ContentRange.split('/')[1]) : result.ContentLength;
        return { body: result.Body as Readable, size: total ?? 0 };
      } catch (error) {
        if (isNotFound(error)) return undefined;
        throw error;
      }
    },

    async stat(key) {
      assertStorageKey(key);
      try {
        const result = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
        return { size: result.ContentLength ?? 0 };
      } catch (error) {
        if (isNotFound(error)) return undefined;
        throw error;
      }
    },

    async delete(key) {
      assertStorageKey(key);
      // S3 answers 204 for an absent key too.
      await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
    },

    async close() {
      client.destroy();
    },
  };
}
