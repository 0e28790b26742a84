// Float64 finite-difference gradient checks for every differentiable op, plus autograd plumbing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  Tensor, where, tidy, noGrad, isGradEnabled, gradcheck, manualSeed, linear, conv2d, layerNorm, groupNorm, embedding,
  crossEntropy, mseLoss, cat, stack,
} from '../../src/tensor/index.js';

const D = (shape: number[], lo = -1, hi = 1): Tensor => Tensor.rand(shape, 'float64').mul(hi - lo).add(lo);
const L = (v: number[]): Tensor => Tensor.from(BigInt64Array.from(v.map(BigInt)));
const TOL = 1e-6;

function check(name: string, f: (...xs: Tensor[]) => Tensor, inputs: () => Tensor[]): void {
  test(`gradcheck: ${name}`, () => tidy(() => {
    manualSeed(11);
    const r = gradcheck(f, inputs());
    assert.ok(r.maxRelErr < TOL, `${name}: max relative error ${r.maxRelErr}`);
  }));
}

check('add/sub/mul/div broadcast', (a, b) => a.add(b).mul(a).sub(b.div(a.add(3))).sum(), () => [D([2, 3]), D([1, 3])]);
check('pow', (a) => a.add(2).pow(3).sum(), () => [D([4])]);
check('pow tensor exponent', (a, b) => a.add(2).pow(b).sum(), () => [D([4]), D([4])]);
check('exp/log/sqrt/rsqrt', (a) => a.exp().add(a.add(2).log()).add(a.add(2).sqrt()).add(a.add(2).rsqrt()).sum(), () => [D([5])]);
check('tanh/erf/sigmoid/sin/cos', (a) => a.tanh().add(a.erf()).add(a.sigmoid()).add(a.sin()).mul(a.cos()).sum(), () => [D([5])]);
check('gelu erf and tanh', (a) => a.gelu().add(a.gelu('tanh')).sum(), () => [D([6], -3, 3)]);
check('relu/abs away from 0', (a) => a.relu().add(a.abs()).sum(), () => [Tensor.from([-0.7, 0.4, 1.3], [3], 'float64')]);
check('clamp/maximum/minimum', (a, b) => a.clamp(-0.5, 0.5).add(a.maximum(b)).add(a.minimum(b)).sum(),
  () => [Tensor.from([-0.9, 0.2, 0.8], [3], 'float64'), Tensor.from([0.1, -0.3, 0.95], [3], 'float64')]);
check('where/maskedFill', (a, b) => where(a.gt(0), a.mul(b), b).add(a.maskedFill(b.lt(0), 0)).sum(),
  () => [Tensor.from([-0.9, 0.2, 0.8], [3], 'float64'), Tensor.from([0.1, -0.3, 0.95], [3], 'float64')]);
check('matmul', (a, b) => a.matmul(b).sum(), () => [D([2, 3]), D([3, 4])]);
check('batched matmul broadcast', (a, b) => a.matmul(b).pow(2).sum(), () => [D([2, 2, 3]), D([3, 2])]);
check('bmm', (a, b) => a.bmm(b).pow(2).sum(), () => [D([2, 2, 3]), D([2, 3, 2])]);
check('linear', (x, w, b) => linear(x, w, b).pow(2).sum(), () => [D([3, 4]), D([2, 4]), D([2])]);
check('conv2d', (x, w, b) => conv2d(x, w, b, 2, 1).pow(2).sum(), () => [D([1, 2, 5, 5]), D([3, 2, 3, 3]), D([3])]);
check('reshape/permute/transpose/expand/flatten', (a) =>
  a.reshape([3, 2]).permute([1, 0]).transpose(0, 1).unsqueeze(0).expand([2, 3, 2]).flatten().mul(Tensor.arange(0, 12, 1, 'float64')).sum(),
  () => [D([2, 3])]);
check('select', (a) => a.select(1, 1).mul(Tensor.arange(1, 3, 1, 'float64')).sum().add(a.select(0, -1).pow(2).sum()), () => [D([2, 3])]);
check('narrow/split/cat/stack', (a) => {
  const [p, q] = a.split([1, 2], 1) as [Tensor, Tensor];
  return cat([q, p.mul(2)], 1).add(stack([a.narrow(1, 0, 3), a], 0).sum(0)).pow(2).sum();
}, () => [D([2, 3])]);
check('indexSelect/gather/embedding', (a) =>
  a.indexSelect(0, L([2, 0, 2])).sum().add(a.gather(1, Tensor.from(new BigInt64Array([1n, 0n, 1n]), [3, 1])).pow(2).sum())
    .add(embedding(a, L([1, 1])).pow(3).sum()), () => [D([3, 2])]);
check('sum/mean/norm/normalize/logsumexp', (a) =>
  a.sum(1).pow(2).sum().add(a.mean(0).pow(2).sum()).add(a.norm(2, 1).sum()).add(a.normalize(2, 1).mul(a).sum()).add(a.logsumexp(1).sum()),
  () => [D([3, 4])]);
check('max/min/topk (distinct values)', (a) =>
  a.max().add(a.maxDim(1).values.sum()).add(a.min()).add(a.topk(2, 1).values.pow(2).sum()),
  () => [Tensor.from([0.1, 0.9, -0.4, 0.35, 0.7, -0.2], [2, 3], 'float64')]);
check('softmax/logSoftmax', (a, w) => a.softmax(1).mul(w).sum().add(a.logSoftmax(1).mul(w).sum()), () => [D([2, 4]), D([2, 4])]);
check('layerNorm', (x, w, b) => layerNorm(x, [4], w, b).mul(Tensor.arange(0, 12, 1, 'float64').reshape([3, 4])).sum(),
  () => [D([3, 4]), D([4]), D([4])]);
check('groupNorm', (x, w, b) => groupNorm(x, 2, w, b).mul(Tensor.arange(0, 32, 1, 'float64').reshape([2, 4, 2, 2])).sum(),
  () => [D([2, 4, 2, 2]), D([4]), D([4])]);
check('crossEntropy weighted + smoothing', (z) =>
  crossEntropy(z, L([0, 2, 1]), { weight: Tensor.from([0.5, 2, 1.25], [3], 'float64'), labelSmoothing: 0.1 }), () => [D([3, 3])]);
check('mseLoss', (a, b) => mseLoss(a, b), () => [D([5]), D([5])]);

// gradcheck itself: functions whose backward is wrong by construction (a detached factor gives the
// value but not its gradient) must fail it, by the amount worked out by hand; a check that always
// reports 0 would pass every op above.
test('gradcheck fails wrong gradients, by the hand-worked error', () => tidy(() => {
  const x = Tensor.from([0.5, -1.5, 2], [3], 'float64');
  const near = (got: number, want: number, what: string): void => assert.ok(Math.abs(got - want) < 1e-6, `${what}: ${got}, want ${want}`);
  // Control: x*x is right (its error is float noise).
  assert.ok(gradcheck((a) => a.mul(a).sum(), [x]).maxRelErr < TOL);
  // Half the gradient: d/dx sum(x * stop(x)) comes out as x instead of 2x; the error is |x|,
  // largest 2 at x = 2; relative |x| / max(1, |2x|) = 0.5 for all three.
  const half = gradcheck((a) => a.mul(a.detach()).sum(), [x]);
  near(half.maxAbsErr, 2, 'half gradient, max abs error');
  near(half.maxRelErr, 0.5, 'half gradient, max relative error');
  // A 0.1% scaled gradient: value tanh(x), gradient 1.001 (1 - tanh^2). Error 0.001 (1 - tanh^2),
  // largest at x = 0.5: 0.001 * (1 - tanh(0.5)^2) = 7.864e-4, far above the 1e-6 the op checks use.
  const scaled = gradcheck((a) => { const y = a.tanh().sum(); return y.add(y.sub(y.detach()).mul(0.001)); }, [x]);
  near(scaled.maxRelErr, 0.001 * (1 - Math.tanh(0.5) ** 2), 'scaled gradient, max relative error');
  assert.ok(scaled.maxRelErr > 100 * TOL);
  // Wrong sign: value x, gradient -1 (numeric +1): error 2, relative 2.
  const flipped = gradcheck((a) => a.detach().mul(2).sub(a).sum(), [x]);
  near(flipped.maxRelErr, 2, 'flipped gradient, max relative error');
  // A missing gradient: b is detached, so b.grad stays null and counts as 0; numeric d/db = a.
  const missing = gradcheck((a, b) => a.mul(b.detach()).sum(), [x, Tensor.from([3, 1, -4], [3], 'float64')]);
  near(missing.maxAbsErr, 2, 'missing gradient, max abs error (|a| at a = 2)');
  near(missing.maxRelErr, 1, 'missing gradient, max relative error');
}));

test('autograd: requiresGrad, backward, grad accumulates, detach, noGrad', () => tidy(() => {
  const x = Tensor.from([1, 2, 3], [3], 'float64').requireGrad();
  assert.equal(x.requiresGrad, true);
  assert.equal(x.grad, null);
  x.mul(x).sum().backward();
  assert.deepEqual(x.grad!.toNumbers(), [2, 4, 6]);
  x.mul(3).sum().backward(); // accumulates
  assert.deepEqual(x.grad!.toNumbers(), [5, 7, 9]);
  assert.equal(x.detach().requiresGrad, false);
  noGrad(() => {
    assert.equal(isGradEnabled(), false);
    assert.equal(x.mul(2).requiresGrad, false);
  });
  assert.equal(isGradEnabled(), true);
  const y = x.mul(2);
  y.backward(Tensor.from([1, 0, 1], [3], 'float64'));
  assert.deepEqual(x.grad!.toNumbers(), [7, 7, 11]);
}));
