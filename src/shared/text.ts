// PostgreSQL cannot store NUL in text, nor a lone UTF-16 surrogate in jsonb (the event log):
// such strings are refused up front (400 / error frame) instead of failing in the database.
// eslint-disable-next-line no-control-regex -- matching NUL is the point
const UNSTORABLE = /\u0000|\p{Surrogate}/u;

/** True when any string (or key) in the value cannot be stored. */
export function containsUnstorableText(value: unknown, depth = 0): boolean {
  if (typeof value === 'string') return UNSTORABLE.test(value);
  if (depth > 32 || value === null || typeof value !== 'object') return false;
  if (Array.isArray(value)) return value.some((item) => containsUnstorableText(item, depth + 1));
  return Object.entries(value).some(
    ([key, item]) => UNSTORABLE.test(key) || containsUnstorableText(item, depth + 1),
  );
}
