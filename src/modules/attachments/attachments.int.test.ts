import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import { join, relative } from 'node:path';
import { Readable } from 'node:stream';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp, type TestUser } from '../../../test/support/app.js';
import { skipDatabaseTests } from '../../../test/support/database.js';
import {
  makeCorruptPng,
  makeJpeg,
  makeMp4,
  makePdf,
  makePng,
  makeZip,
  multipartBody,
  type FormPart,
} from '../../../test/support/samples.js';
import { chatAttachments } from './attachments.table.js';

type Response = Awaited<ReturnType<TestApp['inject']>>;
type Attachment = {
  attachment_id: string;
  tipo: string;
  nome: string;
  mime_type: string;
  tamanho: number;
  url: string;
  thumb_url: string | null;
  scan: string;
};

const KEY = /^attachments\/\d{4}\/\d{2}\/[0-9a-f-]{36}$/;

function expectError(response: Response, status: number, code: string) {
  expect(response.statusCode, response.body).toBe(status);
  const body = response.json() as { detail: unknown; code: unknown };
  expect(body.detail).toEqual(expect.any(String));
  expect(body.code).toBe(code);
}

/** Every file under `dir`, relative to it. */
function listFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => relative(dir, join(entry.parentPath, entry.name)))
    .sort();
}

function uploader(t: TestApp) {
  return (user: TestUser | undefined, parts: FormPart[]) => {
    const { payload, headers } = multipartBody(parts);
    return t.inject({
      method: 'POST',
      url: '/api/chat/upload/',
      payload,
      headers: { ...headers, ...(user?.auth ?? {}) },
    });
  };
}
const file = (filename: string, data: Buffer, contentType?: string): FormPart => ({
  name: 'file',
  filename,
  data,
  ...(contentType ? { contentType } : {}),
});

describe.skipIf(skipDatabaseTests)('attachments: upload', () => {
  let t: TestApp;
  let upload: ReturnType<typeof uploader>;
  let alice: TestUser;
  let root: string;

  const rowsOf = (user: TestUser) =>
    t.deps.database.db.select().from(chatAttachments).where(eq(chatAttachments.uploaderId, user.id));

  /** Refused, and neither a row nor a file (not even a temporary one) is left. */
  async function expectNothingStored(user: TestUser, filesBefore: string[]) {
    expect(await rowsOf(user)).toEqual([]);
    expect(listFiles(root)).toEqual(filesBefore);
  }

  beforeAll(async () => {
    t = await createTestApp({ CHAT_UPLOAD_RATE_LIMIT: '0' });
    upload = uploader(t);
    alice = await t.createUser();
    root = join(t.config.dataDir, 'attachments');
  });
  afterAll(async () => t?.close());

  it.each([
    ['PNG', 'foto.png', 'image/png', makePng, 'image', 'image/png'],
    ['JPEG (declared image/jpg, .jpeg)', 'foto.jpeg', 'image/jpg', makeJpeg, 'image', 'image/jpeg'],
    ['PDF', 'doc.pdf', 'application/pdf', async () => makePdf(), 'file', 'application/pdf'],
    ['MP4 (named .m4v)', 'clip.m4v', 'video/mp4', async () => makeMp4(), 'video', 'video/mp4'],
    ['plain text', 'nota.txt', 'text/plain', async () => Buffer.from('olá, mundo\n'), 'file', 'text/plain'],
    ['PNG with no declared type', 'semtipo.png', 'application/octet-stream', makePng, 'image', 'image/png'],
    [
      'a corrupt image (PNG magic, garbage)',
      'quebrada.png',
      'image/png',
      makeCorruptPng,
      'image',
      'image/png',
    ],
  ])(
    '%s → 201 with the detected type, the bytes stored under a generated key',
    async (_, name, declared, make, tipo, mime) => {
      const data = await make();
      const user = await t.createUser();
      const response = await upload(user, [file(name, data, declared)]);
      expect(response.statusCode, response.body).toBe(201);
      const body = response.json() as Attachment;
      expect(body).toEqual({
        attachment_id: expect.stringMatching(/^[0-9a-f-]{36}$/),
        tipo,
        nome: name,
        mime_type: mime,
        tamanho: data.length,
        url: `/api/chat/attachments/${body.attachment_id}/download/`,
        thumb_url: null,
        scan: 'skipped',
      });
      const [row] = await rowsOf(user);
      expect(row).toMatchObject({
        id: body.attachment_id,
        scanStatus: 'skipped',
        tamanho: data.length,
        tipo,
      });
      expect(row!.storageKey).toMatch(KEY);
      expect(row!.storageKey.endsWith(body.attachment_id)).toBe(true);
      expect(readFileSync(join(root, row!.storageKey))).toEqual(data);
    },
  );

  it('a declared type or extension that contradicts the bytes → 400, nothing stored', async () => {
    const png = await makePng();
    const before = listFiles(root);
    for (const part of [
      file('foto.png', png, 'application/pdf'),
      file('foto.pdf', png, 'image/png'),
      file('foto.pdf', png),
      file('clip.mp4', png),
      file('doc.pdf', makeMp4(), 'video/mp4'),
      file('foto.jpg', png, 'image/jpeg'),
    ]) {
      expectError(await upload(alice, [part]), 400, 'attachments.type_mismatch');
    }
    await expectNothingStored(alice, before);
  });

  it('a type outside CHAT_ALLOWED_MIME_TYPES (on the detected type) → 415, nothing stored', async () => {
    const before = listFiles(root);
    const exe = Buffer.concat([Buffer.from('MZ'), Buffer.alloc(300, 0x90)]);
    for (const [part, mime] of [
      [file('a.zip', makeZip(), 'application/zip'), 'application/zip'],
      [file('a.exe', exe, 'application/x-msdownload'), 'application/x-msdownload'],
      // An executable claiming to be an image: refused for what it is.
      [file('a.png', exe, 'image/png'), 'application/x-msdownload'],
      // Unrecognizable bytes are application/octet-stream, which is not allowed by default.
      [file('a.bin', Buffer.from([1, 2, 3, 0, 255, 254])), 'application/octet-stream'],
      // Text only when the client also says text: here it says nothing.
      [file('leiame', Buffer.from('just words')), 'application/octet-stream'],
      // Says text, but the bytes are not UTF-8 text.
      [file('a.txt', Buffer.from([0x68, 0, 0x69]), 'text/plain'), 'application/octet-stream'],
    ] as const) {
      const response = await upload(alice, [part]);
      expectError(response, 415, 'attachments.type_not_allowed');
      expect((response.json() as { detail: string }).detail).toContain(mime);
    }
    await expectNothingStored(alice, before);
  });

  it('anonymous → 401, nothing read or stored', async () => {
    const before = listFiles(root);
    expectError(await upload(undefined, [file('foto.png', await makePng())]), 401, 'auth.not_authenticated');
    expect(listFiles(root)).toEqual(before);
  });

  it('no `file` field, a file in another field, two files or a non-multipart body → 400, nothing stored', async () => {
    const png = await makePng();
    const before = listFiles(root);
    expectError(await upload(alice, [{ name: 'nome', value: 'x' }]), 400, 'attachments.no_file');
    expectError(await upload(alice, []), 400, 'attachments.no_file');
    expectError(
      await upload(alice, [{ name: 'outro', filename: 'a.png', data: png }]),
      400,
      'attachments.no_file',
    );
    expectError(
      await upload(alice, [file('a.png', png, 'image/png'), file('b.png', png, 'image/png')]),
      400,
      'attachments.one_file',
    );
    const json = await t.inject({
      method: 'POST',
      url: '/api/chat/upload/',
      headers: alice.auth,
      payload: { file: 'aGVsbG8=' },
    });
    expectError(json, 400, 'attachments.not_multipart');
    // A field before the file is fine.
    const withField = await upload(alice, [
      { name: 'descricao', value: 'oi' },
      file('ok.png', png, 'image/png'),
    ]);
    expect(withField.statusCode, withField.body).toBe(201);
    const rows = await rowsOf(alice);
    expect(rows).toHaveLength(1);
    expect(listFiles(root)).toEqual([...before, rows[0]!.storageKey].sort());
  });

  it('names are sanitized for display; keys are generated; nothing lands outside the storage root', async () => {
    const png = await makePng();
    const dataDirBefore = readdirSync(t.config.dataDir).sort();
    const cases: Array<[string, Buffer, string | undefined, string]> = [
      ['../../etc/passwd', Buffer.from('root:x:0:0\n'), 'text/plain', 'passwd'],
      ['C:\\x\\y.png', png, 'image/png', 'y.png'],
      ['/abs/../z.png', png, 'image/png', 'z.png'],
      ['ev\u202Eil\u0007\u200F.png', png, 'image/png', 'evil.png'],
      ['  \u2066 ', png, 'image/png', 'arquivo'],
      ['..', png, 'image/png', 'arquivo'],
      [`${'a'.repeat(300)}.png`, png, 'image/png', 'a'.repeat(255)],
    ];
    for (const [raw, data, declared, expected] of cases) {
      const user = await t.createUser();
      const response = await upload(user, [file(raw, data, declared)]);
      expect(response.statusCode, `${JSON.stringify(raw)}: ${response.body}`).toBe(201);
      expect((response.json() as Attachment).nome).toBe(expected);
      const [row] = await rowsOf(user);
      expect(row!.nome).toBe(expected);
      expect(row!.storageKey).toMatch(KEY);
    }
    expect(readdirSync(t.config.dataDir).sort()).toEqual(dataDirBefore);
    expect(existsSync(join(t.config.dataDir, 'etc'))).toBe(false);
    expect(listFiles(root).every((path) => KEY.test(path))).toBe(true);
  });
});

describe.skipIf(skipDatabaseTests)('attachments: size limit and rate limit', () => {
  const LIMIT = 1024;
  let t: TestApp;
  let upload: ReturnType<typeof uploader>;
  let root: string;

  beforeAll(async () => {
    t = await createTestApp({ CHAT_UPLOAD_MAX_SIZE: String(LIMIT), CHAT_UPLOAD_RATE_LIMIT: '3/60s' });
    upload = uploader(t);
    root = join(t.config.dataDir, 'attachments');
  });
  afterAll(async () => t?.close());

  it('one byte over CHAT_UPLOAD_MAX_SIZE → 413, no row and no file; exactly at the limit → 201', async () => {
    const user = await t.createUser();
    const rows = () =>
      t.deps.database.db.select().from(chatAttachments).where(eq(chatAttachments.uploaderId, user.id));
    expectError(
      await upload(user, [file('a.txt', Buffer.alloc(LIMIT + 1, 'a'), 'text/plain')]),
      413,
      'attachments.too_large',
    );
    // Far over the limit, with a type sniffed from a head that fits: still stopped while streaming.
    const bigPng = Buffer.concat([await makePng(), Buffer.alloc(200_000, 7)]);
    expectError(await upload(user, [file('a.png', bigPng, 'image/png')]), 413, 'attachments.too_large');
    expect(await rows()).toEqual([]);
    expect(listFiles(root)).toEqual([]);

    const atLimit = await upload(user, [file('a.txt', Buffer.alloc(LIMIT, 'a'), 'text/plain')]);
    expect(atLimit.statusCode, atLimit.body).toBe(201);
    expect((atLimit.json() as Attachment).tamanho).toBe(LIMIT);
    expect(await rows()).toHaveLength(1);
    expect(listFiles(root)).toHaveLength(1);
  });

  it('CHAT_UPLOAD_RATE_LIMIT per user: 429 with Retry-After, other users unaffected', async () => {
    const [user, other] = [await t.createUser(), await t.createUser()];
    const png = await makePng();
    for (let i = 0; i < 3; i += 1) {
      const response = await upload(user, [file('a.png', png, 'image/png')]);
      expect(response.statusCode, response.body).toBe(201);
    }
    const limited = await upload(user, [file('a.png', png, 'image/png')]);
    expectError(limited, 429, 'rate_limited');
    expect(Number(limited.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect((await upload(other, [file('a.png', png, 'image/png')])).statusCode).toBe(201);
  });
});

describe.skipIf(skipDatabaseTests)('attachments: an oversized upload over a real socket', () => {
  it('is answered 413 while the client is still sending, the connection closed, nothing stored', async () => {
    const t = await createTestApp({ CHAT_UPLOAD_MAX_SIZE: String(1024 * 1024) });
    try {
      const address = await t.app.listen({ port: 0, host: '127.0.0.1' });
      const user = await t.createUser();
      const png = await makePng();
      const boundary = 'hubxRealSocket';
      const total = 32 * 1024 * 1024;
      let sent = 0;
      async function* body() {
        yield Buffer.from(
          `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.png"\r\n` +
            'Content-Type: image/png\r\n\r\n',
        );
        yield png;
        const chunk = Buffer.alloc(64 * 1024, 7);
        for (sent = png.length; sent < total; sent += chunk.length) yield chunk;
        yield Buffer.from(`\r\n--${boundary}--\r\n`);
      }
      const answer = await new Promise<{ status: number; connection: string | undefined; body: string }>(
        (resolve, reject) => {
          const outgoing = request(
            `${address}/api/chat/upload/`,
            {
              method: 'POST',
              headers: { ...user.auth, 'content-type': `multipart/form-data; boundary=${boundary}` },
            },
            (response) => {
              let text = '';
              response.on('data', (chunk: Buffer) => (text += chunk.toString()));
              response.on('end', () =>
                resolve({
                  status: response.statusCode!,
                  connection: response.headers.connection,
                  body: text,
                }),
              );
            },
          );
          // The server stops reading: the client's remaining writes fail, as they should.
          outgoing.on('error', (error) => (sent < total ? undefined : reject(error)));
          Readable.from(body())
            .on('error', () => {})
            .pipe(outgoing);
        },
      );
      expect(answer.status, answer.body).toBe(413);
      expect(JSON.parse(answer.body)).toMatchObject({ code: 'attachments.too_large' });
      expect(answer.connection).toBe('close');
      // Refused long before the whole body went out (it is not read to its end).
      expect(sent).toBeLessThan(total);
      expect(listFiles(join(t.config.dataDir, 'attachments'))).toEqual([]);
      expect(
        await t.deps.database.db
          .select()
          .from(chatAttachments)
          .where(eq(chatAttachments.uploaderId, user.id)),
      ).toEqual([]);
    } finally {
      const started = Date.now();
      await t.close();
      // No connection left hanging on the refused upload.
      expect(Date.now() - started).toBeLessThan(5000);
    }
  });
});
