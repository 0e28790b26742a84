/**
 * Calibration: top-label expected calibration error (ECE) with equal-width confidence bins,
 * reliability-diagram bins, and temperature scaling fitted by minimizing validation NLL
 * (Guo et al. 2017, "On Calibration of Modern Neural Networks").
 */
import { NUM_GRADES } from '../../data/grades.js';

/** One reliability-diagram bin over confidences in (lo, hi] (the first bin also holds 0). */
export interface ReliabilityBin {
  lo: number;
  hi: number;
  count: number;
  /** Mean confidence of the items in the bin; NaN when empty. */
  meanConfidence: number;
  /** Fraction correct in the bin; NaN when empty. */
  accuracy: number;
}

/** ECE plus the bins it was computed from. */
export interface CalibrationReport {
  ece: number;
  bins: ReliabilityBin[];
  n: number;
}

/**
 * ECE = sum_b (|b| / n) * |accuracy_b - meanConfidence_b| over equal-width bins (lo, hi].
 *
 * @example
 *   expectedCalibrationError([0.9, 0.9, 0.6], [1, 0, 1], 2)
 *   // bin (0.5,1]: conf 0.8, acc 2/3 -> ece = 3/3 * |2/3 - 0.8| = 0.1333
 */
export function expectedCalibrationError(
  confidence: ArrayLike<number>,
  correct: ArrayLike<boolean | number>,
  nBins = 15,
): CalibrationReport {
  if (confidence.length !== correct.length) throw new Error(`expectedCalibrationError: ${confidence.length} confidences but ${correct.length} correctness flags`);
  if (!Number.isInteger(nBins) || nBins < 1) throw new Error(`expectedCalibrationError: nBins=${nBins}, expected a positive integer`);
  const count = new Array<number>(nBins).fill(0);
  const confSum = new Array<number>(nBins).fill(0);
  const hitSum = new Array<number>(nBins).fill(0);
  for (let i = 0; i < confidence.length; i++) {
    const c = confidence[i] as number;
    if (!(c >= 0 && c <= 1)) throw new Error(`expectedCalibrationError: confidence[${i}]=${c}, expected a probability in [0, 1]`);
    const b = Math.min(nBins - 1, Math.max(0, Math.ceil(c * nBins) - 1));
    count[b]! += 1;
    confSum[b]! += c;
    hitSum[b]! += correct[i] ? 1 : 0;
  }
  const n = confidence.length;
  let ece = 0;
  const bins: ReliabilityBin[] = [];
  for (let b = 0; b < nBins; b++) {
    const k = count[b]!;
    const meanConfidence = k === 0 ? NaN : confSum[b]! / k;
    const acc = k === 0 ? NaN : hitSum[b]! / k;
    if (k > 0) ece += (k / n) * Math.abs(acc - meanConfidence);
    bins.push({ lo: b / nBins, hi: (b + 1) / nBins, count: k, meanConfidence, accuracy: acc });
  }
  return { ece: n === 0 ? NaN : ece, bins, n };
}

/**
 * Top-label calibration of (n, K) row-major probabilities: confidence = max prob, correct = argmax == truth.
 *
 * @example calibrationFromProbs(probs, truth, 5).ece
 */
export function calibrationFromProbs(probs: ArrayLike<number>, truth: ArrayLike<number>, numClasses = NUM_GRADES, nBins = 15): CalibrationReport {
  const n = truth.length;
  if (probs.length !== n * numClasses) throw new Error(`calibrationFromProbs: ${probs.length} probabilities, expected n*K = ${n}*${numClasses}`);
  const conf = new Float64Array(n);
  const correct = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let c = 1; c < numClasses; c++) if ((probs[i * numClasses + c] as number) > (probs[i * numClasses + best] as number)) best = c;
    conf[i] = probs[i * numClasses + best] as number;
    correct[i] = best === truth[i] ? 1 : 0;
  }
  return expectedCalibrationError(conf, correct, nBins);
}

/**
 * Row-wise softmax of (n, K) row-major logits divided by a temperature (max-subtracted for stability).
 *
 * @example softmaxRows(new Float32Array([0, 0]), 2) // -> [0.5, 0.5]
 */
export function softmaxRows(logits: ArrayLike<number>, numClasses: number, temperature = 1): Float64Array {
  const n = logits.length / numClasses;
  const out = new Float64Array(logits.length);
  for (let i = 0; i < n; i++) {
    const o = i * numClasses;
    let mx = -Infinity;
    for (let c = 0; c < numClasses; c++) mx = Math.max(mx, (logits[o + c] as number) / temperature);
    let z = 0;
    for (let c = 0; c < numClasses; c++) { const e = Math.exp((logits[o + c] as number) / temperature - mx); out[o + c] = e; z += e; }
    for (let c = 0; c < numClasses; c++) out[o + c]! /= z;
  }
  return out;
}

/**
 * Mean negative log-likelihood of the true classes under softmax(logits / T).
 *
 * @example nllAtTemperature(new Float32Array([0, 0]), [0], 2, 1) // -> ln 2
 */
export function nllAtTemperature(logits: ArrayLike<number>, labels: ArrayLike<number>, numClasses: number, temperature: number): number {
  const n = labels.length;
  let total = 0;
  for (let i = 0; i < n; i++) {
    const o = i * numClasses;
    let mx = -Infinity;
    for (let c = 0; c < numClasses; c++) mx = Math.max(mx, (logits[o + c] as number) / temperature);
    let z = 0;
    for (let c = 0; c < numClasses; c++) z += Math.exp((logits[o + c] as number) / temperature - mx);
    total += mx + Math.log(z) - (logits[o + (labels[i] as number)] as number) / temperature; // logsumexp - z_y
  }
  return total / n;
}

/** Result of {@link fitTemperature}. */
export interface TemperatureFit {
  temperature: number;
  nllBefore: number;
  nllAfter: number;
}

/**
 * Temperature T > 0 minimizing validation NLL of softmax(logits / T), by golden-section search on
 * log T over [log minT, log maxT]. NLL(T) is unimodal in log T (it is convex in 1/T), so the search
 * converges to the global minimum inside the bracket; a result at the bracket edge means the
 * bracket was too narrow.
 *
 * @example
 *   const { temperature } = fitTemperature(valLogits, valLabels, 5); // then softmaxRows(testLogits, 5, temperature)
 */
export function fitTemperature(
  logits: ArrayLike<number>,
  labels: ArrayLike<number>,
  numClasses: number,
  opts: { minT?: number; maxT?: number; tol?: number } = {},
): TemperatureFit {
  const n = labels.length;
  if (n === 0) throw new Error('fitTemperature: no validation examples');
  if (logits.length !== n * numClasses) throw new Error(`fitTemperature: ${logits.length} logits, expected n*K = ${n}*${numClasses}`);
  for (let i = 0; i < n; i++) {
    const y = labels[i] as number;
    if (!Number.isInteger(y) || y < 0 || y >= numClasses) throw new Error(`fitTemperature: labels[${i}]=${y}, expected an integer class in [0, ${numClasses - 1}]`);
  }
  const minT = opts.minT ?? 0.05;
  const maxT = opts.maxT ?? 20;
  const tol = opts.tol ?? 1e-6;
  if (!(minT > 0 && maxT > minT)) throw new Error(`fitTemperature: bracket [${minT}, ${maxT}] invalid, expected 0 < minT < maxT`);
  const f = (logT: number): number => nllAtTemperature(logits, labels, numClasses, Math.exp(logT));
  const phi = (Math.sqrt(5) - 1) / 2; // 0.618...
  let a = Math.log(minT);
  let b = Math.log(maxT);
  let x1 = b - phi * (b - a);
  let x2 = a + phi * (b - a);
  let f1 = f(x1);
  let f2 = f(x2);
  while (b - a > tol) {
    if (f1 <= f2) { b = x2; x2 = x1; f2 = f1; x1 = b - phi * (b - a); f1 = f(x1); }
    else { a = x1; x1 = x2; f1 = f2; x2 = a + phi * (b - a); f2 = f(x2); }
  }
  const temperature = Math.exp((a + b) / 2);
  return { temperature, nllBefore: nllAtTemperature(logits, labels, numClasses, 1), nllAfter: nllAtTemperature(logits, labels, numClasses, temperature) };
}
