import { stringify, type Options } from 'csv-stringify';
import { stringify as stringifySync } from 'csv-stringify/sync';

/**
 * CSV as spreadsheets read it safely: RFC 4180 quoting, CRLF records, UTF-8, and formula
 * neutralization. csv-stringify escapes a cell starting with `=`, `+`, `-`, `@`, tab or CR (and
 * their full-width forms) by prefixing `'` only when told (`escape_formulas`), so every CSV this
 * service writes goes through here.
 */
// A lone CR or LF is quoted too (csv-stringify quotes only the record delimiter by itself).
const OPTIONS: Options = {
  escape_formulas: true,
  record_delimiter: 'windows',
  header: true,
  quoted_match: /[\r\n]/,
};

export type CsvCell = string | number | boolean | null | undefined;

/** A whole (small) document: a header row then one row per record. */
export function toCsv(columns: readonly string[], rows: readonly (readonly CsvCell[])[]): string {
  return stringifySync(rows as CsvCell[][], { ...OPTIONS, columns: [...columns] });
}

/** A streaming serializer for large documents (exports): write arrays of cells, pipe the output. */
export function csvStream(columns: readonly string[]) {
  return stringify({ ...OPTIONS, columns: [...columns] });
}

export const CSV_CONTENT_TYPE = 'text/csv; charset=utf-8';
