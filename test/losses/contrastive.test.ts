// InfoNCE: hand-computed values, duplicate-note masking, the logit-scale cap, float64 gradient checks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor, tidy, gradcheck, manualSeed } from '../../src/tensor/index.js';
import { infoNce, sameNoteMask, contrastiveLosses } from '../../src/losses/index.js';
import type { Batch, ModelOutput } from '../../src/models/types.js';

const F64 = (v: number[], shape: number[]): Tensor => Tensor.from(Float64Array.from(v), shape, 'float64');
const close = (a: number, b: number, tol = 1e-12): void => assert.ok(Math.abs(a - b) <= tol, `${a} != ${b}`);

/** Reference in plain numbers: row i of the logit matrix keeps j == i and every j of another note. */
function reference(a: number[][], b: number[][], scale: number, groups: number[] | null): number {
  const n = a.length;
  const dot = (x: number[], y: number[]): number => x.reduce((s, v, k) => s + v * (y[k] as number), 0);
  const L = a.map((ai) => b.map((bj) => scale * dot(ai, bj)));
  const keep = (i: number, j: number): boolean => i === j || groups === null || groups[i] !== groups[j];
  let rows = 0;
  let cols = 0;
  for (let i = 0; i < n; i++) {
    let sr = 0;
    let sc = 0;
    for (let j = 0; j < n; j++) {
      if (!keep(i, j)) continue;
      sr += Math.exp(L[i]![j]!);
      sc += Math.exp(L[j]![i]!);
    }
    rows += Math.log(sr) - L[i]![i]!;
    cols += Math.log(sc) - L[i]![i]!;
  }
  return (rows / n + cols / n) / 2;
}

test('InfoNCE on 2x2 with known logits [[10, 6], [0, 8]]', () => tidy(() => {
  // a = I, b = [[1, 0], [0.6, 0.8]], scale = exp(ln 10) = 10 -> logits [[10, 6], [0, 8]]
  const a = F64([1, 0, 0, 1], [2, 2]);
  const b = F64([1, 0, 0.6, 0.8], [2, 2]);
  const s = Tensor.scalar(Math.log(10), 'float64');
  // image->text rows: log(1 + e^-4), log(1 + e^-8); text->image rows (transpose [[10, 0], [6, 8]]): log(1 + e^-10), log(1 + e^-2)
  const want = 0.5 * (0.5 * (Math.log1p(Math.exp(-4)) + Math.log1p(Math.exp(-8))) + 0.5 * (Math.log1p(Math.exp(-10)) + Math.log1p(Math.exp(-2))));
  close(infoNce(a, b, s, null).item(), want);
  close(infoNce(a, b, s, Int32Array.from([3, 5])).item(), want); // distinct notes: no mask
  close(want, reference([[1, 0], [0, 1]], [[1, 0], [0.6, 0.8]], 10, null));
}));

test('sameNoteMask marks off-diagonal equal groups only', () => tidy(() => {
  assert.equal(sameNoteMask(Int32Array.from([1, 2, 3])), null);
  const m = sameNoteMask(Int32Array.from([4, 7, 4]))!;
  assert.deepEqual(m.shape, [3, 3]);
  assert.deepEqual(m.toNumbers(), [0, 0, 1, 0, 0, 0, 1, 0, 0]);
}));

test('identical notes are not negatives: loss as if the duplicate were absent', () => tidy(() => {
  const av = [[0.6, 0.8, 0], [0, 1, 0], [0, 0.6, 0.8]];
  const bv = [[0.8, 0.6, 0], [0, 0.8, 0.6], [0.6, 0, 0.8]];
  const a = F64(av.flat(), [3, 3]);
  const b = F64(bv.flat(), [3, 3]);
  const s = Tensor.scalar(Math.log(5), 'float64');
  const masked = infoNce(a, b, s, Int32Array.from([9, 2, 9])).item();
  close(masked, reference(av, bv, 5, [9, 2, 9]));
  assert.ok(Math.abs(masked - reference(av, bv, 5, null)) > 1e-3, 'the mask must change the loss');
  // By hand: a = b = I (3x3), scale 2, notes [0, 1, 0] -> logits 2*I (as exp: e^2 on the diagonal, 1 off it).
  // Rows/columns 0 and 2 drop their duplicate: log(e^2 + 1) - 2; row/column 1 keeps both: log(e^2 + 2) - 2.
  const eye = F64([1, 0, 0, 0, 1, 0, 0, 0, 1], [3, 3]);
  const two = Tensor.scalar(Math.log(Math.log(2)), 'float64'); // scale ln 2: diagonal e^(ln 2) = 2
  const byHand = (2 * Math.log(Math.E ** 2 + 1) + Math.log(Math.E ** 2 + 2)) / 3 - 2;
  close(infoNce(eye.mul(Math.sqrt(2)), eye.mul(Math.sqrt(2)), Tensor.scalar(0, 'float64'), Int32Array.from([0, 1, 0])).item(), byHand, 1e-12);
  close(infoNce(eye, eye, two, Int32Array.from([0, 1, 0])).item(), (2 * Math.log(3) + Math.log(4)) / 3 - Math.log(2), 1e-12);
  // Every sample with the same note: each row keeps only its diagonal, so the loss is exactly 0.
  assert.equal(infoNce(a, b, s, Int32Array.from([1, 1, 1])).item(), 0);
}));

test('logit scale is capped at 100 (no gradient beyond the cap)', () => tidy(() => {
  const a = F64([1, 0, 0, 1], [2, 2]);
  const b = F64([0.6, 0.8, 0.8, 0.6], [2, 2]);
  const big = Tensor.scalar(Math.log(1000), 'float64').requireGrad();
  close(infoNce(a, b, big, null).item(), reference([[1, 0], [0, 1]], [[0.6, 0.8], [0.8, 0.6]], 100, null));
  infoNce(a, b, big, null).backward();
  assert.equal(big.grad!.item(), 0);
}));

test('gradcheck float64: InfoNCE w.r.t. both embeddings and the logit scale, with and without the mask', () => tidy(() => {
  manualSeed(3);
  const a = Tensor.randn([4, 3], 'float64').normalize(2, 1);
  const b = Tensor.randn([4, 3], 'float64').normalize(2, 1);
  const s = Tensor.scalar(Math.log(4), 'float64');
  for (const g of [null, Int32Array.from([0, 1, 0, 0])]) {
    const r = gradcheck((x, y, z) => infoNce(x, y, z, g), [a, b, s]);
    assert.ok(r.maxRelErr < 1e-7, `max relative error ${r.maxRelErr}`);
  }
}));

test('contrastiveLosses skips pairs with a null side', () => tidy(() => {
  const e = F64([1, 0, 0, 1], [2, 2]);
  const out = { imageEmb: e, textEmb: e, tabEmb: null, logitScale: Tensor.scalar(0, 'float64') } as unknown as ModelOutput;
  const batch = { noteGroup: Int32Array.from([0, 1]) } as unknown as Batch;
  const parts = contrastiveLosses(out, batch);
  assert.deepEqual(Object.keys(parts), ['imageText']);
  close(parts.imageText!.item(), reference([[1, 0], [0, 1]], [[1, 0], [0, 1]], 1, null));
}));

test('shape errors name both shapes', () => tidy(() => {
  assert.throws(() => infoNce(Tensor.zeros([2, 3]), Tensor.zeros([3, 3]), Tensor.scalar(0), null), /\[2, 3\] and \[3, 3\]/);
  assert.throws(() => infoNce(Tensor.zeros([2, 3]), Tensor.zeros([2, 3]), Tensor.scalar(0), Int32Array.from([1])), /1 entries for a batch of 2/);
}));
