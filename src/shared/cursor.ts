// Opaque keyset cursors: base64url JSON of the direction and the boundary sequence number.
export type Cursor = { direction: 'after' | 'before'; seq: number };

export function encodeCursor(cursor: Cursor): string {
  return Buffer.from(JSON.stringify([cursor.direction === 'after' ? 'a' : 'b', cursor.seq])).toString(
    'base64url',
  );
}

export function decodeCursor(value: string): Cursor | undefined {
  try {
    const parsed: unknown = JSON.parse(Buffer.from(value, 'base64url').toString('utf8'));
    if (!Array.isArray(parsed) || parsed.length !== 2) return undefined;
    const [direction, seq] = parsed as unknown[];
    if ((direction !== 'a' && direction !== 'b') || !Number.isSafeInteger(seq) || (seq as number) < 0) {
      return undefined;
    }
    return { direction: direction === 'a' ? 'after' : 'before', seq: seq as number };
  } catch {
    return undefined;
  }
}

/**
 * Opaque cursors for lists ordered by several columns (a count, a time, an id): base64url JSON of
 * the last row's sort key. `isValid` checks the decoded parts, so a forged cursor answers 400.
 */
export function encodeKeyCursor(parts: readonly (string | number)[]): string {
  return Buffer.from(JSON.stringify(parts)).toString('base64url');
}

export function decodeKeyCursor<T extends (string | number)[]>(
  value: string,
  isValid: (parts: unknown[]) => parts is T,
): T | undefined {
  try {
    const parsed: unknown = JSON.parse(Buffer.from(value, 'base64url').toString('utf8'));
    return Array.isArray(parsed) && isValid(parsed) ? parsed : undefined;
  } catch {
    return undefined;
  }
}
