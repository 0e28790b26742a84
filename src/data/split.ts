/**
 * Train/val/test splits, saved to a JSON file that later runs reuse.
 *
 * mode 'patient' (default, the "honest" protocol): all images of a patient go to one split, so a
 *   patient's two eyes never straddle train and test. Patients are stratified by their maximum
 *   ICDR grade (patients without a grade form their own stratum), so that rare referable grades
 *   reach every split.
 * mode 'image' (the "paper" protocol variant): each image is assigned on its own, stratified by
 *   its ICDR grade, ignoring patients. The paper does not say how it split BRSET; an image-level
 *   random split is the common default and may be what it did. It lets a patient's other eye sit
 *   in the test set, which flatters the numbers: use it only to reproduce, and report it as such.
 *
 * Within each stratum, units (patients or images) are sorted by id, shuffled with a seeded Rng
 * and cut by largest-remainder rounding of the ratios; when a stratum has at least as many units
 * as there are splits with a positive ratio, every such split gets at least one. The result
 * depends only on the records' ids/grades, the ratios and the seed, not on record order.
 *
 * Split file (JSON): { version: 1, mode, config: { train, val, test, seed }, counts: { train:
 * { images, patients }, val: ..., test: ... }, assignment: { <imageId>: 'train'|'val'|'test' } }.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { Rng } from './rng.js';
import type { ExamRecord } from './types.js';

export type SplitName = 'train' | 'val' | 'test';
export const SPLIT_NAMES: readonly SplitName[] = ['train', 'val', 'test'];
export type SplitMode = 'patient' | 'image';

export interface SplitConfig {
  /** Fraction of patients (mode 'patient') or images (mode 'image') in train; the three sum to 1. */
  train: number;
  val: number;
  test: number;
  /** Seed of the shuffle. */
  seed: number;
  /** 'patient' (default) or 'image' (paper protocol variant, see the file comment). */
  mode?: SplitMode;
}

export interface SplitFile {
  version: 1;
  mode: SplitMode;
  config: { train: number; val: number; test: number; seed: number };
  counts: Record<SplitName, { images: number; patients: number }>;
  assignment: Record<string, SplitName>;
}

/** 70/15/15, seed 0, by patient. */
export const DEFAULT_SPLIT: Required<SplitConfig> = { train: 0.7, val: 0.15, test: 0.15, seed: 0, mode: 'patient' };

const CONFIG_KEYS = ['train', 'val', 'test', 'seed', 'mode'];

/** Validate a split config (unknown keys, ratios, seed, mode); returns it with defaults filled. */
export function resolveSplitConfig(c: Partial<SplitConfig>): Required<SplitConfig> {
  for (const k of Object.keys(c)) {
    if (!CONFIG_KEYS.includes(k)) throw new Error(`split config: unknown key "${k}" (valid: ${CONFIG_KEYS.join(', ')})`);
  }
  const given = Object.fromEntries(Object.entries(c).filter(([, v]) => v !== undefined));
  const r: Required<SplitConfig> = { ...DEFAULT_SPLIT, ...given };
  for (const k of SPLIT_NAMES) {
    const v = r[k];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v > 1) throw new Error(`split config: ${k} = ${String(v)} (expected a number in [0, 1])`);
  }
  const sum = r.train + r.val + r.test;
  if (Math.abs(sum - 1) > 1e-6) throw new Error(`split config: train + val + test = ${sum} (expected 1)`);
  if (!Number.isInteger(r.seed)) throw new Error(`split config: seed = ${String(r.seed)} (expected an integer)`);
  if (r.mode !== 'patient' && r.mode !== 'image') throw new Error(`split config: mode = ${String(r.mode)} (expected patient or image)`);
  return r;
}

/** Largest-remainder counts for n units, with the at-least-one rule (see the file comment). */
function allocate(n: number, ratios: readonly number[]): number[] {
  const raw = ratios.map((r) => r * n);
  const counts = raw.map(Math.floor);
  let left = n - counts.reduce((a, b) => a + b, 0);
  const order = raw.map((x, i) => [x - Math.floor(x), i] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
  for (const [, i] of order) {
    if (left <= 0) break;
    counts[i] = (counts[i] ?? 0) + 1;
    left--;
  }
  const positive = ratios.map((r, i) => (r > 0 ? i : -1)).filter((i) => i >= 0);
  if (n >= positive.length) {
    for (const i of positive) {
      if ((counts[i] ?? 0) > 0) continue;
      // Take one from the split with the most units (first on ties).
      let from = 0;
      counts.forEach((c, j) => { if (c > (counts[from] ?? 0)) from = j; });
      counts[from] = (counts[from] ?? 0) - 1;
      counts[i] = 1;
    }
  }
  return counts;
}

const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/**
 * Split records by patient (default) or by image, stratified on ICDR.
 *
 * @example
 *   const split = makeSplit(records, { train: 0.7, val: 0.15, test: 0.15, seed: 0 });
 *   split.assignment['img00001'] // 'train'
 */
export function makeSplit(records: readonly ExamRecord[], config: Partial<SplitConfig> = {}): SplitFile {
  const c = resolveSplitConfig(config);
  const seen = new Set<string>();
  for (const r of records) {
    if (seen.has(r.imageId)) throw new Error(`makeSplit: duplicate imageId ${r.imageId}`);
    seen.add(r.imageId);
  }
  // Units: patients (their images, max grade) or single images.
  const units = new Map<string, { ids: string[]; grade: number }>();
  for (const r of records) {
    const key = c.mode === 'patient' ? r.patientId : r.imageId;
    const u = units.get(key) ?? { ids: [], grade: -1 };
    u.ids.push(r.imageId);
    u.grade = Math.max(u.grade, r.labels.icdr ?? -1);
    units.set(key, u);
  }
  const strata = new Map<number, string[]>();
  for (const [key, u] of units) {
    const s = strata.get(u.grade) ?? [];
    s.push(key);
    strata.set(u.grade, s);
  }
  const rng = new Rng(c.seed);
  const assignment: Record<string, SplitName> = {};
  const ratios = SPLIT_NAMES.map((s) => c[s]);
  for (const grade of [...strata.keys()].sort((a, b) => a - b)) {
    const keys = (strata.get(grade) ?? []).sort(cmp);
    rng.fork(grade + 1).shuffle(keys);
    const counts = allocate(keys.length, ratios);
    let k = 0;
    SPLIT_NAMES.forEach((name, si) => {
      for (let j = 0; j < (counts[si] ?? 0); j++, k++) {
        for (const id of units.get(keys[k] as string)?.ids ?? []) assignment[id] = name;
      }
    });
  }
  const sorted: Record<string, SplitName> = {};
  for (const id of Object.keys(assignment).sort(cmp)) sorted[id] = assignment[id] as SplitName;
  return {
    version: 1,
    mode: c.mode,
    config: { train: c.train, val: c.val, test: c.test, seed: c.seed },
    counts: countSplit(records, sorted),
    assignment: sorted,
  };
}

function countSplit(records: readonly ExamRecord[], assignment: Record<string, SplitName>): SplitFile['counts'] {
  const out = { train: { images: 0, patients: 0 }, val: { images: 0, patients: 0 }, test: { images: 0, patients: 0 } };
  const patients = { train: new Set<string>(), val: new Set<string>(), test: new Set<string>() };
  for (const r of records) {
    const s = assignment[r.imageId];
    if (s === undefined) continue;
    out[s].images++;
    patients[s].add(r.patientId);
  }
  for (const s of SPLIT_NAMES) out[s].patients = patients[s].size;
  return out;
}

/**
 * Write a split file (pretty JSON), atomically: a reader (another training of the same demo, in
 * another process) sees no file or the whole file, never half of one.
 */
export function writeSplit(path: string, split: SplitFile): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(split, null, 1) + '\n');
  renameSync(tmp, path);
}

/**
 * Read and validate a split file.
 * @example const split = readSplit('runs/split.json'); split.mode // 'patient'
 */
export function readSplit(path: string): SplitFile {
  let v: unknown;
  try {
    v = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new Error(`split file ${path}: ${(e as Error).message}`);
  }
  const o = v as Partial<SplitFile> | null;
  if (typeof o !== 'object' || o === null || o.version !== 1) throw new Error(`split file ${path}: expected an object with version 1`);
  if (o.mode !== 'patient' && o.mode !== 'image') throw new Error(`split file ${path}: mode = ${String(o.mode)} (expected patient or image)`);
  if (typeof o.config !== 'object' || o.config === null) throw new Error(`split file ${path}: no config`);
  resolveSplitConfig({ ...o.config, mode: o.mode });
  if (typeof o.assignment !== 'object' || o.assignment === null) throw new Error(`split file ${path}: no assignment`);
  for (const [id, s] of Object.entries(o.assignment)) {
    if (!SPLIT_NAMES.includes(s)) throw new Error(`split file ${path}: image ${id} assigned to "${String(s)}" (expected train, val or test)`);
  }
  return o as SplitFile;
}

function listIds(ids: string[]): string {
  return ids.slice(0, 10).join(', ') + (ids.length > 10 ? `, ... (${ids.length} in all)` : '');
}

/**
 * Check that a split file covers exactly these records (and, for mode 'patient', that no patient
 * straddles splits). Throws naming the unknown / missing image ids.
 *
 * @example verifySplit(readSplit('split.json'), records) // throws "split does not match the records: ..."
 */
export function verifySplit(split: SplitFile, records: readonly ExamRecord[]): void {
  const ids = new Set(records.map((r) => r.imageId));
  const unknown = Object.keys(split.assignment).filter((id) => !ids.has(id));
  const missing = [...ids].filter((id) => split.assignment[id] === undefined);
  const problems: string[] = [];
  if (unknown.length > 0) problems.push(`${unknown.length} image ids in the split are not in the records: ${listIds(unknown)}`);
  if (missing.length > 0) problems.push(`${missing.length} records have no split: ${listIds(missing)}`);
  if (split.mode === 'patient') {
    const where = new Map<string, SplitName>();
    const straddle = new Set<string>();
    for (const r of records) {
      const s = split.assignment[r.imageId];
      if (s === undefined) continue;
      const w = where.get(r.patientId);
      if (w !== undefined && w !== s) straddle.add(r.patientId);
      else where.set(r.patientId, s);
    }
    if (straddle.size > 0) problems.push(`${straddle.size} patients straddle splits: ${listIds([...straddle])}`);
  }
  if (problems.length > 0) throw new Error(`split does not match the records: ${problems.join('; ')}`);
}

/**
 * Records grouped by split, in input order.
 * @example const { train, val, test } = applySplit(records, split);
 */
export function applySplit(records: readonly ExamRecord[], split: SplitFile): Record<SplitName, ExamRecord[]> {
  const out: Record<SplitName, ExamRecord[]> = { train: [], val: [], test: [] };
  for (const r of records) {
    const s = split.assignment[r.imageId];
    if (s === undefined) throw new Error(`applySplit: image ${r.imageId} is not in the split`);
    out[s].push(r);
  }
  return out;
}

/**
 * Reuse the split at `path` when it exists (verified against the records and the requested
 * config), else make one and write it there.
 *
 * @example const { split, created } = loadOrMakeSplit('runs/split.json', records, { seed: 1 });
 */
export function loadOrMakeSplit(path: string, records: readonly ExamRecord[], config: Partial<SplitConfig> = {}): { split: SplitFile; created: boolean } {
  const c = resolveSplitConfig(config);
  if (existsSync(path)) {
    const split = readSplit(path);
    const differs = SPLIT_NAMES.some((k) => split.config[k] !== c[k]) || split.config.seed !== c.seed || split.mode !== c.mode;
    if (differs) {
      throw new Error(
        `split file ${path} was made with ${JSON.stringify({ ...split.config, mode: split.mode })}, ` +
          `but ${JSON.stringify(c)} was asked: delete the file or ask for the same config`,
      );
    }
    try {
      verifySplit(split, records);
    } catch (e) {
      throw new Error(`split file ${path}: ${(e as Error).message} (was it made for another dataset? name the right split file, or delete this one to make a new split)`);
    }
    return { split, created: false };
  }
  const split = makeSplit(records, c);
  writeSplit(path, split);
  return { split, created: true };
}
