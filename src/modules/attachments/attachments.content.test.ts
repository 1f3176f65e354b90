import { describe, expect, it } from 'vitest';
import {
  attachmentTypeOf,
  contradictsDetected,
  detectType,
  essence,
  isMimeAllowed,
  sanitizeFileName,
} from './attachments.content.js';

describe('sanitizeFileName', () => {
  it.each([
    ['foto.png', 'foto.png'],
    ['../../etc/passwd', 'passwd'],
    ['C:\\x\\y.png', 'y.png'],
    ['dir/sub\\mixed/../final.txt', 'final.txt'],
    ['a\u0000b\u0007c\u001f\u007f.txt', 'abc.txt'],
    ['line\r\nbreak.txt', 'linebreak.txt'],
    // Right-to-left override: "evil\u202Egnp.exe" would display as "evilexe.png".
    ['evil\u202Egnp.exe', 'evilgnp.exe'],
    ['\u2066x\u2069\u200E\u200F\u061C.png', 'x.png'],
    ['  spaced  .png  ', 'spaced  .png'],
    ['lone\uD800surrogate.txt', 'lonesurrogate.txt'],
    ['', 'arquivo'],
    [undefined, 'arquivo'],
    ['   ', 'arquivo'],
    ['dir/', 'arquivo'],
    ['.', 'arquivo'],
    ['..', 'arquivo'],
    ['ação é 😀.pdf', 'ação é 😀.pdf'],
  ])('%j → %j', (raw, expected) => {
    expect(sanitizeFileName(raw)).toBe(expected);
  });

  it('caps at 255 characters without splitting one', () => {
    expect(sanitizeFileName('a'.repeat(300))).toBe('a'.repeat(255));
    const emoji = sanitizeFileName('😀'.repeat(300));
    expect(Array.from(emoji)).toHaveLength(255);
    expect(emoji).toBe('😀'.repeat(255));
  });
});

describe('isMimeAllowed', () => {
  const defaults = ['image/*', 'video/*', 'audio/*', 'application/pdf', 'text/plain'];
  it.each([
    ['image/png', true],
    ['IMAGE/PNG', true],
    ['image/svg+xml', true],
    ['video/mp4', true],
    ['audio/mpeg', true],
    ['application/pdf', true],
    ['text/plain', true],
    ['text/plain; charset=utf-8', true],
    ['text/html', false],
    ['application/zip', false],
    ['application/octet-stream', false],
    ['application/pdfx', false],
    // A wildcard covers its own top-level type only.
    ['imagex/png', false],
    ['', false],
    ['image', false],
  ])('%j → %s', (type, allowed) => {
    expect(isMimeAllowed(type, defaults)).toBe(allowed);
  });

  it('an exact entry does not act as a prefix; */ entries are wildcards', () => {
    expect(isMimeAllowed('application/zip', ['application/*'])).toBe(true);
    expect(isMimeAllowed('application/zip', ['application/zi'])).toBe(false);
    expect(isMimeAllowed('image/png', [])).toBe(false);
  });
});

describe('type detection and claims', () => {
  it('essence drops parameters and rejects malformed types', () => {
    expect(essence(' Image/JPEG ; q=1')).toBe('image/jpeg');
    expect(essence('nonsense')).toBe('');
    expect(essence(undefined)).toBe('');
  });

  it('tipo follows the detected type', () => {
    expect(attachmentTypeOf('image/png')).toBe('image');
    expect(attachmentTypeOf('video/mp4')).toBe('video');
    expect(attachmentTypeOf('audio/mpeg')).toBe('file');
    expect(attachmentTypeOf('application/pdf')).toBe('file');
  });

  it('text only when claimed and UTF-8 without NUL; a character cut by the head is fine', async () => {
    const text = Buffer.from('olá');
    expect(await detectType(text, true, { declaredType: 'text/plain', name: 'x' })).toEqual({
      mime: 'text/plain',
      ext: 'txt',
    });
    expect((await detectType(text, true, { declaredType: '', name: 'x.txt' })).mime).toBe('text/plain');
    expect((await detectType(text, true, { declaredType: '', name: 'x' })).mime).toBe(
      'application/octet-stream',
    );
    expect(
      (await detectType(text.subarray(0, 3), false, { declaredType: 'text/plain', name: 'x' })).mime,
    ).toBe('text/plain');
    expect(
      (await detectType(text.subarray(0, 3), true, { declaredType: 'text/plain', name: 'x' })).mime,
    ).toBe('application/octet-stream');
    expect(
      (await detectType(Buffer.from([0x61, 0]), true, { declaredType: 'text/plain', name: 'x' })).mime,
    ).toBe('application/octet-stream');
    expect((await detectType(Buffer.alloc(0), true, { declaredType: 'text/plain', name: 'x' })).mime).toBe(
      'application/octet-stream',
    );
  });

  const png = { mime: 'image/png', ext: 'png' };
  const jpeg = { mime: 'image/jpeg', ext: 'jpg' };
  const mp4 = { mime: 'video/mp4', ext: 'mp4' };
  it.each([
    [png, 'image/png', 'a.png', undefined],
    [png, '', 'a', undefined],
    [png, 'application/octet-stream', 'a.png', undefined],
    [png, 'image/x-png', 'a.PNG', undefined],
    // An extension we do not know makes no claim.
    [png, 'image/png', 'a.backup', undefined],
    [png, 'application/pdf', 'a.png', 'type'],
    [png, 'image/png', 'a.pdf', 'extension'],
    [png, 'image/jpeg', 'a.png', 'type'],
    [jpeg, 'image/jpg', 'a.jpeg', undefined],
    [jpeg, 'image/pjpeg', 'a.jfif', undefined],
    [mp4, 'video/x-m4v', 'a.m4v', undefined],
    [mp4, 'audio/mp4', 'a.m4a', undefined],
    [mp4, 'video/quicktime', 'a.mp4', 'type'],
    [mp4, 'video/mp4', 'a.mov', 'extension'],
    [{ mime: 'text/plain', ext: 'txt' }, 'text/plain', 'a.txt', undefined],
    [{ mime: 'text/plain', ext: 'txt' }, 'text/plain', 'a.png', 'extension'],
  ] as const)('%j declared %j named %j → %s', (detected, declaredType, name, expected) => {
    expect(contradictsDetected(detected, { declaredType, name })).toBe(expected);
  });
});
