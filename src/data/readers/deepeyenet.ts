/**
 * DeepEyeNet JSON reader (the annotation format of Huang et al., WACV 2021).
 *
 * Input: a folder with DeepEyeNet_train.json / DeepEyeNet_valid.json / DeepEyeNet_test.json, or one
 * such file. Each file is a JSON array of objects keyed by a relative image path (one or several
 * keys per object); a single top-level object of path keys is accepted too. Entry field names are
 * normalized: Keywords / keywords, clinical-description / clinical_description / Clinical Description.
 *
 * Records: imageId = the relative path key; patientId = imageId (DeepEyeNet has no patient ids, so
 * no patient grouping is possible: the report says so); imagePath = key resolved against the images
 * folder (default: the JSON file's folder); fields = {} (no tabular modality); note = description;
 * keywords = comma-separated keywords, trimmed, empties dropped; labels all null.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import type { ExamRecord, Labels } from '../types.js';
import { DatasetError, emptyReport, type ReadReport, type RowRef } from './report.js';

/** The three split files, in order; the value is the split name used in `givenSplit`. */
export const DEEPEYENET_FILES = {
  'DeepEyeNet_train.json': 'train',
  'DeepEyeNet_valid.json': 'val',
  'DeepEyeNet_test.json': 'test',
} as const;
export type DeepEyeNetSplit = (typeof DEEPEYENET_FILES)[keyof typeof DEEPEYENET_FILES];

export interface DeepEyeNetOptions {
  /** Folder the image keys are relative to; default: the folder of each JSON file. */
  imagesDir?: string;
  /** Which splits to read from a folder; default all three that exist. */
  splits?: readonly DeepEyeNetSplit[];
}

export interface DeepEyeNetRead {
  records: ExamRecord[];
  report: ReadReport;
  /** imageId -> file and 1-based entry number in it. */
  rowOf: Map<string, RowRef>;
  /** imageId -> the split file it came from ('train' | 'val' | 'test'), or null for other file names. */
  givenSplit: Map<string, DeepEyeNetSplit | null>;
}

/** The DeepEyeNet JSON files present in a folder. */
export function findDeepEyeNetFiles(dir: string): string[] {
  return Object.keys(DEEPEYENET_FILES).map((f) => join(dir, f)).filter((p) => existsSync(p));
}

const NO_LABELS = (): Labels => ({ icdr: null, sdrg: null, diabeticRetinopathy: null, macularEdema: null, flags: {} });

/** 'Clinical_Description' -> 'clinical-description'. */
function normKey(k: string): string {
  return k.trim().toLowerCase().replace(/[\s_]+/g, '-');
}

/**
 * Read DeepEyeNet annotations.
 *
 * @example
 *   const { records } = readDeepEyeNet('/data/deepeyenet', { splits: ['test'] });
 *   records[0].note; records[0].keywords // ['diabetic retinopathy', ...]
 */
export function readDeepEyeNet(dirOrFile: string, opts: DeepEyeNetOptions = {}): DeepEyeNetRead {
  const report = emptyReport();
  let files: string[];
  if (existsSync(dirOrFile) && statSync(dirOrFile).isDirectory()) {
    const wanted = opts.splits;
    files = findDeepEyeNetFiles(dirOrFile).filter((p) => {
      const s = DEEPEYENET_FILES[basename(p) as keyof typeof DEEPEYENET_FILES];
      return wanted === undefined || wanted.includes(s);
    });
    if (files.length === 0) {
      throw new DatasetError(
        `${resolve(dirOrFile)}: no DeepEyeNet files (looked for ${Object.keys(DEEPEYENET_FILES).join(', ')}` +
          `${wanted === undefined ? '' : ` for splits ${wanted.join(', ')}`})`,
      );
    }
  } else files = [dirOrFile];
  report.notes.push('DeepEyeNet has no patient ids: patientId = imageId, so splits cannot group by patient');
  report.notes.push('DeepEyeNet has no structured fields (tabular modality absent) and no DR grades');

  const records: ExamRecord[] = [];
  const rowOf = new Map<string, RowRef>();
  const givenSplit = new Map<string, DeepEyeNetSplit | null>();
  for (const f of files) {
    const file = resolve(f);
    report.sources.push(file);
    let data: unknown;
    try {
      data = JSON.parse(readFileSync(file, 'utf8').replace(/^\uFEFF/, ''));
    } catch (e) {
      throw new DatasetError(`${file}: not valid JSON: ${(e as Error).message}`);
    }
    let entries: unknown[];
    if (Array.isArray(data)) entries = data;
    else if (typeof data === 'object' && data !== null) entries = [data];
    else throw new DatasetError(`${file}: expected a JSON array of {"<image path>": {...}} objects, got ${typeof data}`);
    const split = DEEPEYENET_FILES[basename(file) as keyof typeof DEEPEYENET_FILES] ?? null;
    const root = opts.imagesDir !== undefined ? resolve(opts.imagesDir) : dirname(file);

    let entryNo = 0;
    entries.forEach((obj, ai) => {
      if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) {
        entryNo++;
        report.rowsRead++;
        report.skipped.push({ file, row: entryNo, imageId: null, reason: `array element ${ai} is not an object` });
        return;
      }
      for (const [key, value] of Object.entries(obj as Record<string, unknown>)) {
        entryNo++;
        report.rowsRead++;
        const skip = (reason: string): void => {
          report.skipped.push({ file, row: entryNo, imageId: key, reason });
        };
        if (key.trim() === '') { skip('empty image path key'); continue; }
        if (typeof value !== 'object' || value === null || Array.isArray(value)) {
          skip(`value is not an object with keywords / clinical-description (got ${JSON.stringify(value)})`);
          continue;
        }
        if (rowOf.has(key)) {
          const first = rowOf.get(key);
          skip(`duplicate image path (first at entry ${first?.row} of ${first?.file})`);
          continue;
        }
        let keywordsRaw: unknown;
        let desc: unknown;
        for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
          const n = normKey(k);
          if (n === 'keywords') keywordsRaw = v;
          else if (n === 'clinical-description') desc = v;
        }
        let keywords: string[];
        if (keywordsRaw === undefined || keywordsRaw === null) keywords = [];
        else if (typeof keywordsRaw === 'string') keywords = keywordsRaw.split(',').map((s) => s.trim()).filter((s) => s !== '');
        else if (Array.isArray(keywordsRaw) && keywordsRaw.every((s) => typeof s === 'string')) {
          keywords = keywordsRaw.map((s) => s.trim()).filter((s) => s !== '');
        } else { skip(`keywords is not a string (got ${JSON.stringify(keywordsRaw)})`); continue; }
        if (desc !== undefined && desc !== null && typeof desc !== 'string') {
          skip(`clinical-description is not a string (got ${JSON.stringify(desc)})`);
          continue;
        }
        const note = typeof desc === 'string' && desc.trim() !== '' ? desc.trim() : undefined;
        const rec: ExamRecord = {
          imageId: key,
          patientId: key,
          imagePath: isAbsolute(key) ? key : join(root, key),
          eye: 'unknown',
          fields: {},
          labels: NO_LABELS(),
          keywords,
        };
        if (note !== undefined) rec.note = note;
        records.push(rec);
        rowOf.set(key, { file, row: entryNo });
        givenSplit.set(key, split);
      }
    });
  }
  report.rowsKept = records.length;
  return { records, report, rowOf, givenSplit };
}
