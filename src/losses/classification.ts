/**
 * DR grading losses (ICDR and SDRG, NUM_GRADES classes each): cross-entropy with optional class
 * weights and label smoothing, ignoring unknown grades (UNKNOWN_GRADE). BRSET is ~93% grade 0, hence
 * the helper for inverse-frequency class weights computed from the TRAINING labels only.
 *
 * @example
 *   const w = inverseFrequencyWeights(trainIcdr, NUM_GRADES); // mean 1 over present classes
 *   const loss = gradeCrossEntropy(out.icdrLogits, batch.icdr, { classWeights: w, labelSmoothing: 0.1 });
 */
import { Tensor, crossEntropy } from '../tensor/index.js';
import { UNKNOWN_GRADE } from '../data/grades.js';

export interface GradeLossOptions {
  /** Per-class weights (C), e.g. from inverseFrequencyWeights; null = unweighted. */
  classWeights?: readonly number[] | null;
  /** Label smoothing in [0, 1). */
  labelSmoothing?: number;
  /**
   * How class weights apply: 'class' (PyTorch's: label smoothing's share of each exam's loss is
   * weighted by every class's own weight, so with skewed weights the smoothing term pulls grade-0 exams
   * toward the rare grades) or 'exam' (each exam's whole smoothed loss is weighted by its own grade's
   * weight; the weighted mean sum w_y * l / sum w_y). Without smoothing the two agree. Default 'class'.
   */
  weighting?: 'class' | 'exam';
}

/**
 * Cross-entropy of (B, C) logits against (B) int64 grades, UNKNOWN_GRADE (-100) ignored. With class weights the
 * mean is PyTorch's weighted mean (sum w_y * l / sum w_y). Null when every grade is unknown.
 * @example gradeCrossEntropy(logits, Tensor.from([0, 2, -100], [3], 'int64')) // 0-d
 */
export function gradeCrossEntropy(logits: Tensor, labels: Tensor, o: GradeLossOptions = {}): Tensor | null {
  if (logits.ndim !== 2 || labels.ndim !== 1 || logits.shape[0] !== labels.shape[0]) {
    throw new Error(`gradeCrossEntropy: logits [${logits.shape.join(', ')}] must be (B, C) over labels [${labels.shape.join(', ')}] (B)`);
  }
  const c = logits.size(1);
  const smoothing = o.labelSmoothing ?? 0;
  if (!(smoothing >= 0 && smoothing < 1)) throw new Error(`gradeCrossEntropy: labelSmoothing must be in [0, 1), got ${smoothing}`);
  if (labels.ne(UNKNOWN_GRADE).sum().item() === 0) return null;
  let weight: Tensor | null = null;
  if (o.classWeights != null) {
    if (o.classWeights.length !== c) {
      throw new Error(`gradeCrossEntropy: ${o.classWeights.length} class weights for ${c} classes`);
    }
    const w64 = Tensor.from(Float64Array.from(o.classWeights), [c], 'float64'); // (C)
    if (logits.dtype === 'float64' && logits.device === 'cpu') weight = w64;
    else {
      weight = w64.to(logits.device, logits.dtype);
      w64.dispose();
    }
  }
  if (weight === null || (o.weighting ?? 'class') === 'class') {
    return crossEntropy(logits, labels, { weight, ignoreIndex: UNKNOWN_GRADE, labelSmoothing: smoothing });
  }
  const known = labels.ne(UNKNOWN_GRADE); // (B) bool
  const perExam = crossEntropy(logits, labels, { ignoreIndex: UNKNOWN_GRADE, labelSmoothing: smoothing, reduction: 'none' }); // (B), 0 where unknown
  const wy = weight.indexSelect(0, labels.clamp(0, c - 1)).mul(known.to(weight.dtype)); // (B) weight of each exam's grade
  return perExam.mul(wy).sum().div(wy.sum()); // 0-d
}

/**
 * Inverse-frequency class weights from training labels: w_c proportional to 1 / count_c,
 * normalized so that the mean over the classes present is 1. Classes absent from the labels get
 * weight 0 (they never occur as a target); labels < 0 (unknown) are skipped.
 * @example inverseFrequencyWeights([0, 0, 0, 1], 2) // [0.5, 1.5]
 */
export function inverseFrequencyWeights(labels: ArrayLike<number | bigint>, numClasses: number): number[] {
  if (!Number.isInteger(numClasses) || numClasses < 1) throw new Error(`inverseFrequencyWeights: numClasses must be a positive integer, got ${numClasses}`);
  const counts = new Array<number>(numClasses).fill(0);
  for (let i = 0; i < labels.length; i++) {
    const y = Number(labels[i]);
    if (y < 0) continue;
    if (!Number.isInteger(y) || y >= numClasses) {
      throw new Error(`inverseFrequencyWeights: label ${y} at index ${i} is outside 0..${numClasses - 1}`);
    }
    counts[y] = (counts[y] as number) + 1;
  }
  const present = counts.filter((n) => n > 0).length;
  if (present === 0) throw new Error('inverseFrequencyWeights: no known labels (all are < 0)');
  const raw = counts.map((n) => (n > 0 ? 1 / n : 0));
  const mean = raw.reduce((s, w) => s + w, 0) / present;
  return raw.map((w) => w / mean);
}
