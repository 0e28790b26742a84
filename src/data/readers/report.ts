/**
 * What a reader saw besides the records: rows read, rows skipped (with the reason), dirty values
 * per column, missing counts per field, and free-text notes (e.g. "no patient ids"). Every reader
 * fills one of these; `data check` prints it.
 */
import type { ExamRecord } from '../types.js';

/** Why an image row was dropped by the image check. */
export type ImageProblem = 'missing' | 'unreadable' | 'not-an-image' | 'corrupt' | 'too-large';

/** One row that did not become a record. `row` is the 1-based row in the source (CSV: the header is row 1). */
export interface SkippedRow {
  /** Source file the row came from. */
  file: string;
  /** CSV row number (header = 1, first data row = 2), JSON entry number (1-based), or null. */
  row: number | null;
  imageId: string | null;
  reason: string;
  /** Set when the row was dropped by the image check. */
  image?: ImageProblem;
}

/** Where a record came from: source file and row (see SkippedRow.row). */
export interface RowRef {
  file: string;
  row: number;
}

/** Image-check tallies; null in the report when images were not checked. */
export interface ImageSummary {
  /** 'sniff' = exists + magic bytes; 'decode' = also a real (tiny) decode that catches truncation. */
  mode: 'sniff' | 'decode';
  checked: number;
  /** Images that passed every check. */
  usable: number;
  /** Files that exist (usable or not). */
  found: number;
  missing: number;
  unreadable: number;
  notImage: number;
  corrupt: number;
  /** Over the training pipeline's pixel limit (decompression-bomb guard). */
  tooLarge: number;
}

export interface ReadReport {
  /** Files that were read (labels CSV, JSON files, manifest). */
  sources: string[];
  /** Data rows / JSON entries seen in the sources. */
  rowsRead: number;
  /** Records returned. */
  rowsKept: number;
  skipped: SkippedRow[];
  /**
   * Missing (null or absent) count per field over the returned records. Fields by their name;
   * `note` / `keywords` when the source ships them (empty keywords count as missing); labels as
   * `label:icdr`, `label:sdrg`, `label:diabetic_retinopathy`, `label:macular_edema`, `label:<flag>`.
   */
  missing: Record<string, number>;
  /** Column -> invalid source value -> count. Invalid values became null (never guessed). */
  dirty: Record<string, Record<string, number>>;
  /** Facts the user should know (e.g. "DeepEyeNet has no patient ids: patientId = imageId"). */
  notes: string[];
  images: ImageSummary | null;
}

/** A fresh, empty report. */
export function emptyReport(): ReadReport {
  return { sources: [], rowsRead: 0, rowsKept: 0, skipped: [], missing: {}, dirty: {}, notes: [], images: null };
}

/** Count one invalid value of a column. */
export function addDirty(report: ReadReport, column: string, value: string): void {
  const col = (report.dirty[column] ??= {});
  col[value] = (col[value] ?? 0) + 1;
}

/**
 * Missing counts per field and label over `records` (see ReadReport.missing for the keys).
 * A field absent from some records but present in others counts as missing there.
 *
 * @example countMissing([{ fields: { patient_age: null }, ... }]) // { patient_age: 1, 'label:icdr': 0, ... }
 */
export function countMissing(records: readonly ExamRecord[]): Record<string, number> {
  const fieldNames = new Set<string>();
  const flagNames = new Set<string>();
  for (const r of records) {
    for (const k of Object.keys(r.fields)) fieldNames.add(k);
    for (const k of Object.keys(r.labels.flags)) flagNames.add(k);
  }
  const out: Record<string, number> = {};
  for (const k of [...fieldNames].sort()) out[k] = 0;
  out['label:icdr'] = 0;
  out['label:sdrg'] = 0;
  out['label:diabetic_retinopathy'] = 0;
  out['label:macular_edema'] = 0;
  for (const k of [...flagNames].sort()) out[`label:${k}`] = 0;
  // note/keywords are counted only for sources that ship them (DeepEyeNet, manifests with notes).
  const hasNotes = records.some((r) => r.note !== undefined);
  const hasKeywords = records.some((r) => r.keywords !== undefined);
  if (hasNotes) out['note'] = 0;
  if (hasKeywords) out['keywords'] = 0;
  const inc = (k: string): void => {
    out[k] = (out[k] ?? 0) + 1;
  };
  for (const r of records) {
    for (const k of fieldNames) if (r.fields[k] === undefined || r.fields[k] === null) inc(k);
    if (r.labels.icdr === null) inc('label:icdr');
    if (r.labels.sdrg === null) inc('label:sdrg');
    if (r.labels.diabeticRetinopathy === null) inc('label:diabetic_retinopathy');
    if (r.labels.macularEdema === null) inc('label:macular_edema');
    for (const k of flagNames) {
      const v = r.labels.flags[k];
      if (v === undefined || v === null) inc(`label:${k}`);
    }
    if (hasNotes && r.note === undefined) inc('note');
    if (hasKeywords && (r.keywords === undefined || r.keywords.length === 0)) inc('keywords');
  }
  return out;
}

/**
 * A dataset that cannot be read at all (no labels file, no image_id column, bad JSON shape).
 * The message names the file, what was expected and what was seen.
 */
export class DatasetError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DatasetError';
  }
}
