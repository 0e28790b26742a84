/**
 * Subgroup analysis: a metric per subgroup (sex, age band, camera, or any key function) and the
 * largest gap between subgroups per metric. Subgroups smaller than `minSize` are not scored
 * (their numbers would be noise) and are listed as skipped so the report can say so.
 */
import type { ExamRecord, FieldValue } from '../../data/types.js';

/** Age bands used throughout the report. */
export type AgeBand = '<40' | '40-59' | '60-74' | '>=75' | 'missing';

/** Value used when a subgroup attribute is missing. */
export const MISSING = 'missing';

/**
 * Age band of an age in years; null, undefined, NaN or a non-number -> 'missing'.
 *
 * @example ageBand(59.9) // -> '40-59'; ageBand(60) // -> '60-74'; ageBand(null) // -> 'missing'
 */
export function ageBand(age: FieldValue | undefined): AgeBand {
  if (typeof age !== 'number' || !Number.isFinite(age)) return 'missing';
  if (age < 40) return '<40';
  if (age < 60) return '40-59';
  if (age < 75) return '60-74';
  return '>=75';
}

/** A field as a subgroup label: strings/numbers/booleans as text, null/absent -> 'missing'. */
function fieldLabel(v: FieldValue | undefined): string {
  return v === null || v === undefined || v === '' ? MISSING : String(v);
}

/**
 * The standard subgroup attributes of an exam record (fields patient_sex, patient_age, camera;
 * see src/data/types.ts).
 *
 * @example standardSubgroups(record) // -> { sex: 'female', ageBand: '60-74', camera: 'Canon CR' }
 */
export function standardSubgroups(r: ExamRecord): { sex: string; ageBand: AgeBand; camera: string } {
  return { sex: fieldLabel(r.fields.patient_sex), ageBand: ageBand(r.fields.patient_age), camera: fieldLabel(r.fields.camera) };
}

/** One subgroup's size and metric values (empty metrics when skipped). */
export interface SubgroupRow {
  group: string;
  n: number;
  skipped: boolean;
  metrics: Record<string, number>;
}

/** Largest minus smallest metric value among scored subgroups with a finite value. */
export interface SubgroupGap {
  gap: number;
  maxGroup: string;
  max: number;
  minGroup: string;
  min: number;
}

/** Result for one attribute (e.g. 'sex'). */
export interface SubgroupResult {
  attribute: string;
  minSize: number;
  /** Groups sorted by name. */
  groups: SubgroupRow[];
  /** Per metric name; null when fewer than two scored groups have a finite value. */
  gaps: Record<string, SubgroupGap | null>;
  /** Names and sizes of groups below minSize. */
  skipped: { group: string; n: number }[];
}

/**
 * Scores each metric on each subgroup of one attribute and reports the largest gap per metric.
 *
 * @example
 *   subgroupMetrics(rows, 'sex', (r) => r.sex, {
 *     accuracy: (s) => accuracy(s.map((r) => r.truth), s.map((r) => r.pred)),
 *   }, { minSize: 30 });
 */
export function subgroupMetrics<T>(
  items: readonly T[],
  attribute: string,
  groupOf: (item: T) => string,
  metrics: Record<string, (sample: T[]) => number>,
  opts: { minSize?: number } = {},
): SubgroupResult {
  const minSize = opts.minSize ?? 30;
  const byGroup = new Map<string, T[]>();
  for (const it of items) {
    const g = groupOf(it);
    let list = byGroup.get(g);
    if (!list) { list = []; byGroup.set(g, list); }
    list.push(it);
  }
  const names = [...byGroup.keys()].sort();
  const groups: SubgroupRow[] = [];
  const skipped: { group: string; n: number }[] = [];
  for (const name of names) {
    const s = byGroup.get(name) as T[];
    if (s.length < minSize) {
      skipped.push({ group: name, n: s.length });
      groups.push({ group: name, n: s.length, skipped: true, metrics: {} });
      continue;
    }
    const m: Record<string, number> = {};
    for (const [metric, fn] of Object.entries(metrics)) m[metric] = fn(s);
    groups.push({ group: name, n: s.length, skipped: false, metrics: m });
  }
  const gaps: Record<string, SubgroupGap | null> = {};
  for (const metric of Object.keys(metrics)) {
    let best: SubgroupGap | null = null;
    let count = 0;
    for (const g of groups) {
      const v = g.metrics[metric];
      if (g.skipped || v === undefined || !Number.isFinite(v)) continue;
      count++;
      if (!best) best = { gap: 0, maxGroup: g.group, max: v, minGroup: g.group, min: v };
      if (v > best.max) { best.max = v; best.maxGroup = g.group; }
      if (v < best.min) { best.min = v; best.minGroup = g.group; }
    }
    if (best && count >= 2) { best.gap = best.max - best.min; gaps[metric] = best; } else gaps[metric] = null;
  }
  return { attribute, minSize, groups, gaps, skipped };
}

/**
 * {@link subgroupMetrics} over several attributes at once.
 *
 * @example
 *   subgroupReport(rows, { sex: (r) => r.sex, ageBand: (r) => r.ageBand, camera: (r) => r.camera }, metrics)
 */
export function subgroupReport<T>(
  items: readonly T[],
  attributes: Record<string, (item: T) => string>,
  metrics: Record<string, (sample: T[]) => number>,
  opts: { minSize?: number } = {},
): SubgroupResult[] {
  return Object.entries(attributes).map(([attr, fn]) => subgroupMetrics(items, attr, fn, metrics, opts));
}
