/**
 * `retalign data check`: read a dataset, check its images, and say whether it is usable, with the
 * counts a user needs before training (rows, patients, images, grade distributions on both scales,
 * missingness per field, dirty values, skipped rows and why).
 */
import { DatasetError, readDataset, type DatasetFormat, type ReadDatasetOptions } from './readers/index.js';
import type { ImageSummary, SkippedRow } from './readers/report.js';

/** Counts per grade 0..4, plus records without that grade. */
export interface GradeCounts {
  counts: [number, number, number, number, number];
  missing: number;
}

export interface CheckResult {
  path: string;
  format: DatasetFormat | null;
  usable: boolean;
  /** Why the dataset is not usable (empty when usable). */
  errors: string[];
  sources: string[];
  rowsRead: number;
  rowsKept: number;
  patients: number;
  images: ImageSummary | null;
  icdr: GradeCounts;
  sdrg: GradeCounts;
  /** Records with ICDR >= 2. */
  referable: number;
  /** Field (or label:<name>) -> missing count over kept records. */
  missing: Record<string, number>;
  dirty: Record<string, Record<string, number>>;
  skipped: SkippedRow[];
  notes: string[];
}

export interface CheckOptions {
  /** Default 'decode' (catches truncated JPEGs); 'none' skips image checks. */
  checkImages?: ReadDatasetOptions['checkImages'];
  imagesDir?: string;
  concurrency?: number;
  onProgress?: (done: number, total: number) => void;
  /** Read images outside the dataset folder (ReadDatasetOptions.allowOutside). Default false. */
  allowOutside?: boolean;
}

const noGrades = (): GradeCounts => ({ counts: [0, 0, 0, 0, 0], missing: 0 });

function emptyResult(path: string): CheckResult {
  return {
    path, format: null, usable: false, errors: [], sources: [], rowsRead: 0, rowsKept: 0, patients: 0, images: null,
    icdr: noGrades(), sdrg: noGrades(), referable: 0, missing: {}, dirty: {}, skipped: [], notes: [],
  };
}

/**
 * Read and check a dataset; never throws for an unusable dataset (it says why in `errors`).
 *
 * @example
 *   const r = await checkDataset('/data/brset');
 *   r.usable // true; r.icdr.counts // [15183, 158, 451, 78, 396]
 */
export async function checkDataset(path: string, opts: CheckOptions = {}): Promise<CheckResult> {
  const result = emptyResult(path);
  let read;
  try {
    read = await readDataset(path, {
      checkImages: opts.checkImages ?? 'decode',
      ...(opts.imagesDir !== undefined ? { imagesDir: opts.imagesDir } : {}),
      ...(opts.concurrency !== undefined ? { concurrency: opts.concurrency } : {}),
      ...(opts.onProgress !== undefined ? { onProgress: opts.onProgress } : {}),
      allowOutside: opts.allowOutside === true,
    });
  } catch (e) {
    if (!(e instanceof DatasetError)) throw e;
    result.errors.push(e.message);
    return result;
  }
  const { records, report } = read;
  Object.assign(result, {
    path: read.path, format: read.format, sources: report.sources, rowsRead: report.rowsRead, rowsKept: report.rowsKept,
    images: report.images, missing: report.missing, dirty: report.dirty, skipped: report.skipped, notes: report.notes,
  });
  result.patients = new Set(records.map((r) => r.patientId)).size;
  for (const r of records) {
    for (const [g, c] of [[r.labels.icdr, result.icdr], [r.labels.sdrg, result.sdrg]] as const) {
      if (g === null) c.missing++;
      else c.counts[g as 0 | 1 | 2 | 3 | 4]++;
    }
    if (r.labels.icdr !== null && r.labels.icdr >= 2) result.referable++;
  }
  if (records.length === 0) {
    const reasons = new Map<string, number>();
    for (const s of report.skipped) {
      const k = s.image !== undefined ? `image ${s.image}` : s.reason.replace(/".*"/, '"..."');
      reasons.set(k, (reasons.get(k) ?? 0) + 1);
    }
    const why = [...reasons].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).map(([k, n]) => `${n} x ${k}`).join('; ');
    result.errors.push(`0 usable rows: ${report.rowsRead} read from ${report.sources.join(', ') || path}` + (why ? `, skipped: ${why}` : ''));
  }
  result.usable = result.errors.length === 0;
  return result;
}

function table(rows: string[][], align: ('l' | 'r')[]): string[] {
  const widths = align.map((_, j) => Math.max(...rows.map((r) => (r[j] ?? '').length)));
  return rows.map((r) => '  ' + r.map((c, j) => (align[j] === 'r' ? c.padStart(widths[j] ?? 0) : c.padEnd(widths[j] ?? 0))).join('  ').trimEnd());
}

const pct = (n: number, d: number): string => (d === 0 ? '-' : `${((100 * n) / d).toFixed(1)}%`);

/**
 * Human-readable report of a CheckResult.
 * @example console.log(formatCheck(await checkDataset('/data/brset')));
 */
export function formatCheck(r: CheckResult, opts: { maxSkipped?: number } = {}): string {
  const out: string[] = [];
  out.push(`Dataset: ${r.path}${r.format === null ? '' : ` (${r.format})`}`);
  if (r.sources.length > 0) out.push(`Read: ${r.sources.join(', ')}`);
  if (r.format !== null) {
    const skipped = r.skipped.length;
    out.push('', ...table([
      ['rows read', String(r.rowsRead)],
      ['rows usable', String(r.rowsKept)],
      ['rows skipped', String(skipped)],
      ['patients', String(r.patients)],
    ], ['l', 'r']));
    const im = r.images;
    out.push('', im === null ? 'Images: not checked' : `Images (${im.mode} check of ${im.checked}):`);
    if (im !== null) {
      out.push(...table([
        ['usable', String(im.usable)], ['found', String(im.found)], ['missing', String(im.missing)],
        ['corrupt', String(im.corrupt)], ['not an image', String(im.notImage)], ['too large', String(im.tooLarge)],
        ['unreadable', String(im.unreadable)],
      ], ['l', 'r']));
    }
    const n = r.rowsKept;
    out.push('', 'Grades (usable rows):');
    out.push(...table([
      ['scale', '0', '1', '2', '3', '4', 'no label'],
      ...([['ICDR', r.icdr], ['SDRG', r.sdrg]] as const).map(([name, g]) => [name, ...g.counts.map(String), String(g.missing)]),
    ], ['l', 'r', 'r', 'r', 'r', 'r', 'r']));
    out.push(`  referable (ICDR >= 2): ${r.referable} of ${n - r.icdr.missing} graded (${pct(r.referable, n - r.icdr.missing)})`);
    const miss = Object.entries(r.missing);
    if (miss.length > 0) {
      out.push('', 'Missing per field (usable rows):');
      out.push(...table([['field', 'missing', '%'], ...miss.map(([k, v]) => [k, String(v), pct(v, n)])], ['l', 'r', 'r']));
    }
    const dirty = Object.entries(r.dirty);
    out.push('', dirty.length === 0 ? 'Dirty values: none' : 'Dirty values (stored as missing, never guessed):');
    for (const [col, vals] of dirty) {
      out.push(`  ${col}: ${Object.entries(vals).map(([v, c]) => `${JSON.stringify(v)} x${c}`).join(', ')}`);
    }
    if (skipped > 0) {
      const max = opts.maxSkipped ?? 20;
      out.push('', `Skipped rows${skipped > max ? ` (first ${max} of ${skipped})` : ''}:`);
      out.push(...table(r.skipped.slice(0, max).map((s) => [s.row === null ? '-' : `row ${s.row}`, s.imageId ?? '-', s.reason]), ['l', 'l', 'l']));
    }
    if (r.notes.length > 0) out.push('', 'Notes:', ...r.notes.map((s) => `  - ${s}`));
  }
  out.push('', r.usable ? `OK: usable (${r.rowsKept} rows, ${r.patients} patients)` : `NOT USABLE:\n${r.errors.map((e) => `  ${e}`).join('\n')}`);
  return out.join('\n');
}
