/**
 * Patient-level bootstrap confidence intervals. Both eyes (and repeat images) of a patient are
 * correlated, so resampling images would understate the variance: we resample PATIENTS with
 * replacement and every item of a drawn patient comes along (a patient drawn twice contributes
 * its items twice). Percentile interval, deterministic per seed (src/data/rng.ts).
 */
import { Rng } from '../../data/rng.js';

/** Options of {@link bootstrapCI}. */
export interface BootstrapOptions {
  /** Number of resamples. Default 1000. */
  iterations?: number;
  /** Seed of the Rng that draws patients. Default 0. */
  seed?: number;
  /** Two-sided miss rate: 0.05 gives a 95% interval. Default 0.05. */
  alpha?: number;
}

/** Point estimate on the full data and percentile bounds over resamples. */
export interface BootstrapCI {
  estimate: number;
  lo: number;
  hi: number;
  alpha: number;
  iterations: number;
  /**
   * Resamples whose metric was finite. Resamples where the metric is undefined (NaN, e.g. AUC on a
   * draw without positives) are left out of the percentiles; a low count means the interval is weak.
   */
  valid: number;
  nPatients: number;
}

/**
 * 95% (by default) percentile bootstrap CI of `metricFn` over patients.
 *
 * @example
 *   const ci = bootstrapCI(rows, rows.map((r) => r.patientId),
 *     (s) => accuracy(s.map((r) => r.truth), s.map((r) => r.pred)), { iterations: 1000, seed: 1 });
 *   // -> { estimate: 0.91, lo: 0.88, hi: 0.94, ... }
 */
export function bootstrapCI<T>(
  items: readonly T[],
  patientIds: ArrayLike<string | number>,
  metricFn: (sample: T[]) => number,
  opts: BootstrapOptions = {},
): BootstrapCI {
  const iterations = opts.iterations ?? 1000;
  const alpha = opts.alpha ?? 0.05;
  if (items.length !== patientIds.length) throw new Error(`bootstrapCI: ${items.length} items but ${patientIds.length} patient ids (expected one id per item)`);
  if (!Number.isInteger(iterations) || iterations < 1) throw new Error(`bootstrapCI: iterations=${iterations}, expected a positive integer`);
  if (!(alpha > 0 && alpha < 1)) throw new Error(`bootstrapCI: alpha=${alpha}, expected a number in (0, 1)`);

  // Patients in first-appearance order, so the draw depends only on the data order and the seed.
  const byPatient = new Map<string | number, T[]>();
  for (let i = 0; i < items.length; i++) {
    const id = patientIds[i] as string | number;
    let list = byPatient.get(id);
    if (!list) { list = []; byPatient.set(id, list); }
    list.push(items[i] as T);
  }
  const groups = [...byPatient.values()];
  const p = groups.length;
  const estimate = metricFn(items.slice());
  const stats: number[] = [];
  const rng = new Rng(opts.seed ?? 0);
  for (let it = 0; it < iterations; it++) {
    const sample: T[] = [];
    for (let k = 0; k < p; k++) {
      const g = groups[Math.floor(rng.uniform() * p)] as T[];
      for (const x of g) sample.push(x);
    }
    const v = metricFn(sample);
    if (Number.isFinite(v)) stats.push(v);
  }
  stats.sort((a, b) => a - b);
  return {
    estimate,
    lo: quantile(stats, alpha / 2),
    hi: quantile(stats, 1 - alpha / 2),
    alpha,
    iterations,
    valid: stats.length,
    nPatients: p,
  };
}

/**
 * Linear-interpolation quantile of an ascending array (R type 7 / numpy default). NaN when empty.
 *
 * @example quantile([1, 2, 3, 4], 0.5) // -> 2.5
 */
export function quantile(sorted: readonly number[], q: number): number {
  const n = sorted.length;
  if (n === 0) return NaN;
  const h = (n - 1) * q;
  const lo = Math.floor(h);
  const hi = Math.min(n - 1, lo + 1);
  return (sorted[lo] as number) + (h - lo) * ((sorted[hi] as number) - (sorted[lo] as number));
}
