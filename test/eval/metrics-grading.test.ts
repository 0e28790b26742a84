import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  confusionMatrix, accuracy, macroF1, quadraticWeightedKappa, quadraticWeightedKappaFromConfusion,
  perClassRecallFromConfusion, majorityBaseline, gradingMetrics, argmaxRows,
} from '../../src/eval/metrics/grading.js';

const close = (a: number, b: number, eps = 1e-12): void => assert.ok(Math.abs(a - b) < eps, `${a} != ${b}`);

/** Expands a confusion matrix into (truth, pred) label lists. */
function labelsFrom(m: number[][]): { t: number[]; p: number[] } {
  const t: number[] = [];
  const p: number[] = [];
  m.forEach((row, i) => row.forEach((c, j) => { for (let k = 0; k < c; k++) { t.push(i); p.push(j); } }));
  return { t, p };
}

test('3-class hand-worked kappa, accuracy, macro-F1, recall', () => {
  // O = [[2,1,0],[0,1,1],[1,0,2]], n = 8, row totals r = [3,2,3], column totals c = [3,2,3].
  // Weights w_ij = (i-j)^2 / (K-1)^2 = (i-j)^2 / 4: w01 = w12 = 0.25, w02 = 1.
  // Observed: sum w O = 0.25*O01 + 0.25*O12 + 1*O20 = 0.25 + 0.25 + 1 = 1.5
  // Expected E_ij = r_i c_j / 8: sum w E = [0.25*(3*2) + 0.25*(2*3) + 1*(3*3) + 1*(3*3) + 0.25*(2*3) + 0.25*(3*2)] / 8
  //                                      = [1.5 + 1.5 + 9 + 9 + 1.5 + 1.5] / 8 = 24 / 8 = 3
  // kappa = 1 - 1.5 / 3 = 0.5
  // accuracy = trace / n = 5/8; F1_c = 2TP/(truth_c + pred_c): 4/6, 2/4, 4/6 -> macro (2/3 + 1/2 + 2/3)/3 = 11/18
  const O = [[2, 1, 0], [0, 1, 1], [1, 0, 2]];
  const { t, p } = labelsFrom(O);
  assert.deepEqual(confusionMatrix(t, p, 3), O);
  close(quadraticWeightedKappa(t, p, 3), 0.5);
  close(accuracy(t, p), 5 / 8);
  close(macroF1(t, p, 3), 11 / 18);
  assert.deepEqual(perClassRecallFromConfusion(O), [2 / 3, 1 / 2, 2 / 3]);
});

test('5-class hand-worked case with an absent class (3) excluded from macro-F1', () => {
  const t = [0, 0, 0, 0, 1, 2, 2, 4];
  const p = [0, 0, 0, 1, 1, 2, 4, 4];
  // Off-diagonal cells: (0,1) once, (2,4) once. w_ij = (i-j)^2/16 -> observed = 1/16 + 4/16 = 5/16.
  // r = [4,1,2,0,1], c = [3,2,1,0,2]; sum_ij (i-j)^2 r_i c_j:
  //   i=0: 4*(1*2 + 4*1 + 16*2) = 4*38 = 152;  i=1: 1*(1*3 + 1*1 + 9*2) = 22
  //   i=2: 2*(4*3 + 1*2 + 4*2) = 44;           i=4: 1*(16*3 + 9*2 + 4*1) = 70      total 288
  // expected = 288 / (16 * 8) = 2.25 -> kappa = 1 - (5/16)/2.25 = 1 - 5/36 = 31/36
  close(quadraticWeightedKappa(t, p), 31 / 36);
  // F1: c0 2*3/(4+3) = 6/7, c1 2/(1+2) = 2/3, c2 2/(2+1) = 2/3, c4 2/(1+2) = 2/3, c3 absent -> (6/7 + 2)/4 = 5/7
  close(macroF1(t, p), 5 / 7);
  const g = gradingMetrics(t, p);
  assert.deepEqual(g.perGradeRecall, [3 / 4, 1, 1 / 2, null, 1]);
  assert.equal(g.n, 8);
  close(g.accuracy, 6 / 8);
  // Majority = 0: accuracy 4/8; kappa 0 (constant predictor: O = E); F1 c0 = 2*4/(4+8) = 2/3, c1,c2,c4 = 0 -> 1/6
  assert.equal(g.majorityBaseline.majorityClass, 0);
  close(g.majorityBaseline.accuracy, 0.5);
  close(g.majorityBaseline.kappa, 0);
  close(g.majorityBaseline.macroF1, 1 / 6);
});

test('majority baseline: ties take the lowest class; a given training majority is used', () => {
  assert.equal(majorityBaseline([2, 1, 2, 1], 5).majorityClass, 1);
  const b = majorityBaseline([0, 0, 1, 1], 5, 1);
  assert.equal(b.majorityClass, 1);
  close(b.accuracy, 0.5);
});

test('kappa edge cases: perfect = 1, undefined (single shared class) = NaN', () => {
  assert.equal(quadraticWeightedKappa([0, 1, 4], [0, 1, 4]), 1);
  assert.ok(Number.isNaN(quadraticWeightedKappaFromConfusion([[3, 0], [0, 0]])));
});

test('argmaxRows picks the first index among ties', () => {
  assert.deepEqual(Array.from(argmaxRows(new Float32Array([0.1, 0.9, 0.5, 0.5, 0, 0.2]), 2)), [1, 0, 1]);
});

test('bad labels give precise errors', () => {
  assert.throws(() => confusionMatrix([0, 5], [0, 1], 5), /truth\[1\]=5, expected an integer class in \[0, 4\]/);
  assert.throws(() => confusionMatrix([0], [0, 1], 5), /truth has 1 labels, prediction has 2/);
  assert.throws(() => confusionMatrix([0], [1.5], 5), /prediction\[0\]=1.5/);
});
