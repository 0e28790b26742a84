/**
 * Referable DR (ICDR >= 2) as a binary problem derived from 5-class probabilities:
 * P(referable) = P(grade 2) + P(grade 3) + P(grade 4). Sensitivity/specificity at a threshold,
 * ROC AUC (Mann-Whitney, ties count 1/2) and ROC curve points.
 */
import { NUM_GRADES, REFERABLE_FROM_GRADE } from '../../data/grades.js';

/** One ROC point: at `threshold`, everything with score >= threshold is called positive. */
export interface RocPoint {
  threshold: number;
  fpr: number;
  tpr: number;
}

/** Binary operating point. */
export interface BinaryAtThreshold {
  threshold: number;
  sensitivity: number;
  specificity: number;
  tp: number;
  fp: number;
  tn: number;
  fn: number;
}

/** Everything {@link referableMetrics} reports. */
export interface ReferableReport extends BinaryAtThreshold {
  auc: number;
  roc: RocPoint[];
  nPositive: number;
  nNegative: number;
}

/**
 * Sums class probabilities from `fromGrade` to the last class, per row.
 * probs: (n, K) row-major.
 *
 * @example referableProbability(new Float32Array([0.5, 0.2, 0.2, 0.05, 0.05]), 5) // -> [0.3]
 */
export function referableProbability(probs: ArrayLike<number>, numClasses = NUM_GRADES, fromGrade = REFERABLE_FROM_GRADE): Float64Array {
  if (probs.length % numClasses !== 0) throw new Error(`referableProbability: ${probs.length} values is not a multiple of numClasses=${numClasses}`);
  const n = probs.length / numClasses;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let c = fromGrade; c < numClasses; c++) s += probs[i * numClasses + c] as number;
    out[i] = s;
  }
  return out;
}

/**
 * Sensitivity and specificity, calling score >= threshold positive. NaN when a class is empty.
 *
 * @example binaryAtThreshold([true, false], [0.7, 0.5], 0.5) // sensitivity 1, specificity 0
 */
export function binaryAtThreshold(labels: ArrayLike<boolean | number>, scores: ArrayLike<number>, threshold = 0.5): BinaryAtThreshold {
  checkBinary(labels, scores);
  let tp = 0, fp = 0, tn = 0, fn = 0;
  for (let i = 0; i < labels.length; i++) {
    const pos = Boolean(labels[i]);
    const called = (scores[i] as number) >= threshold;
    if (pos && called) tp++;
    else if (pos) fn++;
    else if (called) fp++;
    else tn++;
  }
  return { threshold, sensitivity: tp + fn === 0 ? NaN : tp / (tp + fn), specificity: tn + fp === 0 ? NaN : tn / (tn + fp), tp, fp, tn, fn };
}

/**
 * ROC AUC = P(score of a random positive > score of a random negative) + 0.5 P(equal),
 * computed from tie-averaged ranks (Mann-Whitney U / (nPos nNeg)). NaN when a class is empty.
 *
 * @example rocAuc([1, 0, 1, 0], [0.9, 0.9, 0.8, 0.1]) // pairs: (0.9,0.9)=0.5 (0.9,0.1)=1 (0.8,0.9)=0 (0.8,0.1)=1 -> 2.5/4
 */
export function rocAuc(labels: ArrayLike<boolean | number>, scores: ArrayLike<number>): number {
  checkBinary(labels, scores);
  const n = labels.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => cmp(scores[a] as number, scores[b] as number));
  let rankSumPos = 0;
  let nPos = 0;
  for (let i = 0; i < n; ) {
    let j = i;
    while (j + 1 < n && scores[order[j + 1]!] === scores[order[i]!]) j++;
    const avgRank = (i + j) / 2 + 1; // 1-based ranks i+1..j+1 share their mean
    for (let t = i; t <= j; t++) if (labels[order[t]!]) { rankSumPos += avgRank; nPos++; }
    i = j + 1;
  }
  const nNeg = n - nPos;
  if (nPos === 0 || nNeg === 0) return NaN;
  return (rankSumPos - (nPos * (nPos + 1)) / 2) / (nPos * nNeg);
}

/**
 * ROC curve: one point per distinct score (descending), starting at (0, 0) with threshold +Infinity
 * and ending at (1, 1). Tied scores move both rates at once (a diagonal segment), consistent with
 * the 1/2 tie rule of {@link rocAuc} (the trapezoid area under these points equals rocAuc).
 *
 * @example rocCurve([1, 0], [0.8, 0.3]) // -> (inf: 0,0) (0.8: 0,1) (0.3: 1,1)
 */
export function rocCurve(labels: ArrayLike<boolean | number>, scores: ArrayLike<number>): RocPoint[] {
  checkBinary(labels, scores);
  const n = labels.length;
  let nPos = 0;
  for (let i = 0; i < n; i++) if (labels[i]) nPos++;
  const nNeg = n - nPos;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => cmp(scores[b] as number, scores[a] as number));
  const pts: RocPoint[] = [{ threshold: Infinity, fpr: 0, tpr: 0 }];
  let tp = 0;
  let fp = 0;
  for (let i = 0; i < n; ) {
    const s = scores[order[i]!] as number;
    while (i < n && scores[order[i]!] === s) { if (labels[order[i]!]) tp++; else fp++; i++; }
    pts.push({ threshold: s, fpr: nNeg === 0 ? NaN : fp / nNeg, tpr: nPos === 0 ? NaN : tp / nPos });
  }
  return pts;
}

/**
 * Referable-DR report from ICDR truth grades and 5-class probabilities.
 *
 * @example
 *   const r = referableMetrics(icdrTruth, probs); // probs (n, 5) row-major softmax outputs
 *   r.sensitivity; r.specificity; r.auc;
 */
export function referableMetrics(
  truthGrades: ArrayLike<number>,
  probs: ArrayLike<number>,
  opts: { numClasses?: number; fromGrade?: number; threshold?: number } = {},
): ReferableReport {
  const k = opts.numClasses ?? 5;
  const from = opts.fromGrade ?? 2;
  const p = referableProbability(probs, k, from);
  if (p.length !== truthGrades.length) throw new Error(`referableMetrics: ${truthGrades.length} truth grades but ${p.length} probability rows`);
  const labels = Array.from(truthGrades, (g) => g >= from);
  const nPositive = labels.filter(Boolean).length;
  return {
    ...binaryAtThreshold(labels, p, opts.threshold ?? 0.5),
    auc: rocAuc(labels, p),
    roc: rocCurve(labels, p),
    nPositive,
    nNegative: labels.length - nPositive,
  };
}

function checkBinary(labels: ArrayLike<boolean | number>, scores: ArrayLike<number>): void {
  if (labels.length !== scores.length) throw new Error(`labels has length ${labels.length}, scores has length ${scores.length} (expected equal)`);
  for (let i = 0; i < scores.length; i++) {
    if (Number.isNaN(scores[i])) throw new Error(`scores[${i}] is NaN (expected a number)`);
  }
}

/** Total order on non-NaN numbers that stays consistent with +-Infinity (a - b would give NaN). */
function cmp(x: number, y: number): number {
  return x < y ? -1 : x > y ? 1 : 0;
}
