import { fileTypeFromBuffer, supportedExtensions } from 'file-type';
import type { AttachmentType } from './attachments.table.js';

/** Bytes read before the type is decided (file-type looks at most ~4 KiB for what we accept). */
export const SNIFF_BYTES = 4100;
export const FALLBACK_NAME = 'arquivo';
const OCTET_STREAM = 'application/octet-stream';

// Control characters, lone surrogates (unstorable), and the invisible marks that reorder text
// (an "exe.png" shown as "png.exe").
const UNSAFE_CHARACTERS = /[\p{Cc}\p{Surrogate}\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]/gu;

/**
 * A display name from what the client sent: the last path component (either separator), without
 * control characters or bidi overrides, trimmed, at most 255 characters; `arquivo` when nothing is
 * left. Only shown to people: storage keys never come from it.
 */
export function sanitizeFileName(raw: string | undefined): string {
  const last = (raw ?? '').split(/[/\\]/).pop() ?? '';
  const cleaned = last.replace(UNSAFE_CHARACTERS, '').trim();
  const capped = Array.from(cleaned).slice(0, 255).join('').trim();
  return capped === '' || capped === '.' || capped === '..' ? FALLBACK_NAME : capped;
}

/** `type/subtype` in lower case without parameters; '' when absent or malformed. */
export function essence(mimeType: string | undefined): string {
  const value = (mimeType ?? '').split(';')[0]!.trim().toLowerCase();
  return /^[a-z0-9.+-]+\/[a-z0-9.+-]+$/.test(value) ? value : '';
}

/** Whether `mimeType` is in the allow list (`image/*` covers every image type). */
export function isMimeAllowed(mimeType: string, allowed: readonly string[]): boolean {
  const type = essence(mimeType);
  if (type === '') return false;
  return allowed.some((pattern) => {
    const wanted = pattern.trim().toLowerCase();
    return wanted.endsWith('/*') ? type.startsWith(wanted.slice(0, -1)) : type === wanted;
  });
}

export function attachmentTypeOf(mimeType: string): AttachmentType {
  if (mimeType.startsWith('image/')) return 'image';
  if (mimeType.startsWith('video/')) return 'video';
  return 'file';
}

function extensionOf(name: string): string {
  const dot = name.lastIndexOf('.');
  return dot > 0 ? name.slice(dot + 1).toLowerCase() : '';
}

/** Valid UTF-8 without NUL; a multi-byte character cut by the end of the head is fine. */
function looksLikeText(head: Buffer, complete: boolean): boolean {
  if (head.includes(0)) return false;
  const decoder = new TextDecoder('utf-8', { fatal: true });
  try {
    decoder.decode(head, { stream: !complete });
    return true;
  } catch {
    return false;
  }
}

export type DetectedType = { mime: string; ext: string };

/**
 * The type of the bytes, from their first bytes (magic numbers). Plain text has none: it is
 * `text/plain` only when the head is UTF-8 without NUL and the client also said text (declared
 * `text/plain` or a `.txt` name); anything else unknown is `application/octet-stream`.
 */
export async function detectType(
  head: Buffer,
  complete: boolean,
  claim: { declaredType: string; name: string },
): Promise<DetectedType> {
  const found = await fileTypeFromBuffer(head);
  if (found) return { mime: found.mime, ext: found.ext };
  const saysText = essence(claim.declaredType) === 'text/plain' || extensionOf(claim.name) === 'txt';
  if (saysText && head.length > 0 && looksLikeText(head, complete)) return { mime: 'text/plain', ext: 'txt' };
  return { mime: OCTET_STREAM, ext: '' };
}

// Names for the same thing that clients use; each list's members are interchangeable.
const MIME_ALIASES = [
  ['image/jpeg', 'image/jpg', 'image/pjpeg'],
  ['video/mp4', 'video/x-m4v', 'application/mp4'],
  ['audio/mp4', 'audio/x-m4a', 'audio/m4a'],
  ['audio/mpeg', 'audio/mp3'],
  ['application/pdf', 'application/x-pdf'],
  ['image/png', 'image/x-png'],
  ['video/quicktime', 'video/mov'],
];
const EXTENSION_ALIASES = [
  ['jpg', 'jpeg', 'jpe', 'jfif'],
  ['mp4', 'm4v', 'mp4v'],
  ['m4a', 'mp4a'],
  ['tif', 'tiff'],
  ['mov', 'qt'],
  ['txt', 'text'],
];
const same = (groups: string[][], a: string, b: string) =>
  a === b || groups.some((group) => group.includes(a) && group.includes(b));

/**
 * Whether the client's claims contradict the detected type. No claim is no contradiction: an
 * absent or `application/octet-stream` declared type, a name without extension or with one we do
 * not know. A video/mp4 file and an audio/mp4 claim (or the reverse) share a container: not a lie.
 */
export function contradictsDetected(
  detected: DetectedType,
  claim: { declaredType: string; name: string },
): 'type' | 'extension' | undefined {
  const declared = essence(claim.declaredType);
  if (declared !== '' && declared !== OCTET_STREAM) {
    const mp4Family = (type: string) =>
      ['video/mp4', 'audio/mp4', 'audio/x-m4a', 'video/x-m4v'].includes(type);
    if (!same(MIME_ALIASES, declared, detected.mime) && !(mp4Family(declared) && mp4Family(detected.mime)))
      return 'type';
  }
  const extension = extensionOf(claim.name);
  const known = extension !== '' && (supportedExtensions.has(extension as never) || extension === 'txt');
  if (known && !same(EXTENSION_ALIASES, extension, detected.ext)) {
    const mp4Family = (ext: string) => ['mp4', 'm4v', 'm4a', 'mp4v', 'mp4a'].includes(ext);
    if (!(mp4Family(extension) && mp4Family(detected.ext))) return 'extension';
  }
  return undefined;
}
