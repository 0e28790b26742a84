/**
 * BRSET folder reader (A Brazilian Multilabel Ophthalmological Dataset, PhysioNet, Nakayama et al.):
 * the layout, header variants and codings it accepts are listed here.
 *
 * Layout: `<dir>/labels_brset.csv` (v1.0.1) or `<dir>/labels.csv` (v1.0.0), images in
 * `<dir>/fundus_photos/` or `<dir>/images/` (or a folder given by the caller) named `<image_id>.jpg`.
 * Header variants accepted case-insensitively: iluminaton / Illuminaton / illumination ->
 * `illumination`; insuline / insulin -> `insulin`; drusens / drusen -> `drusen`.
 *
 * Decoded `fields` (never labels): camera (string as written), patient_age (number),
 * comorbidities (string), diabetes_time_y (number), insulin (boolean), patient_sex
 * ('male'|'female'), exam_eye ('right'|'left', also in record.eye), diabetes (boolean),
 * nationality (string), optic_disc / vessels / macula ('normal'|'abnormal'), focus / illumination /
 * image_field / artifacts ('ok'|'problem'), quality ('adequate'|'inadequate'); unknown extra
 * columns as trimmed strings. Labels: DR_ICDR, DR_SDRG (0..4; a row with an invalid or missing
 * grade is skipped), diabetic_retinopathy, macular_edema, and the other disease flags by canonical
 * column name in labels.flags.
 */
import { existsSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import type { Eye, ExamRecord, FieldValue, Labels } from '../types.js';
import { readCsv } from './csv.js';
import { addDirty, DatasetError, emptyReport, type ReadReport, type RowRef } from './report.js';
import {
  INVALID,
  decodeCode,
  decodeFlag,
  decodeGrade,
  decodeNumber,
  decodeText,
  decodeWord,
  decodeYesNo,
  type Decoded,
} from './values.js';

/** Labels files looked for, newest first. */
export const BRSET_LABEL_FILES = ['labels_brset.csv', 'labels.csv'] as const;
/** Image folders looked for, in order (the official code renames fundus_photos to images). */
export const BRSET_IMAGE_DIRS = ['fundus_photos', 'images'] as const;
/** Disease flags that go to labels.flags (canonical names). */
export const BRSET_FLAG_COLUMNS = [
  'scar', 'nevus', 'amd', 'vascular_occlusion', 'hypertensive_retinopathy', 'drusen', 'hemorrhage',
  'retinal_detachment', 'myopic_fundus', 'increased_cup_disc', 'other',
] as const;
/** Every BRSET column that is a label (never a feature), canonical names. */
export const BRSET_LABEL_COLUMNS: readonly string[] = [
  'DR_ICDR', 'DR_SDRG', 'diabetic_retinopathy', 'macular_edema', ...BRSET_FLAG_COLUMNS,
];

const RENAMES: Record<string, string> = {
  iluminaton: 'illumination',
  illuminaton: 'illumination',
  insuline: 'insulin',
  drusens: 'drusen',
  dr_icdr: 'DR_ICDR',
  dr_sdrg: 'DR_SDRG',
};

/**
 * Canonical name of a BRSET header cell.
 * @example canonicalBrsetColumn('Illuminaton') // 'illumination'; canonicalBrsetColumn('dr_icdr') // 'DR_ICDR'
 */
export function canonicalBrsetColumn(h: string): string {
  const t = h.trim().toLowerCase();
  return RENAMES[t] ?? t;
}

type FieldDecoder = (s: string) => Decoded<FieldValue>;
const OK_PROBLEM = { 1: 'ok', 2: 'problem' } as const;
const NORMAL_ABNORMAL = { 1: 'normal', 2: 'abnormal' } as const;
/** Decoder per known field column. Ranges: age 0..120 years, diabetes duration 0..100 years. */
const FIELD_DECODERS: Record<string, FieldDecoder> = {
  camera: decodeText,
  patient_age: (s) => decodeNumber(s, 0, 120),
  comorbidities: decodeText,
  diabetes_time_y: (s) => decodeNumber(s, 0, 100),
  insulin: decodeYesNo,
  patient_sex: (s) => decodeCode(s, { 1: 'male', 2: 'female' }),
  exam_eye: (s) => decodeCode(s, { 1: 'right', 2: 'left' }),
  diabetes: decodeYesNo,
  nationality: decodeText,
  optic_disc: (s) => decodeCode(s, NORMAL_ABNORMAL),
  vessels: (s) => decodeCode(s, NORMAL_ABNORMAL),
  macula: (s) => decodeCode(s, NORMAL_ABNORMAL),
  focus: (s) => decodeCode(s, OK_PROBLEM),
  illumination: (s) => decodeCode(s, OK_PROBLEM),
  image_field: (s) => decodeCode(s, OK_PROBLEM),
  artifacts: (s) => decodeCode(s, OK_PROBLEM),
  quality: (s) => decodeWord(s, ['adequate', 'inadequate']),
};

export interface BrsetOptions {
  /** Image folder; default: the first of fundus_photos/, images/ that exists in the dataset folder. */
  imagesDir?: string;
}

export interface BrsetRead {
  records: ExamRecord[];
  report: ReadReport;
  /** imageId -> source row, so that later checks (images) can report the row. */
  rowOf: Map<string, RowRef>;
  labelsFile: string;
}

/** The labels file of a BRSET folder, or null. @example findBrsetLabels('/data/brset') // '/data/brset/labels_brset.csv' */
export function findBrsetLabels(dir: string): string | null {
  for (const f of BRSET_LABEL_FILES) {
    const p = join(dir, f);
    if (existsSync(p) && statSync(p).isFile()) return p;
  }
  return null;
}

function imageFileName(imageId: string): string {
  return /\.(jpe?g|png|tiff?|webp)$/i.test(imageId) ? imageId : `${imageId}.jpg`;
}

/**
 * Read a BRSET folder (or its labels CSV directly).
 *
 * @example
 *   const { records, report } = readBrset('/data/brset');
 *   records[0].labels.icdr; report.dirty.diabetes_time_y // { 'Não': 3 }
 */
export function readBrset(dirOrFile: string, opts: BrsetOptions = {}): BrsetRead {
  const report = emptyReport();
  let labelsFile: string;
  let dir: string;
  if (existsSync(dirOrFile) && statSync(dirOrFile).isDirectory()) {
    dir = resolve(dirOrFile);
    const found = findBrsetLabels(dir);
    if (found === null) {
      throw new DatasetError(
        `${dir}: no BRSET labels file (looked for ${BRSET_LABEL_FILES.join(', ')})`,
      );
    }
    labelsFile = found;
    const both = BRSET_LABEL_FILES.every((f) => existsSync(join(dir, f)));
    if (both) report.notes.push(`both ${BRSET_LABEL_FILES.join(' and ')} present: read ${basename(found)}`);
  } else {
    labelsFile = resolve(dirOrFile);
    dir = dirname(labelsFile);
  }
  const table = readCsv(labelsFile);
  report.sources.push(labelsFile);
  report.notes.push(...table.notes);

  const canon = table.header.map(canonicalBrsetColumn);
  const seen = new Map<string, number>();
  canon.forEach((c, i) => {
    const j = seen.get(c);
    if (j !== undefined) {
      throw new DatasetError(
        `${labelsFile}: columns "${table.header[j]}" and "${table.header[i]}" both mean "${c}"`,
      );
    }
    seen.set(c, i);
  });
  const col = (name: string): number | undefined => seen.get(name);
  const iImage = col('image_id');
  if (iImage === undefined) {
    throw new DatasetError(
      `${labelsFile}: no image_id column; header seen: ${table.header.join(', ')}`,
    );
  }
  const iPatient = col('patient_id');
  const iIcdr = col('DR_ICDR');
  const iSdrg = col('DR_SDRG');
  const iDr = col('diabetic_retinopathy');
  const iMe = col('macular_edema');
  const flagCols = BRSET_FLAG_COLUMNS.flatMap((f) => {
    const i = col(f);
    return i === undefined ? [] : [[f, i] as const];
  });
  const labelSet = new Set(BRSET_LABEL_COLUMNS);
  const fieldCols = canon.flatMap((c, i) =>
    c === 'image_id' || c === 'patient_id' || labelSet.has(c) ? [] : [[c, i] as const],
  );
  const unknown = fieldCols.filter(([c]) => FIELD_DECODERS[c] === undefined).map(([c]) => c);
  if (unknown.length > 0) report.notes.push(`extra columns kept as text fields: ${unknown.join(', ')}`);
  if (iPatient === undefined) report.notes.push('no patient_id column: patientId = imageId (each image its own patient)');
  for (const [name, i] of [['DR_ICDR', iIcdr], ['DR_SDRG', iSdrg]] as const) {
    if (i === undefined) report.notes.push(`no ${name} column: that grade is null for every record`);
  }

  let imagesDir: string;
  if (opts.imagesDir !== undefined) imagesDir = resolve(opts.imagesDir);
  else {
    const hit = BRSET_IMAGE_DIRS.map((d) => join(dir, d)).find((p) => existsSync(p) && statSync(p).isDirectory());
    if (hit === undefined) {
      report.notes.push(`no image folder in ${dir} (looked for ${BRSET_IMAGE_DIRS.join('/, ')}/)`);
      imagesDir = join(dir, BRSET_IMAGE_DIRS[0]);
    } else imagesDir = hit;
  }

  for (const r of table.ragged) {
    report.skipped.push({
      file: labelsFile, row: r.row, imageId: null,
      reason: `has ${r.cells} cells, header has ${table.header.length}`,
    });
  }
  report.rowsRead = table.rows.length + table.ragged.length;

  const records: ExamRecord[] = [];
  const rowOf = new Map<string, RowRef>();
  const cell = (cells: string[], i: number | undefined): string => (i === undefined ? '' : (cells[i] ?? ''));
  let missingPatient = 0;
  for (const { row, cells } of table.rows) {
    const imageId = cell(cells, iImage);
    const skip = (reason: string): void => {
      report.skipped.push({ file: labelsFile, row, imageId: imageId === '' ? null : imageId, reason });
    };
    if (imageId === '') { skip('empty image_id'); continue; }
    if (rowOf.has(imageId)) { skip(`duplicate image_id ${imageId} (first at row ${rowOf.get(imageId)?.row})`); continue; }

    const grades: (number | null)[] = [];
    let bad: string | null = null;
    for (const [name, i] of [['DR_ICDR', iIcdr], ['DR_SDRG', iSdrg]] as const) {
      if (i === undefined) { grades.push(null); continue; }
      const raw = cell(cells, i);
      const g = decodeGrade(raw);
      if (g === null || g === INVALID) {
        bad ??= `${g === null ? 'missing' : 'invalid'} ${name} "${raw}" (expected 0..4)`;
        if (g === INVALID) addDirty(report, name, raw);
      }
      grades.push(g === INVALID ? null : g);
    }
    if (bad !== null) { skip(bad); continue; }

    const flagOf = (name: string, i: number | undefined): boolean | null => {
      if (i === undefined) return null;
      const raw = cell(cells, i);
      const v = decodeFlag(raw);
      if (v === INVALID) { addDirty(report, name, raw); return null; }
      return v;
    };
    const labels: Labels = {
      icdr: grades[0] ?? null,
      sdrg: grades[1] ?? null,
      diabeticRetinopathy: flagOf('diabetic_retinopathy', iDr),
      macularEdema: flagOf('macular_edema', iMe),
      flags: Object.fromEntries(flagCols.map(([f, i]) => [f, flagOf(f, i)])),
    };

    const fields: Record<string, FieldValue> = {};
    for (const [name, i] of fieldCols) {
      const raw = cell(cells, i);
      const decode = FIELD_DECODERS[name] ?? decodeText;
      const v = decode(raw);
      if (v === INVALID) { addDirty(report, name, raw); fields[name] = null; }
      else fields[name] = v;
    }
    const eyeField = fields['exam_eye'];
    const eye: Eye = eyeField === 'right' || eyeField === 'left' ? eyeField : 'unknown';

    let patientId = cell(cells, iPatient);
    if (patientId === '') {
      patientId = imageId;
      if (iPatient !== undefined) missingPatient++;
    } else {
      // '17' and '17.0' are the same patient (pandas may write ids as floats).
      const n = Number(patientId);
      if (/^\d+(\.0+)?$/.test(patientId) && Number.isSafeInteger(n)) patientId = String(n);
    }
    rowOf.set(imageId, { file: labelsFile, row });
    records.push({ imageId, patientId, imagePath: join(imagesDir, imageFileName(imageId)), eye, fields, labels });
  }
  if (missingPatient > 0) report.notes.push(`${missingPatient} rows without patient_id: patientId = imageId for them`);
  report.rowsKept = records.length;
  return { records, report, rowOf, labelsFile };
}
