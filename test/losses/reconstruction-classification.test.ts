// Masked-patch MSE, MLM and grading cross-entropies: hand values, ignore rules, class weights, gradchecks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor, tidy, gradcheck, manualSeed } from '../../src/tensor/index.js';
import { maskedPatchMse, mlmCrossEntropy, gradeCrossEntropy, inverseFrequencyWeights } from '../../src/losses/index.js';

const F64 = (v: number[], shape: number[]): Tensor => Tensor.from(Float64Array.from(v), shape, 'float64');
const I64 = (v: number[], shape: number[]): Tensor => Tensor.from(BigInt64Array.from(v.map(BigInt)), shape, 'int64');
const close = (a: number, b: number, tol = 1e-12): void => assert.ok(Math.abs(a - b) <= tol, `${a} != ${b}`);
const logSoftmax = (z: number[]): number[] => {
  const m = Math.max(...z);
  const lse = m + Math.log(z.reduce((s, v) => s + Math.exp(v - m), 0));
  return z.map((v) => v - lse);
};

test('maskedPatchMse counts masked patches only (sum / number masked)', () => tidy(() => {
  // B=1, Np=3, K=2; target 0. Per-patch MSE: (1+4)/2 = 2.5, (9+16)/2 = 12.5, (0+1)/2 = 0.5
  const pred = F64([1, 2, 3, 4, 0, 1], [1, 3, 2]);
  const target = Tensor.zeros([1, 3, 2], 'float64');
  close(maskedPatchMse({ pred, target, mask: F64([1, 0, 1], [1, 3]) })!.item(), (2.5 + 0.5) / 2);
  close(maskedPatchMse({ pred, target, mask: Tensor.from([0, 1, 0], [1, 3]) })!.item(), 12.5); // float32 mask
  assert.equal(maskedPatchMse({ pred, target, mask: Tensor.zeros([1, 3], 'float64') }), null);
  assert.throws(() => maskedPatchMse({ pred, target, mask: Tensor.zeros([1, 2]) }), /mask \[1, 2\] must be \(B, Np\) = \[1, 3\]/);
}));

test('mlmCrossEntropy ignores -100 and is null when nothing is selected', () => tidy(() => {
  const z = [[0.5, -1, 2], [1, 0, -0.5]];
  const logits = F64(z.flat(), [2, 3]); // (N, V)
  close(mlmCrossEntropy({ logits, labels: I64([-100, 2], [2]) })!.item(), -logSoftmax(z[1]!)[2]!);
  close(mlmCrossEntropy({ logits, labels: I64([1, 0], [2]) })!.item(), -(logSoftmax(z[0]!)[1]! + logSoftmax(z[1]!)[0]!) / 2);
  assert.equal(mlmCrossEntropy({ logits, labels: I64([-100, -100], [2]) }), null);
  assert.equal(mlmCrossEntropy({ logits: Tensor.zeros([0, 3], 'float64'), labels: I64([], [0]) }), null); // nothing selected
  assert.throws(() => mlmCrossEntropy({ logits: F64(z.flat(), [1, 2, 3]), labels: I64([1, 0], [1, 2]) }), /must be \(N, V\) over labels \[1, 2\] \(N\)/);
}));

test('gradeCrossEntropy: class weights (weighted mean), smoothing, unknown grades', () => tidy(() => {
  const z = [[2, 0.5, -1], [0, 1, 0.25], [1, 1, 1]];
  const logits = F64(z.flat(), [3, 3]);
  const lp = z.map(logSoftmax);
  // unweighted, row 2 unknown
  close(gradeCrossEntropy(logits, I64([0, 1, -100], [3]))!.item(), -(lp[0]![0]! + lp[1]![1]!) / 2);
  // weights [1, 3, 5]: (1 * l0 + 3 * l1) / (1 + 3)
  close(gradeCrossEntropy(logits, I64([0, 1, -100], [3]), { classWeights: [1, 3, 5] })!.item(), (-lp[0]![0]! - 3 * lp[1]![1]!) / 4);
  // smoothing 0.1: (1 - 0.1) * nll + 0.1 * mean_c(-log p_c), averaged over the 2 known rows
  const sm = (r: number, y: number): number => 0.9 * -lp[r]![y]! + 0.1 * -(lp[r]!.reduce((s, v) => s + v, 0) / 3);
  close(gradeCrossEntropy(logits, I64([0, 1, -100], [3]), { labelSmoothing: 0.1 })!.item(), (sm(0, 0) + sm(1, 1)) / 2);
  assert.equal(gradeCrossEntropy(logits, I64([-100, -100, -100], [3])), null);
  assert.throws(() => gradeCrossEntropy(logits, I64([0, 1, 2], [3]), { classWeights: [1, 2] }), /2 class weights for 3 classes/);
  // float32 logits take float64 weights (cast to the logits' dtype)
  const f32 = gradeCrossEntropy(logits.to('float32'), I64([0, 1, -100], [3]), { classWeights: [1, 3, 5] })!;
  assert.equal(f32.dtype, 'float32');
  close(f32.item(), (-lp[0]![0]! - 3 * lp[1]![1]!) / 4, 1e-6);
}));

test("gradeCrossEntropy weighting 'exam': each exam's whole smoothed loss times its own grade's weight; 'class' weights the smoothing per class", () => tidy(() => {
  const z = [[2, 0.5, -1], [0, 1, 0.25], [1, 1, 1]];
  const logits = F64(z.flat(), [3, 3]);
  const lp = z.map(logSoftmax);
  const w = [1, 3, 5];
  const labels = I64([0, 1, -100], [3]);
  // exam: (1 * sm(0, 0) + 3 * sm(1, 1)) / (1 + 3), sm = (1 - e) * nll + e * mean_c(-log p_c)
  const sm = (r: number, y: number): number => 0.9 * -lp[r]![y]! + 0.1 * -(lp[r]!.reduce((s, v) => s + v, 0) / 3);
  close(gradeCrossEntropy(logits, labels, { classWeights: w, labelSmoothing: 0.1, weighting: 'exam' })!.item(), (sm(0, 0) + 3 * sm(1, 1)) / 4);
  // class (PyTorch): the smoothing term sums w_c * (-log p_c) / C; normalized by sum w_y
  const cl = (r: number, y: number): number => 0.9 * w[y]! * -lp[r]![y]! + 0.1 * lp[r]!.reduce((s, v, c) => s - w[c]! * v, 0) / 3;
  close(gradeCrossEntropy(logits, labels, { classWeights: w, labelSmoothing: 0.1 })!.item(), (cl(0, 0) + cl(1, 1)) / 4);
  // without smoothing the two agree
  close(gradeCrossEntropy(logits, labels, { classWeights: w, weighting: 'exam' })!.item(), (-lp[0]![0]! - 3 * lp[1]![1]!) / 4);
}));

test('inverseFrequencyWeights: 1 / count, mean 1 over present classes, absent classes 0', () => {
  assert.deepEqual(inverseFrequencyWeights([0, 0, 0, 1], 2), [0.5, 1.5]);
  // counts [2, 0, 1] (-100 skipped): raw [1/2, 0, 1], mean over 2 present = 3/4
  const w = inverseFrequencyWeights(BigInt64Array.from([0n, 0n, 2n, -100n]), 3);
  close(w[0]!, 2 / 3); assert.equal(w[1], 0); close(w[2]!, 4 / 3);
  // BRSET-like skew: 93 / 4 / 3 over classes 0..2
  const labels = [...new Array(93).fill(0), ...new Array(4).fill(1), ...new Array(3).fill(2)];
  const s = inverseFrequencyWeights(labels, 3);
  close(s.reduce((a, b) => a + b, 0) / 3, 1);
  close(s[1]! / s[0]!, 93 / 4);
  assert.throws(() => inverseFrequencyWeights([0, 5], 5), /label 5 at index 1 is outside 0\.\.4/);
  assert.throws(() => inverseFrequencyWeights([-100], 5), /no known labels/);
});

test('gradcheck float64: masked-patch MSE, MLM and weighted + smoothed grading CE', () => tidy(() => {
  manualSeed(5);
  const tol = 1e-7;
  const mask = F64([1, 0, 1, 1, 0, 0], [2, 3]);
  const target = Tensor.randn([2, 3, 4], 'float64');
  let r = gradcheck((p) => maskedPatchMse({ pred: p, target, mask })!, [Tensor.randn([2, 3, 4], 'float64')]);
  assert.ok(r.maxRelErr < tol, `mae ${r.maxRelErr}`);
  const labels = I64([-100, 3, 0, -100], [4]);
  r = gradcheck((z) => mlmCrossEntropy({ logits: z, labels })!, [Tensor.randn([4, 5], 'float64')]);
  assert.ok(r.maxRelErr < tol, `mlm ${r.maxRelErr}`);
  const grades = I64([0, 4, -100, 2], [4]);
  r = gradcheck((z) => gradeCrossEntropy(z, grades, { classWeights: [0.5, 1, 1, 2, 0.5], labelSmoothing: 0.1 })!, [Tensor.randn([4, 5], 'float64')]);
  assert.ok(r.maxRelErr < tol, `grade ${r.maxRelErr}`);
}));
