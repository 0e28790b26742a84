/**
 * One entry point for every dataset on disk: detect the format (BRSET folder, DeepEyeNet JSON,
 * generic manifest), read it, optionally check the images, and return records + one report.
 */
import { existsSync, readdirSync, realpathSync, statSync } from 'node:fs';
import { dirname, join, resolve, sep } from 'node:path';
import type { ExamRecord } from '../types.js';
import { BRSET_LABEL_FILES, canonicalBrsetColumn, findBrsetLabels, readBrset } from './brset.js';
import { readCsv } from './csv.js';
import { DEEPEYENET_FILES, findDeepEyeNetFiles, readDeepEyeNet, type DeepEyeNetSplit } from './deepeyenet.js';
import { checkImages, type ImageCheckMode } from './images.js';
import { readManifest } from './manifest.js';
import { countMissing, DatasetError, type ReadReport, type RowRef } from './report.js';

export { DatasetError } from './report.js';
export type { ReadReport, SkippedRow, ImageSummary, ImageProblem } from './report.js';

export type DatasetFormat = 'brset' | 'deepeyenet' | 'manifest';

/** Manifest file names looked for in a folder. */
export const MANIFEST_FILES = ['manifest.csv', 'manifest.jsonl'] as const;

export interface ReadDatasetOptions {
  /** Skip detection and read as this format. */
  format?: DatasetFormat;
  /** Image folder for BRSET (default fundus_photos/ or images/) and DeepEyeNet (default: the JSON's folder). */
  imagesDir?: string;
  /** 'none' (default): trust the paths; 'sniff': exists + magic bytes; 'decode': also a tiny real decode. */
  checkImages?: 'none' | ImageCheckMode;
  /** Image checks at once (default 4). */
  concurrency?: number;
  onProgress?: (done: number, total: number) => void;
  /** DeepEyeNet folder: which split files to read (default all present). */
  deepEyeNetSplits?: readonly DeepEyeNetSplit[];
  /**
   * Read images outside the dataset folder (and outside `imagesDir`): absolute or `../` manifest
   * paths, symlinks that lead elsewhere. Default false: such rows are skipped and listed, so a
   * labels file cannot make retalign open any file on the machine.
   */
  allowOutside?: boolean;
}

export interface DatasetRead {
  format: DatasetFormat;
  /** The folder or file that was read, absolute. */
  path: string;
  records: ExamRecord[];
  report: ReadReport;
  /** A split shipped with the data (DeepEyeNet's train/valid/test files): imageId -> split; else null. */
  givenSplit: Record<string, 'train' | 'val' | 'test'> | null;
}

function csvKind(file: string): DatasetFormat | null {
  const { header } = readCsv(file);
  const canon = header.map(canonicalBrsetColumn);
  if (canon.includes('image') || canon.includes('image_path')) return 'manifest';
  if (canon.includes('image_id')) return 'brset';
  return null;
}

/**
 * Which format `path` holds, and the file/folder to hand to its reader. Throws a DatasetError that
 * lists what was looked for when nothing matches.
 *
 * @example detectFormat('/data/brset') // { format: 'brset', target: '/data/brset' }
 */
export function detectFormat(path: string): { format: DatasetFormat; target: string } {
  const p = resolve(path);
  if (!existsSync(p)) throw new DatasetError(`${p}: no such file or folder`);
  if (statSync(p).isFile()) {
    if (/\.json$/i.test(p)) return { format: 'deepeyenet', target: p };
    if (/\.(jsonl|ndjson)$/i.test(p)) return { format: 'manifest', target: p };
    if (/\.csv$/i.test(p)) {
      const kind = csvKind(p);
      if (kind !== null) return { format: kind, target: p };
      throw new DatasetError(
        `${p}: neither a BRSET labels file (needs an image_id column) nor a manifest (needs image or image_path); ` +
          `header seen: ${readCsv(p).header.join(', ')}`,
      );
    }
    throw new DatasetError(`${p} is a file, not a dataset: expected a dataset folder (BRSET, DeepEyeNet) or a labels/manifest file ending in .csv, .json or .jsonl`);
  }
  const labels = findBrsetLabels(p);
  if (labels !== null) {
    const kind = csvKind(labels);
    if (kind === 'brset') return { format: 'brset', target: p };
    if (kind === 'manifest') return { format: 'manifest', target: labels };
    throw new DatasetError(
      `${labels}: no image_id column (needed to join labels to images); header seen: ${readCsv(labels).header.join(', ')}`,
    );
  }
  if (findDeepEyeNetFiles(p).length > 0) return { format: 'deepeyenet', target: p };
  for (const m of MANIFEST_FILES) {
    const f = join(p, m);
    if (existsSync(f)) return { format: 'manifest', target: f };
  }
  const entries = readdirSync(p).sort();
  const shown = entries.slice(0, 20).join(', ') + (entries.length > 20 ? `, ... (${entries.length} entries)` : '');
  throw new DatasetError(
    `${p}: no dataset found. Looked for BRSET labels (${BRSET_LABEL_FILES.join(', ')}), ` +
      `DeepEyeNet files (${Object.keys(DEEPEYENET_FILES).join(', ')}), manifests (${MANIFEST_FILES.join(', ')}). ` +
      `Folder holds: ${shown || '(nothing)'}`,
  );
}

/**
 * Read any supported dataset.
 *
 * @example
 *   const { format, records, report } = await readDataset('/data/brset', { checkImages: 'decode' });
 *   report.skipped // [{ file, row: 12, imageId: 'img00011', reason: 'image corrupt: ...', image: 'corrupt' }]
 */
export async function readDataset(path: string, opts: ReadDatasetOptions = {}): Promise<DatasetRead> {
  const detected = opts.format === undefined ? detectFormat(path) : { format: opts.format, target: resolve(path) };
  let records: ExamRecord[];
  let report: ReadReport;
  let rowOf: Map<string, RowRef>;
  let givenSplit: Record<string, 'train' | 'val' | 'test'> | null = null;
  const imagesOpt = opts.imagesDir === undefined ? {} : { imagesDir: opts.imagesDir };
  if (detected.format === 'brset') {
    ({ records, report, rowOf } = readBrset(detected.target, imagesOpt));
  } else if (detected.format === 'deepeyenet') {
    const r = readDeepEyeNet(detected.target, { ...imagesOpt, ...(opts.deepEyeNetSplits ? { splits: opts.deepEyeNetSplits } : {}) });
    ({ records, report, rowOf } = r);
    const entries = [...r.givenSplit].filter((e): e is [string, DeepEyeNetSplit] => e[1] !== null);
    if (entries.length === records.length && records.length > 0) givenSplit = Object.fromEntries(entries);
  } else {
    ({ records, report, rowOf } = readManifest(detected.target));
    if (opts.imagesDir !== undefined) report.notes.push('imagesDir ignored: manifest paths are relative to the manifest');
  }

  if (opts.allowOutside !== true) records = refuseOutside(records, detected.target, opts.imagesDir, rowOf, report);

  const mode = opts.checkImages ?? 'none';
  if (mode !== 'none' && records.length > 0) {
    const checked = await checkImages(records, {
      mode,
      ...(opts.concurrency !== undefined ? { concurrency: opts.concurrency } : {}),
      ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
    });
    for (const issue of checked.issues) {
      const ref = rowOf.get(issue.imageId);
      report.skipped.push({
        file: ref?.file ?? detected.target,
        row: ref?.row ?? null,
        imageId: issue.imageId,
        reason: `image ${issue.problem}: ${issue.detail}`,
        image: issue.problem,
      });
    }
    records = checked.ok;
    report.images = checked.summary;
    if (givenSplit !== null) {
      const keep = new Set(records.map((r) => r.imageId));
      givenSplit = Object.fromEntries(Object.entries(givenSplit).filter(([id]) => keep.has(id)));
    }
  }
  // Skipped rows in source order (read-time and image problems interleaved), rows without a number last.
  const rowKey = (r: number | null): number => r ?? Number.MAX_SAFE_INTEGER;
  report.skipped.sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : rowKey(a.row) - rowKey(b.row)));
  report.rowsKept = records.length;
  report.missing = countMissing(records);
  return { format: detected.format, path: resolve(detected.target), records, report, givenSplit };
}

/** The real path of `p`, or of its nearest existing ancestor with the rest appended (a missing file is judged by its folder). */
function realOrLexical(p: string): string {
  const abs = resolve(p);
  try {
    return realpathSync(abs);
  } catch {
    const up = dirname(abs);
    return up === abs ? abs : join(realOrLexical(up), abs.slice(up.length + (up.endsWith(sep) ? 0 : 1)));
  }
}

/**
 * Records whose image lies inside the dataset folder (the folder read, or the labels/manifest/JSON
 * file's folder) or inside an image folder the caller named, after following symlinks; the others
 * become skipped rows that say why and how to allow them.
 */
function refuseOutside(records: ExamRecord[], target: string, imagesDir: string | undefined, rowOf: Map<string, RowRef>, report: ReadReport): ExamRecord[] {
  const root = statSync(target).isDirectory() ? resolve(target) : dirname(resolve(target));
  const roots = [root, ...(imagesDir !== undefined ? [resolve(imagesDir)] : [])].map(realOrLexical);
  const inside = (p: string): boolean => roots.some((r) => p === r || p.startsWith(r.endsWith(sep) ? r : r + sep));
  const kept: ExamRecord[] = [];
  let refused = 0;
  for (const r of records) {
    const real = realOrLexical(r.imagePath);
    if (inside(real)) {
      kept.push(r);
      continue;
    }
    refused++;
    const via = real !== resolve(r.imagePath) ? ` (through a symlink, to ${real})` : '';
    const ref = rowOf.get(r.imageId);
    report.skipped.push({
      file: ref?.file ?? target, row: ref?.row ?? null, imageId: r.imageId,
      reason: `image ${r.imagePath} lies outside the dataset folder ${root}${via}: refused (--allow-outside reads it)`,
    });
  }
  if (refused > 0) report.notes.push(`${refused} images outside the dataset folder ${root} were refused; --allow-outside reads them`);
  return kept;
}
