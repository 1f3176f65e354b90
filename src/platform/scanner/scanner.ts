import type { Readable } from 'node:stream';

/** What a virus scan says about a stream of bytes. */
export type ScanResult =
  | { status: 'clean' }
  | { status: 'infected'; signature: string }
  /** No scanner configured (CLAMAV_* unset). */
  | { status: 'skipped' };

/**
 * A virus scanner (ClamAV's clamd over INSTREAM, TCP or a Unix socket). `scan` rejects with a
 * ScannerUnavailableError when the scanner cannot be reached or answers with an error, so callers
 * decide (CLAMAV_REQUIRED=true → 503; otherwise accepted as skipped).
 */
export interface Scanner {
  readonly configured: boolean;
  scan(body: Readable): Promise<ScanResult>;
  close(): Promise<void>;
}

export class ScannerUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ScannerUnavailableError';
  }
}
