import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createScanner } from './create-scanner.js';
import { ScannerUnavailableError } from './scanner.js';

describe('createScanner', () => {
  it('skips without CLAMAV_* and speaks to clamd when configured', async () => {
    const none = createScanner({ scanner: undefined });
    expect(none.configured).toBe(false);
    expect(await none.scan(Readable.from([Buffer.from('x')]))).toEqual({ status: 'skipped' });
    const clamd = createScanner({
      scanner: { socketPath: '/nonexistent/clamd.sock', required: true, timeoutMs: 1000 },
    });
    expect(clamd.configured).toBe(true);
    await expect(clamd.scan(Readable.from([Buffer.from('x')]))).rejects.toThrow(ScannerUnavailableError);
    await clamd.close();
  });
});
