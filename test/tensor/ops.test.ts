// Exact numeric fixtures for every op of the Tensor API (values worked out by hand).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  Tensor, where, tidy, linear, conv2d, layerNorm, groupNorm, dropout, embedding, crossEntropy, mseLoss, cat, stack, oneHot,
} from '../../src/tensor/index.js';

const close = (a: ArrayLike<number>, b: readonly number[], tol = 1e-5): void => {
  assert.equal(a.length, b.length, `length ${a.length} vs ${b.length}`);
  for (let i = 0; i < b.length; i++) {
    assert.ok(Math.abs((a[i] as number) - (b[i] as number)) <= tol, `index ${i}: ${a[i]} vs ${b[i]}`);
  }
};
const T = (v: number[], s?: number[]): Tensor => Tensor.from(v, s);
const L = (v: number[]): Tensor => Tensor.from(BigInt64Array.from(v.map(BigInt)));

test('creation and export for every dtype', () => tidy(() => {
  assert.deepEqual(Array.from(Tensor.from(new Float64Array([1.5, -2])).toArray() as Float64Array), [1.5, -2]);
  assert.deepEqual(Array.from(Tensor.from(new Int32Array([3, -4])).toArray() as Int32Array), [3, -4]);
  assert.deepEqual(Array.from(Tensor.from(new BigInt64Array([5n, -6n])).toArray() as BigInt64Array), [5n, -6n]);
  assert.deepEqual(Array.from(Tensor.from([true, false, true]).toArray() as Uint8Array), [1, 0, 1]);
  assert.equal(Tensor.from([true]).dtype, 'bool');
  assert.deepEqual(Tensor.zeros([2, 3]).shape, [2, 3]);
  close(Tensor.ones([2], 'float64').toArray() as Float64Array, [1, 1]);
  close(Tensor.full([2], 7).toArray() as Float32Array, [7, 7]);
  close(Tensor.arange(0, 5).toArray() as Float32Array, [0, 1, 2, 3, 4]);
  close(Tensor.arange(1, 2, 0.25).toArray() as Float32Array, [1, 1.25, 1.5, 1.75]);
  const r = Tensor.rand([1000]).toFloat32();
  assert.ok(r.every((x) => x >= 0 && x < 1));
  assert.equal(Tensor.randn([4, 5]).numel, 20);
  assert.deepEqual([...Tensor.randperm(5).toNumbers()].sort(), [0, 1, 2, 3, 4]);
  assert.throws(() => Tensor.from([1, 2, 3], [2, 2]), /needs 4 elements, got 3/);
}));

test('dtype conversion including bfloat16 and float16', () => tidy(() => {
  const x = T([1, 0.5, -3, 1 / 3]);
  const bf = x.to('bfloat16');
  assert.equal(bf.dtype, 'bfloat16');
  // bfloat16 keeps 8 mantissa bits: 1/3 -> 0.333984375
  close(bf.toFloat32(), [1, 0.5, -3, 0.333984375], 0);
  close(x.to('float16').toFloat32(), [1, 0.5, -3, 0.333251953125], 0);
  assert.equal(x.to('float64').dtype, 'float64');
  assert.deepEqual(x.to('int64').toNumbers(), [1, 0, -3, 0]);
  assert.equal(x.to('cpu').device, 'cpu');
}));

test('elementwise arithmetic with broadcasting and scalars', () => tidy(() => {
  const a = T([1, 2, 3, 4], [2, 2]);
  const b = T([10, 20], [1, 2]);
  close(a.add(b).toFloat32(), [11, 22, 13, 24]);
  close(a.sub(b).toFloat32(), [-9, -18, -7, -16]);
  close(a.mul(b).toFloat32(), [10, 40, 30, 80]);
  close(a.div(2).toFloat32(), [0.5, 1, 1.5, 2]);
  close(a.pow(2).toFloat32(), [1, 4, 9, 16]);
  close(a.neg().toFloat32(), [-1, -2, -3, -4]);
  close(T([0, 1]).exp().toFloat32(), [1, Math.E]);
  close(T([1, Math.E]).log().toFloat32(), [0, 1]);
  close(T([4, 9]).sqrt().toFloat32(), [2, 3]);
  close(T([4, 16]).rsqrt().toFloat32(), [0.5, 0.25]);
  close(T([-2, 3]).abs().toFloat32(), [2, 3]);
  close(T([0, 1]).tanh().toFloat32(), [0, Math.tanh(1)]);
  close(T([0, 1]).erf().toFloat32(), [0, 0.8427007929]);
  close(T([0]).sigmoid().toFloat32(), [0.5]);
  close(T([-1, 2]).relu().toFloat32(), [0, 2]);
  close(T([0]).sin().toFloat32(), [0]);
  close(T([0]).cos().toFloat32(), [1]);
  // gelu(1) = 1 * Phi(1) = 0.8413447; tanh approximation 0.8411920
  close(T([1, 0]).gelu().toFloat32(), [0.8413447, 0]);
  close(T([1]).gelu('tanh').toFloat32(), [0.841192], 1e-5);
  close(T([1, 5, 3]).maximum(T([2, 4, 3])).toFloat32(), [2, 5, 3]);
  close(T([1, 5, 3]).minimum(2).toFloat32(), [1, 2, 2]);
  close(T([-5, 0.5, 5]).clamp(-1, 1).toFloat32(), [-1, 0.5, 1]);
  close(T([-5, 0.5]).clamp(0).toFloat32(), [0, 0.5]);
}));

test('comparisons, logical ops, where, maskedFill, isfinite', () => tidy(() => {
  const a = T([1, 2, 3]);
  assert.deepEqual(a.eq(2).toNumbers(), [0, 1, 0]);
  assert.deepEqual(a.ne(2).toNumbers(), [1, 0, 1]);
  assert.deepEqual(a.lt(2).toNumbers(), [1, 0, 0]);
  assert.deepEqual(a.le(2).toNumbers(), [1, 1, 0]);
  assert.deepEqual(a.gt(T([0, 5, 3])).toNumbers(), [1, 0, 0]);
  assert.deepEqual(a.ge(2).toNumbers(), [0, 1, 1]);
  assert.deepEqual(a.gt(1).logicalAnd(a.lt(3)).toNumbers(), [0, 1, 0]);
  assert.deepEqual(a.lt(2).logicalOr(a.gt(2)).toNumbers(), [1, 0, 1]);
  assert.deepEqual(a.eq(2).logicalNot().toNumbers(), [1, 0, 1]);
  close(where(a.gt(1), a, 0).toFloat32(), [0, 2, 3]);
  close(where(a.gt(1), -1, a).toFloat32(), [1, -1, -1]);
  close(a.maskedFill(a.eq(3), -9).toFloat32(), [1, 2, -9]);
  assert.deepEqual(T([1, Infinity, NaN]).isfinite().toNumbers(), [1, 0, 0]);
}));

test('matmul, bmm, linear, conv2d', () => tidy(() => {
  const a = T([1, 2, 3, 4, 5, 6], [2, 3]);
  const b = T([1, 0, 0, 1, 1, 1], [3, 2]);
  close(a.matmul(b).toFloat32(), [4, 5, 10, 11]);
  close(T([1, 2, 3, 4], [1, 2, 2]).bmm(T([1, 1, 1, 1], [1, 2, 2])).toFloat32(), [3, 3, 7, 7]);
  // linear: x (1,3) @ W^T (3,2) + b
  close(linear(T([1, 2, 3], [1, 3]), T([1, 0, 0, 0, 1, 1], [2, 3]), T([0.5, -1])).toFloat32(), [1.5, 4]);
  close(linear(T([1, 2, 3], [1, 3]), T([1, 1, 1], [1, 3])).toFloat32(), [6]);
  // conv2d: 1x1x3x3 input, 2x2 all-ones kernel, stride 1 -> sums of 2x2 windows
  const x = T([1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 1, 3, 3]);
  close(conv2d(x, Tensor.ones([1, 1, 2, 2]), null).toFloat32(), [12, 16, 24, 28]);
  close(conv2d(x, Tensor.ones([1, 1, 2, 2]), T([1]), 2, 1).toFloat32(), [2, 6, 12, 29]);
}));

test('shape ops', () => tidy(() => {
  const a = T([1, 2, 3, 4, 5, 6], [2, 3]);
  assert.deepEqual(a.reshape([3, 2]).shape, [3, 2]);
  assert.deepEqual(a.view([6]).shape, [6]);
  close(a.transpose(0, 1).contiguous().toFloat32(), [1, 4, 2, 5, 3, 6]);
  close(a.permute([1, 0]).toFloat32(), [1, 4, 2, 5, 3, 6]);
  assert.deepEqual(a.unsqueeze(0).shape, [1, 2, 3]);
  assert.deepEqual(a.unsqueeze(0).squeeze(0).shape, [2, 3]);
  assert.deepEqual(a.reshape([1, 6, 1]).squeeze().shape, [6]);
  close(T([1, 2], [2, 1]).expand([2, 3]).toFloat32(), [1, 1, 1, 2, 2, 2]);
  assert.deepEqual(a.reshape([1, 2, 3]).flatten(1).shape, [1, 6]);
  close(a.narrow(1, 1, 2).toFloat32(), [2, 3, 5, 6]);
  // select = narrow + squeeze (x[:, 0] is x.select(1, 0)); negative dims and indices count from the end
  close(a.select(1, 0).toFloat32(), [1, 4]);
  close(a.select(0, -1).toFloat32(), [4, 5, 6]);
  assert.deepEqual(a.select(-1, 2).shape, [2]);
  assert.throws(() => a.select(1, 3), /select: index 3 is out of range for dim 1 of size 3 \(shape \[2, 3\]\)/);
  // size(dim) and sizes(rank): typed, checked shape access
  assert.equal(a.size(0), 2);
  assert.equal(a.size(-1), 3);
  assert.throws(() => a.size(2), /size: dim 2 is out of range for shape \[2, 3\]/);
  const [rows, cols] = a.sizes(2);
  assert.deepEqual([rows, cols], [2, 3]);
  assert.throws(() => a.sizes(3), /sizes: expected a rank-3 tensor, got shape \[2, 3\]/);
  assert.equal(a.device, 'cpu');
  const parts = a.split(1, 1);
  assert.equal(parts.length, 3);
  close(parts[2]!.toFloat32(), [3, 6]);
  const uneven = a.split([1, 2], 1);
  close(uneven[1]!.toFloat32(), [2, 3, 5, 6]);
  close(a.indexSelect(1, L([2, 0])).toFloat32(), [3, 1, 6, 4]);
  close(a.gather(1, Tensor.from(new BigInt64Array([2n, 0n]), [2, 1])).toFloat32(), [3, 4]);
  close(cat([a, T([7, 8, 9], [1, 3])], 0).toFloat32(), [1, 2, 3, 4, 5, 6, 7, 8, 9]);
  close(cat([a, T([7, 8], [2, 1])], -1).toFloat32(), [1, 2, 3, 7, 4, 5, 6, 8]);
  assert.deepEqual(stack([T([1, 2]), T([3, 4])], 1).shape, [2, 2]);
  close(stack([T([1, 2]), T([3, 4])], 1).toFloat32(), [1, 3, 2, 4]);
  assert.deepEqual(oneHot(L([0, 2]), 3).toNumbers(), [1, 0, 0, 0, 0, 1]);
  close(embedding(T([0, 0, 1, 1, 2, 2], [3, 2]), L([2, 0])).toFloat32(), [2, 2, 0, 0]);
}));

test('reductions', () => tidy(() => {
  const a = T([1, 5, 3, 4, 2, 6], [2, 3]);
  close(a.sum().toFloat32(), [21]);
  close(a.sum(1).toFloat32(), [9, 12]);
  assert.deepEqual(a.sum(0, true).shape, [1, 3]);
  close(a.mean().toFloat32(), [3.5]);
  close(a.mean([0]).toFloat32(), [2.5, 3.5, 4.5]);
  assert.equal(a.max().item(), 6);
  assert.equal(a.min().item(), 1);
  const m = a.maxDim(1);
  close(m.values.toFloat32(), [5, 6]);
  assert.deepEqual(m.indices.toNumbers(), [1, 2]);
  assert.deepEqual(a.minDim(0).indices.toNumbers(), [0, 1, 0]);
  assert.deepEqual(a.argmax(1).toNumbers(), [1, 2]);
  assert.equal(a.argmax().item(), 5);
  const k = a.topk(2, 1);
  close(k.values.toFloat32(), [5, 3, 6, 4]);
  assert.deepEqual(k.indices.toNumbers(), [1, 2, 2, 0]);
  assert.deepEqual(a.topk(1, 1, false).indices.toNumbers(), [0, 1]);
  assert.deepEqual(a.sort(1).indices.toNumbers(), [0, 2, 1, 1, 0, 2]);
  close(T([3, 4]).norm().toFloat32(), [5]);
  close(T([3, 4, 6, 8], [2, 2]).norm(2, 1).toFloat32(), [5, 10]);
  close(T([3, 4, 1, 0], [2, 2]).normalize(2, 1).toFloat32(), [0.6, 0.8, 1, 0]);
  close(T([0, 0], [1, 2]).logsumexp(1).toFloat32(), [Math.log(2)]);
}));

test('softmax, logSoftmax, layerNorm, dropout', () => tidy(() => {
  const x = T([0, Math.log(3)], [1, 2]);
  close(x.softmax(-1).toFloat32(), [0.25, 0.75]);
  close(x.logSoftmax(-1).toFloat32(), [Math.log(0.25), Math.log(0.75)]);
  // layerNorm of [1, 2, 3]: mean 2, var 2/3 -> [-1.2247, 0, 1.2247]
  close(layerNorm(T([1, 2, 3], [1, 3]), [3], null, null, 0).toFloat32(), [-1.2247449, 0, 1.2247449]);
  close(layerNorm(T([1, 2, 3], [1, 3]), [3], T([2, 2, 2]), T([1, 1, 1]), 0).toFloat32(), [-1.4494897, 1, 3.4494897]);
  // groupNorm, 1 sample, 4 channels of 1 pixel, 2 groups: [1, 3 | 10, 14] -> each group (-1, 1), then
  // weight (1, 2, 3, 4) and bias (0, 0, 0, 1) per channel.
  close(groupNorm(T([1, 3, 10, 14], [1, 4, 1, 1]), 2, null, null, 0).toFloat32(), [-1, 1, -1, 1]);
  close(groupNorm(T([1, 3, 10, 14], [1, 4, 1, 1]), 2, T([1, 2, 3, 4]), T([0, 0, 0, 1]), 0).toFloat32(), [-1, 2, -3, 5]);
  assert.throws(() => groupNorm(T([1, 2, 3], [1, 3, 1, 1]), 2), /groupNorm: input shape \[1, 3, 1, 1\] with 2 groups/);
  close(dropout(T([1, 2]), 0.5, false).toFloat32(), [1, 2]);
  const d = dropout(Tensor.ones([10000]), 0.5, true).toFloat32();
  assert.ok(d.every((v) => v === 0 || v === 2), 'inverted dropout scales kept values by 1/(1-p)');
  const kept = d.filter((v) => v === 2).length;
  assert.ok(kept > 4500 && kept < 5500, `kept ${kept}`);
}));

test('crossEntropy with weights, ignore index, label smoothing; mseLoss', () => tidy(() => {
  const logits = T([0, 0, Math.log(3), 0], [2, 2]);
  const target = L([0, 0]);
  // rows: p(0) = 0.5 and 0.75 -> mean(-log 0.5, -log 0.75)
  close(crossEntropy(logits, target).toFloat32(), [(Math.log(2) + Math.log(4 / 3)) / 2]);
  close(crossEntropy(logits, target, { reduction: 'none' }).toFloat32(), [Math.log(2), Math.log(4 / 3)]);
  close(crossEntropy(logits, target, { reduction: 'sum' }).toFloat32(), [Math.log(2) + Math.log(4 / 3)]);
  close(crossEntropy(logits, L([0, -100])).toFloat32(), [Math.log(2)]);
  // weighted mean: sum(w_y * l) / sum(w_y); targets 0 and 1 with weights 1 and 3
  const l0 = Math.log(2);
  const l1 = -Math.log(0.25);
  close(crossEntropy(logits, L([0, 1]), { weight: T([1, 3]) }).toFloat32(), [(l0 + 3 * l1) / 4]);
  // label smoothing 0.2 with C=2: target dist (0.9, 0.1) on row 2 only
  const row2 = -(0.9 * Math.log(0.75) + 0.1 * Math.log(0.25));
  close(crossEntropy(T([Math.log(3), 0], [1, 2]), L([0]), { labelSmoothing: 0.2 }).toFloat32(), [row2]);
  close(mseLoss(T([1, 2]), T([3, 2])).toFloat32(), [2]);
  close(mseLoss(T([1, 2]), T([3, 2]), 'sum').toFloat32(), [4]);
}));

test('libtorch errors become JS errors and the process survives', () => tidy(() => {
  assert.throws(() => T([1, 2, 3, 4], [2, 2]).matmul(T([1, 2, 3], [3, 1])), /shapes cannot be multiplied \(2x2 and 3x1\)/);
  assert.throws(() => T([1, 2, 3]).add(T([1, 2])), /size of tensor a \(3\) must match/);
  assert.throws(() => T([1, 2, 3]).reshape([2, 2]), /invalid for input of size 3/);
  assert.throws(() => T([1, 2]).to('float99' as 'float32'), /unknown device|unknown dtype/);
  const dead = T([1]);
  dead.dispose();
  assert.throws(() => dead.add(1), /disposed tensor/);
  assert.throws(() => T([1, 2]).item(), /expected 1/);
  // still alive:
  assert.equal(T([2]).mul(3).item(), 6);
}));

test('integer JS numbers keep integer tensors integral; fractional ones promote', () => tidy(() => {
  const big = Tensor.from(new BigInt64Array([16777217n]));
  assert.equal(big.add(1).dtype, 'int64');
  assert.deepEqual(big.add(1).toNumbers(), [16777218]);
  assert.equal(big.mul(0.5).dtype, 'float32');
  assert.equal(Tensor.from(new BigInt64Array([-3n, 5n])).clamp(0, 4).dtype, 'int64');
  assert.equal(where(Tensor.from([true, false]), Tensor.from(new BigInt64Array([1n, 2n])), 0).dtype, 'int64');
  assert.equal(Tensor.from([1.5]).add(1).dtype, 'float32');
}));
