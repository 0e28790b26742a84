/**
 * `serve.json`, written next to the embedding index by `retalign index build`: where the cases'
 * images live, which checkpoint made the vectors, and the temperatures that calibrate the grade
 * heads (fitted on the training run's validation split, Guo et al. 2017). The index itself
 * (src/index) knows nothing of data folders or calibration; serve and the CLI read this file.
 *
 * @example
 *   const s = readSidecar('/runs/ix');   // s.dataPath, s.calibration?.icdr.temperature
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const SIDECAR_FILE = 'serve.json';
export const SIDECAR_FORMAT = 'retalign-serve-index/1';

/** A temperature fitted on validation logits: softmax(logits / temperature). */
export interface TemperatureInfo {
  temperature: number;
  /** Validation negative log-likelihood at T = 1 and at the fitted T. */
  nllBefore: number;
  nllAfter: number;
  /** Validation exams it was fitted on. */
  n: number;
}

/**
 * Fewest graded validation exams a grade-head temperature is fitted on. One scalar per head, but on
 * a handful of exams the NLL minimum follows two or three cases and often lands on the search's
 * bracket edge (T = 0.05 or 20): such a "calibration" is noise. Below it, grades are served as the
 * raw softmax and labelled uncalibrated.
 */
export const MIN_CALIBRATION_EXAMS = 30;

/** Above this mean pairwise cosine the embeddings count as collapsed (index build warns, the page says so). */
export const COLLAPSED_COSINE = 0.98;

export interface IndexSidecar {
  format: typeof SIDECAR_FORMAT;
  checkpointId: string;
  /** Absolute checkpoint folder at build time (the default model for `retalign search`). */
  checkpointDir: string;
  /** Absolute data folder; every case's imagePath is relative to it. */
  dataPath: string;
  datasetName: string;
  createdAt: string;
  counts: { images: number; notes: number; withoutImagePath: number };
  /** Mean pairwise cosine of the indexed embeddings (near 1: collapsed, rankings close to arbitrary); absent in older indexes. */
  meanPairwiseCosine?: { image: number; note: number };
  /**
   * Null when the model has no grade heads (CLIP), or the run has too few graded validation exams.
   * `minExams`: the minimum the build applied (absent in older indexes: MIN_CALIBRATION_EXAMS).
   */
  calibration: { icdr: TemperatureInfo; sdrg: TemperatureInfo; split: string; minExams?: number } | null;
  /** Why there is no calibration, when there is none (absent in older indexes). */
  calibrationSkipped?: string;
}

/** Writes `<dir>/serve.json` atomically (temp file + rename). */
export function writeSidecar(dir: string, s: IndexSidecar): void {
  const p = join(dir, SIDECAR_FILE);
  writeFileSync(`${p}.tmp`, JSON.stringify(s, null, 1) + '\n');
  renameSync(`${p}.tmp`, p);
}

function checkTemperature(t: unknown, where: string): TemperatureInfo {
  const o = t as Partial<TemperatureInfo> | null;
  if (typeof o !== 'object' || o === null || typeof o.temperature !== 'number' || !(o.temperature > 0) || !Number.isFinite(o.temperature)) {
    throw new Error(`${where}: expected { temperature > 0, nllBefore, nllAfter, n }, got ${JSON.stringify(t)}`);
  }
  return { temperature: o.temperature, nllBefore: Number(o.nllBefore), nllAfter: Number(o.nllAfter), n: Number(o.n) };
}

/** Reads and checks `<dir>/serve.json`; throws naming the file and what is wrong. */
export function readSidecar(dir: string): IndexSidecar {
  const p = join(dir, SIDECAR_FILE);
  if (!existsSync(p)) {
    throw new Error(`${p} not found: ${dir} was not made by \`retalign index build\` (it writes ${SIDECAR_FILE} next to the index)`);
  }
  let o: Partial<IndexSidecar>;
  try {
    o = JSON.parse(readFileSync(p, 'utf8')) as Partial<IndexSidecar>;
  } catch (e) {
    throw new Error(`${p}: not valid JSON (${(e as Error).message})`);
  }
  if (o.format !== SIDECAR_FORMAT) throw new Error(`${p}: format is ${JSON.stringify(o.format)}, expected '${SIDECAR_FORMAT}'`);
  for (const k of ['checkpointId', 'checkpointDir', 'dataPath'] as const) {
    if (typeof o[k] !== 'string' || o[k] === '') throw new Error(`${p}: ${k} must be a non-empty string, got ${JSON.stringify(o[k])}`);
  }
  const c = o.calibration;
  const calibration = c === null || c === undefined ? null : {
    icdr: checkTemperature(c.icdr, `${p}: calibration.icdr`),
    sdrg: checkTemperature(c.sdrg, `${p}: calibration.sdrg`),
    split: String(c.split),
    ...(typeof c.minExams === 'number' ? { minExams: c.minExams } : {}),
  };
  return { ...(o as IndexSidecar), calibration };
}
