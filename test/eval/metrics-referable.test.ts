import { test } from 'node:test';
import assert from 'node:assert/strict';
import { referableProbability, binaryAtThreshold, rocAuc, rocCurve, referableMetrics } from '../../src/eval/metrics/referable.js';
import { Rng } from '../../src/data/rng.js';

const close = (a: number, b: number, eps = 1e-12): void => assert.ok(Math.abs(a - b) < eps, `${a} != ${b}`);

/** Trapezoid area under ROC points. */
function trapezoid(pts: { fpr: number; tpr: number }[]): number {
  let a = 0;
  for (let i = 1; i < pts.length; i++) a += (pts[i]!.fpr - pts[i - 1]!.fpr) * (pts[i]!.tpr + pts[i - 1]!.tpr) / 2;
  return a;
}

test('referable probability sums grades 2..4', () => {
  const p = referableProbability(new Float32Array([0.5, 0.2, 0.2, 0.05, 0.05, 0, 0, 0, 0, 1]), 5);
  close(p[0]!, 0.3, 1e-7);
  close(p[1]!, 1);
});

test('hand-computed AUC with a tie counts the tied pair as 1/2', () => {
  // positives 0.9, 0.8; negatives 0.9, 0.1. Pairs: (.9,.9)=0.5 (.9,.1)=1 (.8,.9)=0 (.8,.1)=1 -> 2.5/4
  close(rocAuc([1, 0, 1, 0], [0.9, 0.9, 0.8, 0.1]), 0.625);
  const roc = rocCurve([1, 0, 1, 0], [0.9, 0.9, 0.8, 0.1]);
  assert.deepEqual(roc, [
    { threshold: Infinity, fpr: 0, tpr: 0 },
    { threshold: 0.9, fpr: 0.5, tpr: 0.5 }, // the tie moves both rates at once
    { threshold: 0.8, fpr: 0.5, tpr: 1 },
    { threshold: 0.1, fpr: 1, tpr: 1 },
  ]);
  close(trapezoid(roc), 0.625);
  assert.ok(Number.isNaN(rocAuc([1, 1], [0.2, 0.3])));
});

test('referableMetrics: sensitivity/specificity at 0.5 and AUC by hand', () => {
  // ICDR truth 0 1 2 3 4 0 -> referable F F T T T F. P(grade>=2) = .1 .6 .7 .4 .9 .5 (put in grade-2 column).
  const pRef = [0.1, 0.6, 0.7, 0.4, 0.9, 0.5];
  const probs = new Float64Array(pRef.flatMap((q) => [1 - q, 0, q, 0, 0]));
  const r = referableMetrics([0, 1, 2, 3, 4, 0], probs);
  // called positive (>= 0.5): F T T F T T -> tp 2 (idx 2,4), fn 1 (idx 3), fp 2 (idx 1,5), tn 1 (idx 0)
  assert.deepEqual([r.tp, r.fn, r.fp, r.tn], [2, 1, 2, 1]);
  close(r.sensitivity, 2 / 3);
  close(r.specificity, 1 / 3);
  // pos {.7,.4,.9} vs neg {.1,.6,.5}: .7 beats 3, .4 beats 1, .9 beats 3 -> 7/9
  close(r.auc, 7 / 9);
  assert.equal(r.nPositive, 3);
  assert.equal(r.nNegative, 3);
  close(trapezoid(r.roc), 7 / 9);
});

test('AUC equals the pairwise definition on random tied scores; ROC trapezoid agrees', () => {
  const rng = new Rng(3);
  const n = 60;
  const labels = Array.from({ length: n }, () => rng.bernoulli(0.3));
  const scores = labels.map((l) => Math.round((rng.normal() + (l ? 1 : 0)) * 2) / 2); // coarse -> many ties
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) if (labels[i] && !labels[j]) {
    den++;
    num += scores[i]! > scores[j]! ? 1 : scores[i] === scores[j] ? 0.5 : 0;
  }
  close(rocAuc(labels, scores), num / den);
  close(trapezoid(rocCurve(labels, scores)), num / den);
});

test('threshold rule is score >= threshold', () => {
  const b = binaryAtThreshold([true, false], [0.5, 0.5], 0.5);
  assert.equal(b.sensitivity, 1);
  assert.equal(b.specificity, 0);
  assert.throws(() => binaryAtThreshold([true], [NaN]), /scores\[0\] is NaN/);
});
