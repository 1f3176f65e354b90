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
