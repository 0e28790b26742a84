/**
 * Generic manifest reader: a CSV or JSONL file, one image per row.
 *
 * Columns (matched case-insensitively):
 *   image | image_path   required; relative paths are resolved against the manifest's folder
 *   image_id             optional; default: the image path as written
 *   patient_id           optional; default: imageId (each image its own patient; the report says so)
 *   note                 optional clinical note
 *   icdr | DR_ICDR, sdrg | DR_SDRG   optional grades 0..4 (empty = no label; invalid = row skipped)
 *   diabetic_retinopathy, macular_edema and the BRSET disease flags: labels, never fields
 *   anything else        a tabular field. Typed per column: all booleans -> boolean; more than half
 *                        of the present values numeric -> numeric (non-numeric values become null and
 *                        are counted as dirty); otherwise text.
 */
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import type { ExamRecord, FieldValue, Labels } from '../types.js';
import { BRSET_FLAG_COLUMNS } from './brset.js';
import { readCsv } from './csv.js';
import { addDirty, DatasetError, emptyReport, type ReadReport, type RowRef } from './report.js';
import { INVALID, decodeFlag, decodeGrade, isMissingCell, parseNumber, type Decoded } from './values.js';

export interface ManifestRead {
  records: ExamRecord[];
  report: ReadReport;
  rowOf: Map<string, RowRef>;
  /** Type chosen for each tabular column. */
  columnTypes: Record<string, 'numeric' | 'boolean' | 'text'>;
}

interface RawRow {
  row: number;
  values: Record<string, unknown>;
}

const IMAGE_COLS = ['image', 'image_path'];
const FLAG_ALIASES: Record<string, string> = { drusens: 'drusen' };

function isMissing(v: unknown): boolean {
  return v === undefined || v === null || (typeof v === 'string' && isMissingCell(v));
}

function decodeLabelFlag(v: unknown): Decoded<boolean> {
  if (isMissing(v)) return null;
  if (typeof v === 'boolean') return v;
  if (typeof v === 'number' || typeof v === 'string') {
    const t = String(v).trim().toLowerCase();
    if (t === 'true') return true;
    if (t === 'false') return false;
    return decodeFlag(t);
  }
  return INVALID;
}

function decodeLabelGrade(v: unknown): Decoded<number> {
  if (isMissing(v)) return null;
  if (typeof v === 'number' || typeof v === 'string') return decodeGrade(String(v));
  return INVALID;
}

function show(v: unknown): string {
  return typeof v === 'string' ? v : JSON.stringify(v);
}

function readJsonl(file: string, report: ReadReport): RawRow[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8').replace(/^\uFEFF/, '');
  } catch (e) {
    throw new DatasetError(`cannot read ${file}: ${(e as Error).message}`);
  }
  const rows: RawRow[] = [];
  text.split(/\r?\n/).forEach((line, i) => {
    if (line.trim() === '') return;
    report.rowsRead++;
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch (e) {
      report.skipped.push({ file, row: i + 1, imageId: null, reason: `not valid JSON: ${(e as Error).message}` });
      return;
    }
    if (typeof v !== 'object' || v === null || Array.isArray(v)) {
      report.skipped.push({ file, row: i + 1, imageId: null, reason: 'line is not a JSON object' });
      return;
    }
    rows.push({ row: i + 1, values: v as Record<string, unknown> });
  });
  return rows;
}

/**
 * Read a CSV or JSONL manifest (by extension: .jsonl/.ndjson = JSONL, anything else = CSV).
 *
 * @example
 *   // manifest.csv: image,patient_id,icdr,note,age
 *   const { records } = readManifest('/data/mine/manifest.csv');
 *   records[0].fields.age // 61 (number)
 */
export function readManifest(file: string): ManifestRead {
  const path = resolve(file);
  const report = emptyReport();
  report.sources.push(path);
  let raw: RawRow[];
  let columns: string[];
  if (/\.(jsonl|ndjson)$/i.test(path)) {
    raw = readJsonl(path, report);
    const seen = new Set<string>();
    for (const r of raw) for (const k of Object.keys(r.values)) seen.add(k);
    columns = [...seen];
  } else {
    const t = readCsv(path);
    report.notes.push(...t.notes);
    columns = t.header;
    report.rowsRead = t.rows.length + t.ragged.length;
    for (const r of t.ragged) {
      report.skipped.push({ file: path, row: r.row, imageId: null, reason: `has ${r.cells} cells, header has ${t.header.length}` });
    }
    raw = t.rows.map(({ row, cells }) => ({ row, values: Object.fromEntries(columns.map((c, i) => [c, cells[i] ?? ''])) }));
  }

  const lower = new Map(columns.map((c) => [c.trim().toLowerCase(), c]));
  const imageCol = IMAGE_COLS.map((c) => lower.get(c)).find((c) => c !== undefined);
  if (imageCol === undefined) {
    throw new DatasetError(`${path}: no image path column (expected one of ${IMAGE_COLS.join(', ')}); columns seen: ${columns.join(', ') || '(none)'}`);
  }
  const idCol = lower.get('image_id');
  const patientCol = lower.get('patient_id');
  const noteCol = lower.get('note');
  const icdrCol = lower.get('icdr') ?? lower.get('dr_icdr');
  const sdrgCol = lower.get('sdrg') ?? lower.get('dr_sdrg');
  const drCol = lower.get('diabetic_retinopathy');
  const meCol = lower.get('macular_edema');
  const flagSet = new Set<string>(BRSET_FLAG_COLUMNS);
  const flagCols: [string, string][] = [];
  const special = new Set([imageCol, idCol, patientCol, noteCol, icdrCol, sdrgCol, drCol, meCol, lower.get('icdr'), lower.get('dr_icdr'), lower.get('sdrg'), lower.get('dr_sdrg')]);
  for (const c of columns) {
    const l = c.trim().toLowerCase();
    const f = FLAG_ALIASES[l] ?? l;
    if (flagSet.has(f)) { flagCols.push([f, c]); special.add(c); }
  }
  const fieldCols = columns.filter((c) => !special.has(c));
  if (patientCol === undefined) report.notes.push('no patient_id column: patientId = imageId (each image its own patient)');

  // Column typing over all rows (see the file comment).
  const columnTypes: Record<string, 'numeric' | 'boolean' | 'text'> = {};
  for (const c of fieldCols) {
    let present = 0, numeric = 0, bools = 0;
    for (const r of raw) {
      const v = r.values[c];
      if (isMissing(v)) continue;
      present++;
      if (typeof v === 'boolean') bools++;
      else if (typeof v === 'number' || (typeof v === 'string' && parseNumber(v) !== null)) numeric++;
    }
    columnTypes[c] = present > 0 && bools === present ? 'boolean' : numeric * 2 > present ? 'numeric' : 'text';
  }
  if (fieldCols.length > 0) {
    report.notes.push(`tabular columns: ${fieldCols.map((c) => `${c} (${columnTypes[c]})`).join(', ')}`);
  }

  const dir = dirname(path);
  const records: ExamRecord[] = [];
  const rowOf = new Map<string, RowRef>();
  let missingPatient = 0;
  for (const { row, values } of raw) {
    const imgRaw = values[imageCol];
    const idRaw = idCol === undefined ? undefined : values[idCol];
    const image = typeof imgRaw === 'string' ? imgRaw.trim() : '';
    const imageId = !isMissing(idRaw) && (typeof idRaw === 'string' || typeof idRaw === 'number') ? String(idRaw).trim() : image;
    const skip = (reason: string): void => {
      report.skipped.push({ file: path, row, imageId: imageId === '' ? null : imageId, reason });
    };
    if (image === '') { skip(`empty or non-text ${imageCol} (got ${show(imgRaw)})`); continue; }
    if (rowOf.has(imageId)) { skip(`duplicate image id ${imageId} (first at row ${rowOf.get(imageId)?.row})`); continue; }

    let bad: string | null = null;
    const grade = (col: string | undefined): number | null => {
      if (col === undefined) return null;
      const g = decodeLabelGrade(values[col]);
      if (g === INVALID) {
        addDirty(report, col, show(values[col]));
        bad ??= `invalid ${col} "${show(values[col])}" (expected 0..4 or empty)`;
        return null;
      }
      return g;
    };
    const icdr = grade(icdrCol);
    const sdrg = grade(sdrgCol);
    if (bad !== null) { skip(bad); continue; }
    const flag = (col: string | undefined): boolean | null => {
      if (col === undefined) return null;
      const v = decodeLabelFlag(values[col]);
      if (v === INVALID) { addDirty(report, col, show(values[col])); return null; }
      return v;
    };
    const labels: Labels = {
      icdr, sdrg,
      diabeticRetinopathy: flag(drCol),
      macularEdema: flag(meCol),
      flags: Object.fromEntries(flagCols.map(([name, col]) => [name, flag(col)])),
    };

    const fields: Record<string, FieldValue> = {};
    for (const c of fieldCols) {
      const v = values[c];
      const type = columnTypes[c];
      if (isMissing(v)) { fields[c] = null; continue; }
      let out: FieldValue | typeof INVALID = INVALID;
      if (type === 'boolean') out = typeof v === 'boolean' ? v : INVALID;
      else if (type === 'numeric') out = typeof v === 'number' ? v : typeof v === 'string' ? (parseNumber(v) ?? INVALID) : INVALID;
      else if (typeof v === 'string') out = v.trim();
      else if (typeof v === 'number' || typeof v === 'boolean') out = String(v);
      if (out === INVALID) { addDirty(report, c, show(v)); fields[c] = null; }
      else fields[c] = out;
    }

    const pRaw = patientCol === undefined ? undefined : values[patientCol];
    const hasPatient = !isMissing(pRaw) && (typeof pRaw === 'string' || typeof pRaw === 'number');
    if (!hasPatient && patientCol !== undefined) missingPatient++;
    const patientId = hasPatient ? String(pRaw).trim() : imageId;
    const noteRaw = noteCol === undefined ? undefined : values[noteCol];
    const rec: ExamRecord = {
      imageId,
      patientId,
      imagePath: isAbsolute(image) ? image : join(dir, image),
      eye: 'unknown',
      fields,
      labels,
    };
    if (typeof noteRaw === 'string' && noteRaw.trim() !== '') rec.note = noteRaw.trim();
    records.push(rec);
    rowOf.set(imageId, { file: path, row });
  }
  if (missingPatient > 0) report.notes.push(`${missingPatient} rows without patient_id: patientId = imageId for them`);
  report.rowsKept = records.length;
  return { records, report, rowOf, columnTypes };
}
