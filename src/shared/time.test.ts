import { describe, expect, it } from 'vitest';
import { parseIsoTimestamp } from './time.js';

describe('parseIsoTimestamp', () => {
  it('reads ISO 8601 timestamps, dates alone and offsets', () => {
    expect(parseIsoTimestamp('2024-05-01T10:00:00.123456Z')?.toISOString()).toBe('2024-05-01T10:00:00.123Z');
    expect(parseIsoTimestamp('2024-05-01')?.toISOString()).toBe('2024-05-01T00:00:00.000Z');
    expect(parseIsoTimestamp('2024-05-01T10:00:00-03:00')?.toISOString()).toBe('2024-05-01T13:00:00.000Z');
  });

  it('refuses malformed or impossible values, and year 0 (which PostgreSQL does not accept)', () => {
    for (const value of ['ontem', '2024-02-30', '2024-13-01', '2024-01-01T24:00:00Z', '0000-01-01T00:00:00Z'])
      expect(parseIsoTimestamp(value), value).toBeUndefined();
  });
});
