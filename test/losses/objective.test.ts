// The Objective: weighted sum of named parts, weight 0 skips, null inputs skip, config validation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor, tidy } from '../../src/tensor/index.js';
import { Objective, resolveObjectiveConfig, infoNce, gradeCrossEntropy, maskedPatchMse } from '../../src/losses/index.js';
import type { Batch, ModelOutput } from '../../src/models/types.js';

const F64 = (v: number[], shape: number[]): Tensor => Tensor.from(Float64Array.from(v), shape, 'float64');
const I64 = (v: number[]): Tensor => Tensor.from(BigInt64Array.from(v.map(BigInt)), [v.length], 'int64');
const close = (a: number, b: number, tol = 1e-12): void => assert.ok(Math.abs(a - b) <= tol, `${a} != ${b}`);

function fixture(): { out: ModelOutput; batch: Batch } {
  const img = F64([1, 0, 0.6, 0.8], [2, 2]);
  const txt = F64([0.8, 0.6, 0, 1], [2, 2]);
  const tab = F64([0, 1, 1, 0], [2, 2]);
  const out: ModelOutput = {
    imageEmb: img, textEmb: txt, tabEmb: tab, logitScale: Tensor.scalar(Math.log(3), 'float64'), fused: null,
    icdrLogits: F64([1, 0, 0, 0, 0, 0, 2, 0, 0, 0], [2, 5]), sdrgLogits: F64([0, 0, 0, 0, 1, 0, 0, 0, 0, 0], [2, 5]),
    mae: { pred: F64([1, 1, 2, 2], [2, 1, 2]), target: Tensor.zeros([2, 1, 2], 'float64'), mask: F64([1, 0], [2, 1]) },
    mlm: null, imageIcdrLogits: null, imageSdrgLogits: null,
  };
  const batch: Batch = {
    images: null, tokenIds: null, attentionMask: null, tabular: null, icdr: I64([0, 1]), sdrg: I64([-100, -100]),
    present: Tensor.ones([2, 3], 'bool'), noteGroup: Int32Array.from([0, 1]), size: 2,
  };
  return { out, batch };
}

test('total = sum of weight * part; parts are unweighted; unsupported parts skipped', () => tidy(() => {
  const { out, batch } = fixture();
  const obj = new Objective({ weights: { imageText: 2, textTabular: 0, icdr: 0.5 } });
  const { total, parts } = obj.compute(out, batch);
  const it = infoNce(out.imageEmb!, out.textEmb!, out.logitScale, batch.noteGroup).item();
  const ia = infoNce(out.imageEmb!, out.tabEmb!, out.logitScale, batch.noteGroup).item();
  const mae = maskedPatchMse(out.mae!)!.item();
  const icdr = gradeCrossEntropy(out.icdrLogits!, batch.icdr!)!.item();
  // textTabular: weight 0 (skipped); mlm: null output; sdrg: all grades unknown
  assert.deepEqual(Object.keys(parts), ['imageText', 'imageTabular', 'mae', 'icdr']);
  close(parts['imageText']!, it); close(parts['imageTabular']!, ia); close(parts['mae']!, 1); close(parts['icdr']!, icdr);
  close(total.item(), 2 * it + ia + mae + 0.5 * icdr);
  assert.equal(mae, 1);
}));

test('the image-only grade parts read the image heads, with the same class weights as the fused heads', () => tidy(() => {
  const { out, batch } = fixture();
  const imageIcdr = F64([0, 3, 0, 0, 0, 1, 0, 0, 0, 0], [2, 5]);
  const withImage = { ...out, imageIcdrLogits: imageIcdr, imageSdrgLogits: F64([0, 0, 0, 0, 0, 0, 0, 0, 0, 0], [2, 5]) };
  const w = [1, 2, 1, 1, 1];
  const obj = new Objective({ weights: { imageText: 0, imageTabular: 0, textTabular: 0, mae: 0, icdr: 1, icdrImage: 0.5, sdrgImage: 1 }, icdrClassWeights: w });
  const { total, parts } = obj.compute(withImage, batch);
  const want = gradeCrossEntropy(imageIcdr, batch.icdr!, { classWeights: w })!.item();
  const fused = gradeCrossEntropy(out.icdrLogits!, batch.icdr!, { classWeights: w })!.item();
  assert.deepEqual(Object.keys(parts), ['icdr', 'icdrImage']); // sdrgImage: every SDRG grade unknown in the fixture
  close(parts['icdrImage']!, want);
  close(total.item(), fused + 0.5 * want);
  // Off by default in a bare Objective (a run config turns them on for models with heads).
  assert.equal(new Objective().config.weights.icdrImage, 0);
}));

test('no computable part gives a constant 0 total and empty parts', () => tidy(() => {
  const { out, batch } = fixture();
  const obj = new Objective({ weights: { imageText: 0, imageTabular: 0, textTabular: 0, mae: 0, icdr: 0 } });
  const r = obj.compute(out, batch);
  assert.deepEqual(r.parts, {});
  assert.equal(r.total.item(), 0);
  assert.equal(r.total.requiresGrad, false);
}));

test('forwardOptions switches off MAE / MLM branches whose weight is 0', () => {
  const r = { maeMaskRatio: 0.75, mlmProb: 0.15 };
  assert.deepEqual(new Objective().forwardOptions(true, r), { training: true, reconFraction: 1, maeMaskRatio: 0.75, mlmProb: 0.15 });
  assert.deepEqual(new Objective({ weights: { mae: 0 } }).forwardOptions(false, r), { training: false, reconFraction: 1, maeMaskRatio: 0, mlmProb: 0.15 });
  assert.equal(new Objective().forwardOptions(true, { ...r, reconFraction: 0.25 }).reconFraction, 0.25);
  assert.deepEqual(new Objective({ weights: { mae: 0, mlm: 0 } }).activeParts, ['imageText', 'imageTabular', 'textTabular', 'icdr', 'sdrg']);
});

test('config validation names the key and the valid ones', () => {
  assert.throws(() => resolveObjectiveConfig({ weight: {} }), /objective config: unknown key 'weight'; valid keys: weights, labelSmoothing, icdrClassWeights, sdrgClassWeights/);
  assert.throws(() => resolveObjectiveConfig({ weights: { itc: 1 } }), /unknown key 'weights\.itc'; valid keys of 'weights': imageText, imageTabular/);
  assert.throws(() => resolveObjectiveConfig({ weights: { mae: -1 } }), /'weights\.mae' must be a number >= 0, got -1/);
  assert.throws(() => resolveObjectiveConfig({ labelSmoothing: 1 }), /'labelSmoothing' must be a number in \[0, 1\), got 1/);
  assert.throws(() => resolveObjectiveConfig({ icdrClassWeights: [1, 2] }), /'icdrClassWeights' must be a list of 5 numbers >= 0, got \[1,2\]/);
  assert.throws(() => resolveObjectiveConfig({ icdrClassWeights: [1, 1, 1, 1, -1] }), /'icdrClassWeights\[4\]' must be a number >= 0, got -1/);
  const c = resolveObjectiveConfig({ weights: { mlm: 0.5 }, icdrClassWeights: [1, 1, 1, 1, 1] });
  assert.equal(c.weights.mlm, 0.5);
  assert.equal(c.weights.imageText, 1);
  assert.deepEqual(c.icdrClassWeights, [1, 1, 1, 1, 1]);
});
