/**
 * CSV loading shared by the BRSET and manifest readers: BOM, CRLF and quoted fields handled by
 * csv-parse; rows numbered like a spreadsheet (header = row 1, first data row = 2); rows whose cell
 * count differs from the header are returned separately so that the caller can skip and report them
 * (a shifted row would put values under the wrong column, so it is never repaired).
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
}

/**
 * Parse a CSV file into header + rows. Empty lines are skipped.
 *
 * @example const t = readCsv('/data/brset/labels_brset.csv'); t.header[0] // 'image_id'
 */
export function readCsv(file: string): CsvTable {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new DatasetError(`cannot read ${file}: ${(e as Error).message}`);
  }
  let parsed: string[][];
  try {
    parsed = parse(text, { bom: true, skip_empty_lines: true, relax_column_count: true, trim: true });
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
  return { file, header, rows, ragged };
}
