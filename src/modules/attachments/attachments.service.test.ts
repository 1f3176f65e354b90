import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createMemoryRateLimiter } from '../../platform/rate-limit/rate-limit.js';
import { ScannerUnavailableError, type Scanner } from '../../platform/scanner/scanner.js';
import { createDiskStorage } from '../../platform/storage/disk-storage.js';
import type { AuthUser } from '../auth/auth.service.js';
import type { NewAttachment } from './attachments.repository.js';
import { createAttachmentsService, storageKeyFor, type IncomingFile } from './attachments.service.js';

const user = { id: '0190a000-0000-7000-8000-000000000001' } as AuthUser;
const PDF = Buffer.from('%PDF-1.4\n% a scanner test\n%%EOF\n');

function incoming(data: Buffer, finish: () => Promise<void> = async () => {}): () => Promise<IncomingFile> {
  return async () => ({
    stream: Readable.from([data]),
    filename: 'doc.pdf',
    declaredType: 'application/pdf',
    truncated: () => false,
    finish,
  });
}

/** Every file under `dir`, relative to it. */
const filesUnder = (dir: string) =>
  (readdirSync(dir, { recursive: true, withFileTypes: true }) as Array<{ isFile(): boolean; name: string }>)
    .filter((entry) => entry.isFile())
    .map((entry) => entry.name);

describe('attachments service: scanning the stored bytes', () => {
  let root: string;
  let inserted: NewAttachment[];
  let scanned: string[];
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'hubx-upload-'));
    inserted = [];
    scanned = [];
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  function service(scan: Scanner['scan'], scannerRequired = false) {
    return createAttachmentsService({
      attachmentsRepository: {
        insert: async (values) => {
          inserted.push(values);
          return {
            ...values,
            messageId: null,
            channelId: null,
            thumbKey: null,
            createdAt: new Date(),
            updatedAt: new Date(),
            deletedAt: null,
          };
        },
      },
      storage: createDiskStorage({ root }),
      scanner: {
        configured: true,
        scan: async (body) => {
          scanned.push(await text(body));
          return scan(Readable.from([]));
        },
      },
      uploadRateLimiter: createMemoryRateLimiter(undefined),
      settings: { maxSize: 1024, allowedMimeTypes: ['application/pdf'], scannerRequired },
    });
  }

  it('clean: the scanner reads the stored bytes; the row says clean', async () => {
    const view = await service(async () => ({ status: 'clean' })).upload(user, incoming(PDF));
    expect(view.scan).toBe('clean');
    expect(scanned).toEqual([PDF.toString()]);
    expect(inserted).toEqual([expect.objectContaining({ scanStatus: 'clean', scanSignature: null })]);
    expect(filesUnder(root)).toEqual([view.attachment_id]);
  });

  it('infected: 400 attachments.infected, the bytes deleted, a row recorded as infected', async () => {
    const upload = service(async () => ({ status: 'infected', signature: 'Eicar-Test-Signature' })).upload(
      user,
      incoming(PDF),
    );
    await expect(upload).rejects.toMatchObject({ status: 400, code: 'attachments.infected' });
    expect(inserted).toEqual([
      expect.objectContaining({
        scanStatus: 'infected',
        scanSignature: 'Eicar-Test-Signature',
        tamanho: PDF.length,
      }),
    ]);
    expect(filesUnder(root)).toEqual([]);
  });

  it('scanner unreachable: skipped by default; 503 and nothing kept when the scanner is required', async () => {
    const down = async (): Promise<never> => {
      throw new ScannerUnavailableError('connect ECONNREFUSED');
    };
    const view = await service(down).upload(user, incoming(PDF));
    expect(view.scan).toBe('skipped');
    expect(filesUnder(root)).toEqual([view.attachment_id]);

    rmSync(root, { recursive: true, force: true });
    inserted = [];
    await expect(service(down, true).upload(user, incoming(PDF))).rejects.toMatchObject({
      status: 503,
      code: 'attachments.scanner_unavailable',
    });
    expect(inserted).toEqual([]);
    expect(filesUnder(root)).toEqual([]);
  });

  it('a scanner bug is not an unavailable scanner: the upload fails and nothing is kept', async () => {
    const bug = new TypeError('scanner bug');
    await expect(
      service(async () => {
        throw bug;
      }).upload(user, incoming(PDF)),
    ).rejects.toBe(bug);
    expect(inserted).toEqual([]);
    expect(filesUnder(root)).toEqual([]);
  });

  it('the rest of the form holding another file: refused after the put, nothing kept, nothing scanned', async () => {
    const second = Object.assign(new Error('one file'), { status: 400 });
    await expect(
      service(async () => ({ status: 'clean' })).upload(
        user,
        incoming(PDF, async () => {
          throw second;
        }),
      ),
    ).rejects.toBe(second);
    expect(scanned).toEqual([]);
    expect(filesUnder(root)).toEqual([]);
  });

  it('keys are attachments/<yyyy>/<mm>/<id> in UTC', () => {
    expect(storageKeyFor('abc', new Date('2026-01-31T23:30:00-03:00'))).toBe('attachments/2026/02/abc');
  });
});
