import { describe, expect, it } from 'vitest';
import { frameHeader, parseInstreamReply } from './clamd-scanner.js';
import { ScannerUnavailableError } from './scanner.js';

describe('clamd INSTREAM framing', () => {
  it('prefixes chunks with a 4-byte big-endian length; zero ends the stream', () => {
    expect([...frameHeader(0)]).toEqual([0, 0, 0, 0]);
    expect([...frameHeader(68)]).toEqual([0, 0, 0, 68]);
    expect([...frameHeader(65_536)]).toEqual([0, 1, 0, 0]);
    expect([...frameHeader(0x01020304)]).toEqual([1, 2, 3, 4]);
  });

  it('reads the verdicts clamd gives', () => {
    expect(parseInstreamReply('stream: OK')).toEqual({ status: 'clean' });
    expect(parseInstreamReply('stream: Win.Test.EICAR_HDB-1 FOUND')).toEqual({
      status: 'infected',
      signature: 'Win.Test.EICAR_HDB-1',
    });
    expect(() => parseInstreamReply('INSTREAM size limit exceeded. ERROR')).toThrow(ScannerUnavailableError);
    expect(() => parseInstreamReply('INSTREAM size limit exceeded. ERROR')).toThrow(/size limit exceeded/);
    expect(() => parseInstreamReply('UNKNOWN COMMAND')).toThrow(ScannerUnavailableError);
  });
});
