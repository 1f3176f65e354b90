/** Parses an ISO 8601 timestamp strictly; returns undefined for anything Date would guess at. */
export function parseIsoTimestamp(value: string): Date | undefined {
  const iso = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?$/;
  if (!iso.test(value)) return undefined;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? undefined : date;
}
