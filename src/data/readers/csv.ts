/**
 * CSV loading shared by the BRSET and manifest readers: BOM, CRLF and quoted fields handled by
 * csv-parse; rows numbered like a spreadsheet (header = row 1, first data row = 2); rows whose cell
 * count differs from the header are returned separately so that the caller can skip and report them
 * (a shifted row would put values under the wrong column, so it is never repaired).
 *
 * Two things a spreadsheet export does that are read, and said (CsvTable.notes), not guessed silently:
 * - a semicolon- or tab-separated file (a European-locale Excel export): the delimiter is taken from
 *   the header line when it holds no comma but semicolons or tabs;
 * - bytes that are not UTF-8 (a Latin-1 / Windows export; BRSET's Portuguese values, say "São
 *   Paulo"): read as Latin-1, with the row and column of the first such byte, so a user can check it.
 */
import { readFileSync } from 'node:fs';
import { parse } from 'csv-parse/sync';
import { DatasetError } from './report.js';

export interface CsvRow {
  /** Spreadsheet row number: header = 1, first data row = 2. */
  row: number;
  /** Cells, trimmed, one per header column. */
  cells: string[];
}

export interface CsvTable {
  file: string;
  /** Header cells as written (trimmed, BOM removed). */
  header: string[];
  rows: CsvRow[];
  /** Rows whose cell count differs from the header's: (row, cell count). */
  ragged: { row: number; cells: number }[];
  /** The delimiter the file was read with. */
  delimiter: ',' | ';' | '\t';
  /** How the file was read when it was not plain comma-separated UTF-8 (for the read report). */
  notes: string[];
}

const DELIMITER_NAMES = { ',': 'comma', ';': 'semicolon', '\t': 'tab' } as const;

/** The header line's delimiter: a comma when it has one, else the more frequent of semicolon and tab (outside quotes). */
export function detectDelimiter(text: string): ',' | ';' | '\t' {
  const counts = { ',': 0, ';': 0, '\t': 0 };
  let quoted = false;
  for (const ch of text) {
    if (ch === '"') quoted = !quoted;
    else if (!quoted && (ch === '\n' || ch === '\r')) break;
    else if (!quoted && (ch === ',' || ch === ';' || ch === '\t')) counts[ch]++;
  }
  if (counts[','] > 0 || (counts[';'] === 0 && counts['\t'] === 0)) return ',';
  return counts[';'] >= counts['\t'] ? ';' : '\t';
}

/**
 * The file's text: UTF-8 when it is valid UTF-8, else Latin-1 with a note naming the row and the
 * column (by header name when the header is readable) of the first byte that is not UTF-8.
 */
function decodeText(file: string, bytes: Buffer, notes: string[]): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    const bad = firstInvalidUtf8(bytes);
    const before = bytes.subarray(0, bad).toString('latin1');
    const lineStart = before.lastIndexOf('\n') + 1;
    const row = before.split('\n').length;
    const text = bytes.toString('latin1');
    const delimiter = detectDelimiter(text);
    const column = before.slice(lineStart).split(delimiter).length; // 1-based; a quoted delimiter before it would shift this
    const headerCells = text.slice(0, Math.max(0, text.indexOf('\n'))).replace(/\r$/, '').split(delimiter);
    const name = headerCells[column - 1]?.trim().replace(/^"|"$/g, '');
    notes.push(`${file} is not UTF-8: byte 0x${(bytes[bad] as number).toString(16)} at row ${row}, column ${column}` +
      `${name ? ` (${name})` : ''}; read as Latin-1 (ISO-8859-1): check accented values, or save the file as UTF-8`);
    return text;
  }
}

/** Offset of the first byte that does not start or continue a valid UTF-8 sequence. */
function firstInvalidUtf8(b: Buffer): number {
  let i = 0;
  while (i < b.length) {
    const c = b[i] as number;
    const n = c < 0x80 ? 0 : c >= 0xc2 && c <= 0xdf ? 1 : c >= 0xe0 && c <= 0xef ? 2 : c >= 0xf0 && c <= 0xf4 ? 3 : -1;
    if (n < 0) return i;
    for (let k = 1; k <= n; k++) if (((b[i + k] ?? 0) & 0xc0) !== 0x80) return i;
    i += n + 1;
  }
  return Math.max(0, b.length - 1);
}

/**
 * Parse a CSV file into header + rows. Empty lines are skipped.
 *
 * @example const t = readCsv('/data/brset/labels_brset.csv'); t.header[0] // 'image_id'
 */
export function readCsv(file: string): CsvTable {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'EISDIR' ? 'it is a folder, not a file' : code === 'EACCES' ? 'no permission to read it' : code === 'ENOENT' ? 'no such file' : (e as Error).message;
    throw new DatasetError(`cannot read ${file}: ${why}`);
  }
  const notes: string[] = [];
  const text = decodeText(file, bytes, notes);
  const delimiter = detectDelimiter(text.replace(/^\uFEFF/, ''));
  if (delimiter !== ',') notes.push(`${file}: the header has no comma but ${DELIMITER_NAMES[delimiter]}s: read as ${DELIMITER_NAMES[delimiter]}-separated`);
  let parsed: string[][];
  try {
    parsed = parse(text, { bom: true, skip_empty_lines: true, relax_column_count: true, trim: true, delimiter });
  } catch (e) {
    throw new DatasetError(`${file}: not valid CSV: ${(e as Error).message}`);
  }
  const [header, ...body] = parsed;
  if (header === undefined) throw new DatasetError(`${file}: empty file (expected a header row)`);
  const rows: CsvRow[] = [];
  const ragged: { row: number; cells: number }[] = [];
  body.forEach((cells, i) => {
    const row = i + 2;
    if (cells.length !== header.length) ragged.push({ row, cells: cells.length });
    else rows.push({ row, cells });
  });
  return { file, header, rows, ragged, delimiter, notes };
}
