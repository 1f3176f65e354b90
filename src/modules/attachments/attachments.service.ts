import type { Readable } from 'node:stream';
import type { RateLimiter } from '../../platform/rate-limit/rate-limit.js';
import { ScannerUnavailableError, type Scanner, type ScanResult } from '../../platform/scanner/scanner.js';
import type { Storage } from '../../platform/storage/storage.js';
import { createRateLimitedError } from '../../shared/errors.js';
import { newId } from '../../shared/ids.js';
import type { AuthUser } from '../auth/auth.service.js';
import {
  attachmentTypeOf,
  contradictsDetected,
  detectType,
  essence,
  isMimeAllowed,
  sanitizeFileName,
  SNIFF_BYTES,
} from './attachments.content.js';
import {
  createInfectedError,
  createScannerUnavailableError,
  createTooLargeError,
  createTypeMismatchError,
  createTypeNotAllowedError,
} from './attachments.errors.js';
import type { AttachmentsRepository } from './attachments.repository.js';
import type { AttachmentRow, AttachmentType } from './attachments.table.js';
import { readHead } from './attachments.stream.js';

/** One uploaded file as the transport hands it over (the route adapts multipart to this). */
export type IncomingFile = {
  stream: Readable;
  /** As the client sent them: claims to check, never trusted. */
  filename: string | undefined;
  declaredType: string | undefined;
  /** True when the transport cut the file at its own size limit. */
  truncated(): boolean;
  /** Reads the rest of the request; rejects (400) when it holds another file. */
  finish(): Promise<void>;
};

export type AttachmentView = {
  attachment_id: string;
  tipo: AttachmentType;
  nome: string;
  mime_type: string;
  tamanho: number;
  url: string;
  thumb_url: string | null;
  /** Infected uploads are refused, so a view says clean or skipped. */
  scan: 'clean' | 'skipped';
};

export const downloadUrl = (id: string) => `/api/chat/attachments/${id}/download/`;

function toView(row: AttachmentRow & { scanStatus: 'clean' | 'skipped' }): AttachmentView {
  return {
    attachment_id: row.id,
    tipo: row.tipo,
    nome: row.nome,
    mime_type: row.mimeType,
    tamanho: row.tamanho,
    url: downloadUrl(row.id),
    thumb_url: null,
    scan: row.scanStatus,
  };
}

/** Generated, never derived from user input: `attachments/<yyyy>/<mm>/<id>`. */
export function storageKeyFor(id: string, now: Date): string {
  const month = String(now.getUTCMonth() + 1).padStart(2, '0');
  return `attachments/${now.getUTCFullYear()}/${month}/${id}`;
}

export function createAttachmentsService(deps: {
  attachmentsRepository: Pick<AttachmentsRepository, 'insert'>;
  storage: Storage;
  scanner: Pick<Scanner, 'scan' | 'configured'>;
  uploadRateLimiter: RateLimiter;
  settings: {
    maxSize: number;
    allowedMimeTypes: readonly string[];
    /** CLAMAV_REQUIRED: an unreachable scanner refuses uploads (503) instead of skipping the scan. */
    scannerRequired?: boolean;
  };
  now?: () => Date;
}) {
  const { attachmentsRepository, storage, scanner, settings } = deps;
  const now = deps.now ?? (() => new Date());

  async function scanStored(key: string): Promise<ScanResult> {
    // No scanner configured: nothing to read the stored bytes back for.
    if (!scanner.configured) return { status: 'skipped' };
    try {
      const stored = await storage.get(key);
      if (!stored) throw new ScannerUnavailableError('the stored upload vanished before its scan');
      return await scanner.scan(stored.body);
    } catch (error) {
      if (!(error instanceof ScannerUnavailableError)) throw error;
      if (settings.scannerRequired) throw createScannerUnavailableError();
      return { status: 'skipped' };
    }
  }

  return {
    /**
     * Streams one file to storage: the type is decided from its first bytes before anything is
     * written, the size is counted while it streams, then the stored bytes are scanned. Any refusal
     * leaves no bytes behind; an infected file leaves a row that says so (and no bytes).
     */
    async upload(user: AuthUser, open: () => Promise<IncomingFile>): Promise<AttachmentView> {
      const decision = await deps.uploadRateLimiter.consume(`upload:${user.id}`);
      if (!decision.allowed) throw createRateLimitedError(decision.retryAfterMs, 'uploads');
      const file = await open();
      const nome = sanitizeFileName(file.filename);
      const claim = { declaredType: file.declaredType ?? '', name: nome };
      const tooLarge = () => createTooLargeError(settings.maxSize);
      const head = await readHead(file.stream, SNIFF_BYTES, {
        maxBytes: settings.maxSize,
        tooLarge,
        truncated: () => file.truncated(),
      });
      const detected = await detectType(head.head, head.ended, claim);
      if (!isMimeAllowed(detected.mime, settings.allowedMimeTypes)) {
        await head.release();
        throw createTypeNotAllowedError(detected.mime);
      }
      const lie = contradictsDetected(detected, claim);
      if (lie) {
        await head.release();
        throw createTypeMismatchError(
          lie === 'type'
            ? `The declared type ${essence(claim.declaredType)} does not match the content (${detected.mime}).`
            : `The file name's extension does not match the content (${detected.mime}).`,
        );
      }

      const id = newId();
      const storageKey = storageKeyFor(id, now());
      const { size } = await storage.put(storageKey, head.body(), { contentType: detected.mime });
      const row = {
        id,
        uploaderId: user.id,
        storageKey,
        nome,
        mimeType: detected.mime,
        tipo: attachmentTypeOf(detected.mime),
        tamanho: size,
      };
      try {
        await file.finish();
        const scan = await scanStored(storageKey);
        if (scan.status === 'infected') {
          await storage.delete(storageKey);
          await attachmentsRepository.insert({
            ...row,
            scanStatus: 'infected',
            scanSignature: scan.signature,
          });
          throw createInfectedError();
        }
        const stored = await attachmentsRepository.insert({
          ...row,
          scanStatus: scan.status,
          scanSignature: null,
        });
        return toView({ ...stored, scanStatus: scan.status });
      } catch (error) {
        await storage.delete(storageKey);
        throw error;
      }
    },
  };
}
export type AttachmentsService = ReturnType<typeof createAttachmentsService>;
