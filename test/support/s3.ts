import { randomUUID } from 'node:crypto';
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import S3rver from 's3rver';
import { makeTempDir } from './temp-dirs.js';

/** s3rver's fixed credentials; the SDK signs with them and s3rver checks the signature. */
export const S3RVER_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;

export interface TestS3 {
  endpoint: string;
  bucket: string;
  region: string;
  credentials: typeof S3RVER_CREDENTIALS;
  /** Multipart uploads started but neither completed nor aborted (s3rver keeps their parts on disk). */
  pendingMultipartUploads(): string[];
  /** "METHOD path?query[ range=…]" of every request s3rver received, oldest first. */
  requests: string[];
  stop(): Promise<void>;
}

/**
 * An in-process s3rver on a free loopback port, over a temp folder, with one fresh bucket. Real
 * HTTP and SigV4 through the real AWS SDK, not a mock of the client.
 *
 * s3rver 3 implements neither ListMultipartUploads nor AbortMultipartUpload (it answers 405), so
 * this adds AbortMultipartUpload the way S3 does it (drop the upload's parts, 204), and
 * pendingMultipartUploads() reads the parts folder that ListMultipartUploads would describe.
 */
export async function startTestS3(): Promise<TestS3> {
  const directory = makeTempDir('hubx-s3rver-');
  const bucket = `hubx-test-${randomUUID().slice(0, 8)}`;
  const server = new S3rver({
    address: '127.0.0.1',
    port: 0,
    silent: true,
    directory,
    configureBuckets: [{ name: bucket }],
  });
  // Where s3rver's filesystem store keeps in-progress multipart uploads (one folder per upload id).
  const uploadsDir = join(directory, bucket, '._S3rver_uploads');
  const requests: string[] = [];
  server.middleware.unshift(async (ctx, next) => {
    const query = new URLSearchParams(ctx.query as Record<string, string>).toString();
    const range = typeof ctx.headers.range === 'string' ? ` range=${ctx.headers.range}` : '';
    requests.push(`${ctx.method} ${ctx.path}${query ? `?${query}` : ''}${range}`);
    const uploadId = ctx.query.uploadId;
    if (ctx.method === 'DELETE' && typeof uploadId === 'string' && /^[0-9a-f]+$/.test(uploadId)) {
      rmSync(join(uploadsDir, uploadId), { recursive: true, force: true });
      ctx.status = 204;
      return;
    }
    await next();
  });
  const { port } = await server.run();
  return {
    endpoint: `http://127.0.0.1:${port}`,
    bucket,
    region: 'us-east-1',
    credentials: S3RVER_CREDENTIALS,
    requests,
    pendingMultipartUploads() {
      try {
        return readdirSync(uploadsDir);
      } catch {
        return [];
      }
    },
    stop: () => server.close(),
  };
}
