import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp, type TestUser } from '../../../test/support/app.js';
import {
  EICAR,
  EICAR_SIGNATURE,
  skipClamdTests,
  startClamd,
  type TestClamd,
} from '../../../test/support/clamd.js';
import { skipDatabaseTests } from '../../../test/support/database.js';
import { makeCorruptPng, makePng, multipartBody } from '../../../test/support/samples.js';
import { startTestS3, type TestS3 } from '../../../test/support/s3.js';
import { chatAttachments } from './attachments.table.js';

// Uploads through the whole stack on both storage drivers (disk, and S3 against an s3rver the test
// starts) with a real clamd the test starts (its signature database is one EICAR hash): a clean
// image is stored and says scan "clean", EICAR is refused and nothing of it is kept, a corrupt image
// is kept as what its bytes say, one byte over the limit leaves nothing behind.
const MAX = 64 * 1024;

describe.skipIf(skipDatabaseTests || skipClamdTests).each([{ driver: 'disk' }, { driver: 's3' }] as const)(
  'attachments: upload, scan and store ($driver)',
  ({ driver }) => {
    let clamd: TestClamd;
    let s3: TestS3 | undefined;
    let t: TestApp;
    let alice: TestUser;
    const savedEnv = { ...process.env };

    beforeAll(async () => {
      clamd = await startClamd();
      let storageEnv: Record<string, string> = {};
      if (driver === 's3') {
        s3 = await startTestS3();
        // The SDK's default credential chain, as in production.
        process.env.AWS_ACCESS_KEY_ID = s3.credentials.accessKeyId;
        process.env.AWS_SECRET_ACCESS_KEY = s3.credentials.secretAccessKey;
        storageEnv = {
          STORAGE_DRIVER: 's3',
          S3_BUCKET: s3.bucket,
          S3_ENDPOINT: s3.endpoint,
          S3_REGION: s3.region,
        };
      }
      t = await createTestApp({
        ...storageEnv,
        CLAMAV_SOCKET: clamd.socketPath,
        CLAMAV_REQUIRED: 'true',
        CHAT_UPLOAD_MAX_SIZE: String(MAX),
        CHAT_UPLOAD_RATE_LIMIT: '0',
      });
      alice = await t.createUser();
    }, 60_000);
    afterAll(async () => {
      await t?.close();
      await s3?.stop();
      await clamd?.stop();
      process.env = savedEnv;
    });

    const upload = (filename: string, data: Buffer, contentType?: string) => {
      const { payload, headers } = multipartBody([
        { name: 'file', filename, data, ...(contentType ? { contentType } : {}) },
      ]);
      return t.inject({
        method: 'POST',
        url: '/api/chat/upload/',
        payload,
        headers: { ...headers, ...alice.auth },
      });
    };
    const rows = () =>
      t.deps.database.db.select().from(chatAttachments).where(eq(chatAttachments.uploaderId, alice.id));
    const storedBytes = async (key: string) => {
      const object = await t.deps.storage.get(key);
      if (!object) return undefined;
      const chunks: Buffer[] = [];
      for await (const chunk of object.body) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks);
    };

    it('stores a clean image, scanned clean, with exactly its bytes', async () => {
      const png = await makePng();
      const response = await upload('foto.png', png, 'image/png');
      expect(response.statusCode, response.body).toBe(201);
      expect(response.json()).toMatchObject({ tipo: 'image', mime_type: 'image/png', scan: 'clean' });
      const id = (response.json() as { attachment_id: string }).attachment_id;
      const row = (await rows()).find((candidate) => candidate.id === id)!;
      expect(row.scanStatus).toBe('clean');
      expect((await storedBytes(row.storageKey))?.equals(png)).toBe(true);
    });

    it('refuses EICAR (400 attachments.infected) and keeps none of its bytes', async () => {
      const before = (await rows()).length;
      const response = await upload('eicar.txt', EICAR, 'text/plain');
      expect(response.statusCode, response.body).toBe(400);
      expect(response.json()).toMatchObject({ code: 'attachments.infected' });
      const recorded = (await rows()).slice(before);
      expect(recorded).toHaveLength(1);
      expect(recorded[0]).toMatchObject({ scanStatus: 'infected', scanSignature: EICAR_SIGNATURE });
      expect(await t.deps.storage.stat(recorded[0]!.storageKey)).toBeUndefined();
    });

    it('keeps a corrupt image as what its bytes say, without crashing', async () => {
      const response = await upload('quebrada.png', await makeCorruptPng(), 'image/png');
      expect(response.statusCode, response.body).toBe(201);
      expect(response.json()).toMatchObject({ mime_type: 'image/png', scan: 'clean' });
    });

    it('one byte over CHAT_UPLOAD_MAX_SIZE: 413, no row, nothing left in storage', async () => {
      const before = (await rows()).length;
      const response = await upload(
        'grande.pdf',
        Buffer.concat([Buffer.from('%PDF-1.4\n'), Buffer.alloc(MAX - 8)]),
      );
      expect(response.statusCode, response.body).toBe(413);
      expect(await rows()).toHaveLength(before);
      if (s3) expect(s3.pendingMultipartUploads()).toEqual([]);
    });
  },
);
