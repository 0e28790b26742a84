/**
 * Grading metrics on ordinal K-class scales (ICDR and SDRG are both 0..4): confusion matrix,
 * accuracy, macro-F1, quadratic-weighted kappa, per-grade recall, and the majority-class baseline
 * that every accuracy is printed next to (93% of BRSET is grade 0: "always no DR" scores ~93%).
 *
 * Inputs are integer class indices in [0, K). Confusion matrices are indexed [truth][prediction].
 */
import { NUM_GRADES } from '../../data/grades.js';

/** Confusion matrix (K, K), rows = truth, columns = prediction. */
export type Confusion = number[][];

/** Majority-class predictor's scores on the same truth labels. */
export interface MajorityBaseline {
  majorityClass: number;
  accuracy: number;
  kappa: number;
  macroF1: number;
}

/** Everything {@link gradingMetrics} reports for one scale. */
export interface GradingReport {
  n: number;
  numClasses: number;
  accuracy: number;
  macroF1: number;
  /** Quadratic-weighted Cohen's kappa; NaN when undefined (see {@link quadraticWeightedKappa}). */
  kappa: number;
  /** recall[c] = TP_c / #truth==c; null when class c never occurs in truth. */
  perGradeRecall: (number | null)[];
  confusion: Confusion;
  majorityBaseline: MajorityBaseline;
}

/**
 * Counts (truth, prediction) pairs.
 *
 * @example
 *   confusionMatrix([0, 1, 1], [0, 1, 0], 2) // -> [[1, 0], [1, 1]]
 */
export function confusionMatrix(truth: ArrayLike<number>, pred: ArrayLike<number>, numClasses = NUM_GRADES): Confusion {
  checkLabels(truth, pred, numClasses);
  const m: Confusion = Array.from({ length: numClasses }, () => new Array<number>(numClasses).fill(0));
  for (let i = 0; i < truth.length; i++) (m[truth[i] as number] as number[])[pred[i] as number]! += 1;
  return m;
}

/**
 * Fraction of exact matches.
 *
 * @example accuracy([0, 1, 2], [0, 1, 1]) // -> 2/3
 */
export function accuracy(truth: ArrayLike<number>, pred: ArrayLike<number>): number {
  if (truth.length !== pred.length) throw new Error(`accuracy: truth has ${truth.length} labels, prediction has ${pred.length}`);
  let hit = 0;
  for (let i = 0; i < truth.length; i++) if (truth[i] === pred[i]) hit++;
  return truth.length === 0 ? NaN : hit / truth.length;
}

/** Accuracy from a confusion matrix (trace / total). */
export function accuracyFromConfusion(m: Confusion): number {
  let tr = 0;
  let tot = 0;
  m.forEach((row, i) => row.forEach((v, j) => { tot += v; if (i === j) tr += v; }));
  return tot === 0 ? NaN : tr / tot;
}

/**
 * Macro-averaged F1 over classes. A class absent from BOTH truth and prediction is excluded from
 * the average (its F1 is 0/0); a class present in only one of them has F1 = 0 and is included.
 *
 * @example macroF1FromConfusion([[1, 0], [1, 1]]) // class0 F1 = 2/3, class1 F1 = 2/3 -> 2/3
 */
export function macroF1FromConfusion(m: Confusion): number {
  const k = m.length;
  let sum = 0;
  let count = 0;
  for (let c = 0; c < k; c++) {
    const tp = m[c]![c]!;
    let truthC = 0;
    let predC = 0;
    for (let j = 0; j < k; j++) { truthC += m[c]![j]!; predC += m[j]![c]!; }
    if (truthC === 0 && predC === 0) continue;
    sum += (2 * tp) / (truthC + predC); // F1 = 2TP / (2TP + FP + FN)
    count++;
  }
  return count === 0 ? NaN : sum / count;
}

/** Macro-F1 from labels; see {@link macroF1FromConfusion} for the absent-class rule. */
export function macroF1(truth: ArrayLike<number>, pred: ArrayLike<number>, numClasses = NUM_GRADES): number {
  return macroF1FromConfusion(confusionMatrix(truth, pred, numClasses));
}

/**
 * Quadratic-weighted Cohen's kappa from a confusion matrix:
 *   kappa = 1 - sum_ij w_ij O_ij / sum_ij w_ij E_ij,  w_ij = (i - j)^2 / (K - 1)^2,
 *   E_ij = rowTotal_i * colTotal_j / N.
 * NaN when the denominator is 0 (truth and prediction are the same single class: chance agreement
 * is already perfect, kappa is undefined). A constant predictor on non-constant truth scores exactly 0.
 *
 * @example quadraticWeightedKappaFromConfusion([[1, 0], [0, 1]]) // -> 1
 */
export function quadraticWeightedKappaFromConfusion(m: Confusion): number {
  const k = m.length;
  const rows = m.map((r) => r.reduce((a, b) => a + b, 0));
  const cols = Array.from({ length: k }, (_, j) => m.reduce((a, r) => a + r[j]!, 0));
  const n = rows.reduce((a, b) => a + b, 0);
  if (n === 0 || k < 2) return NaN;
  let num = 0;
  let den = 0;
  for (let i = 0; i < k; i++) {
    for (let j = 0; j < k; j++) {
      const w = ((i - j) * (i - j)) / ((k - 1) * (k - 1));
      num += w * m[i]![j]!;
      den += (w * rows[i]! * cols[j]!) / n;
    }
  }
  return den === 0 ? NaN : 1 - num / den;
}

/** Quadratic-weighted kappa from labels. */
export function quadraticWeightedKappa(truth: ArrayLike<number>, pred: ArrayLike<number>, numClasses = NUM_GRADES): number {
  return quadraticWeightedKappaFromConfusion(confusionMatrix(truth, pred, numClasses));
}

/** Per-class recall from a confusion matrix; null for classes absent from truth. */
export function perClassRecallFromConfusion(m: Confusion): (number | null)[] {
  return m.map((row, c) => {
    const tot = row.reduce((a, b) => a + b, 0);
    return tot === 0 ? null : row[c]! / tot;
  });
}

/**
 * The most frequent truth class (ties -> lowest index) and how a predictor that always answers it
 * scores. Pass `majorityClass` to use the training set's majority instead of the test set's.
 *
 * @example majorityBaseline([0, 0, 0, 1], 5) // -> { majorityClass: 0, accuracy: 0.75, kappa: 0, macroF1: 0.4286 }
 */
export function majorityBaseline(truth: ArrayLike<number>, numClasses = NUM_GRADES, majorityClass?: number): MajorityBaseline {
  let cls = majorityClass;
  if (cls === undefined) {
    const counts = new Array<number>(numClasses).fill(0);
    for (let i = 0; i < truth.length; i++) counts[truth[i] as number]! += 1;
    cls = 0;
    for (let c = 1; c < numClasses; c++) if (counts[c]! > counts[cls]!) cls = c;
  }
  const pred = new Array<number>(truth.length).fill(cls);
  const m = confusionMatrix(truth, pred, numClasses);
  return {
    majorityClass: cls,
    accuracy: accuracyFromConfusion(m),
    kappa: quadraticWeightedKappaFromConfusion(m),
    macroF1: macroF1FromConfusion(m),
  };
}

/**
 * All grading numbers for one scale, with the majority-class baseline alongside.
 *
 * @example
 *   const g = gradingMetrics(icdrTruth, icdrPred, 5);
 *   console.log(g.accuracy, 'vs majority', g.majorityBaseline.accuracy, 'kappa', g.kappa);
 */
export function gradingMetrics(
  truth: ArrayLike<number>,
  pred: ArrayLike<number>,
  numClasses = NUM_GRADES,
  opts: { majorityClass?: number } = {},
): GradingReport {
  const m = confusionMatrix(truth, pred, numClasses);
  return {
    n: truth.length,
    numClasses,
    accuracy: accuracyFromConfusion(m),
    macroF1: macroF1FromConfusion(m),
    kappa: quadraticWeightedKappaFromConfusion(m),
    perGradeRecall: perClassRecallFromConfusion(m),
    confusion: m,
    majorityBaseline: majorityBaseline(truth, numClasses, opts.majorityClass),
  };
}

/**
 * Row-wise argmax of (n, K) row-major scores or probabilities (first index wins ties).
 *
 * @example argmaxRows(new Float32Array([0.1, 0.9, 0.8, 0.2]), 2) // -> Int32Array [1, 0]
 */
export function argmaxRows(scores: ArrayLike<number>, numClasses: number): Int32Array {
  if (scores.length % numClasses !== 0) throw new Error(`argmaxRows: ${scores.length} values is not a multiple of numClasses=${numClasses}`);
  const n = scores.length / numClasses;
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let c = 1; c < numClasses; c++) if ((scores[i * numClasses + c] as number) > (scores[i * numClasses + best] as number)) best = c;
    out[i] = best;
  }
  return out;
}

function checkLabels(truth: ArrayLike<number>, pred: ArrayLike<number>, k: number): void {
  if (!Number.isInteger(k) || k < 1) throw new Error(`numClasses=${k}, expected a positive integer`);
  if (truth.length !== pred.length) throw new Error(`truth has ${truth.length} labels, prediction has ${pred.length} (expected equal lengths)`);
  for (let i = 0; i < truth.length; i++) {
    const t = truth[i] as number;
    const p = pred[i] as number;
    if (!Number.isInteger(t) || t < 0 || t >= k) throw new Error(`truth[${i}]=${t}, expected an integer class in [0, ${k - 1}]`);
    if (!Number.isInteger(p) || p < 0 || p >= k) throw new Error(`prediction[${i}]=${p}, expected an integer class in [0, ${k - 1}]`);
  }
}
