import { test } from 'node:test';
import assert from 'node:assert/strict';
import { expectedCalibrationError, calibrationFromProbs, softmaxRows, nllAtTemperature, fitTemperature } from '../../src/eval/metrics/calibration.js';
import { Rng } from '../../src/data/rng.js';

const close = (a: number, b: number, eps = 1e-12): void => assert.ok(Math.abs(a - b) < eps, `${a} != ${b}`);

test('hand-computed ECE with two bins', () => {
  // bins (0,.5] and (.5,1]. conf .2 (wrong), .4 (right) -> bin0 conf .3 acc .5; conf .9,.9,.6 with 1,0,1 -> bin1 conf .8 acc 2/3
  // ECE = 2/5*|.5-.3| + 3/5*|2/3-.8| = .08 + .08 = .16
  const r = expectedCalibrationError([0.2, 0.4, 0.9, 0.9, 0.6], [0, 1, 1, 0, 1], 2);
  close(r.ece, 0.16, 1e-12);
  assert.equal(r.bins.length, 2);
  assert.equal(r.bins[0]!.count, 2);
  close(r.bins[0]!.meanConfidence, 0.3);
  close(r.bins[1]!.accuracy, 2 / 3);
  // Bin edges: 0.5 belongs to (0, .5], 0 to the first bin, 1 to the last.
  const e = expectedCalibrationError([0, 0.5, 1], [1, 1, 1], 2);
  assert.deepEqual(e.bins.map((b) => b.count), [2, 1]);
});

test('15 bins by default; empty bins are NaN and skipped', () => {
  const r = expectedCalibrationError([0.95], [1]);
  assert.equal(r.bins.length, 15);
  assert.ok(Number.isNaN(r.bins[0]!.accuracy));
  close(r.ece, 0.05, 1e-12);
  assert.throws(() => expectedCalibrationError([1.2], [1]), /confidence\[0\]=1.2/);
});

test('calibrationFromProbs uses the top label', () => {
  // rows: argmax 1 (conf .7, truth 1 -> right), argmax 0 (conf .6, truth 1 -> wrong); 1 bin: |.5 - .65| = .15
  const r = calibrationFromProbs([0.3, 0.7, 0.6, 0.4], [1, 1], 2, 1);
  close(r.ece, 0.15, 1e-12);
});

test('softmax and NLL', () => {
  const s = softmaxRows([0, 0, 1000, 0], 2);
  assert.deepEqual(Array.from(s), [0.5, 0.5, 1, 0]);
  close(nllAtTemperature([0, 0], [0], 2, 1), Math.log(2));
  close(nllAtTemperature([2, 0], [1], 2, 2), Math.log(1 + Math.E)); // logits/2 = (1,0): -log(1/(e+1))
});

test('fitTemperature recovers a known temperature on synthetic logits', () => {
  const rng = new Rng(5);
  const n = 3000;
  const k = 5;
  const T0 = 2.5;
  const logits = new Float64Array(n * k);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const z = Array.from({ length: k }, () => 1.5 * rng.normal());
    const p = softmaxRows(z, k);
    labels[i] = rng.weighted(Array.from(p));
    for (let c = 0; c < k; c++) logits[i * k + c] = z[c]! * T0; // over-confident by T0
  }
  const fit = fitTemperature(logits, labels, k);
  assert.ok(Math.abs(fit.temperature / T0 - 1) < 0.08, `fitted T = ${fit.temperature}, expected ~${T0}`);
  assert.ok(fit.nllAfter < fit.nllBefore);
  // It is a minimum: nudging T either way does not lower the NLL.
  assert.ok(nllAtTemperature(logits, labels, k, fit.temperature * 1.01) >= fit.nllAfter);
  assert.ok(nllAtTemperature(logits, labels, k, fit.temperature / 1.01) >= fit.nllAfter);
  assert.throws(() => fitTemperature([0, 0], [2], 2), /labels\[0\]=2/);
});
