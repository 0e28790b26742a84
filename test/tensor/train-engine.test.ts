// Engine-level training plumbing: no leaks over 200 steps, AdamW groups, exact resume, RNG state.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  Tensor, tidy, liveTensors, linear, crossEntropy, layerNorm, AdamW, clipGradNorm, manualSeed, getRngState,
  setRngState, setNumThreads, getNumThreads, cudaIsAvailable, cudaDeviceCount, cudaSynchronize, torchVersion,
} from '../../src/tensor/index.js';

interface Net { w1: Tensor; b1: Tensor; g: Tensor; w2: Tensor; b2: Tensor }
function makeNet(seed: number): Net {
  manualSeed(seed);
  return {
    w1: Tensor.randn([16, 8]).mul(0.3).requireGrad(), b1: Tensor.zeros([16]).requireGrad(),
    g: Tensor.ones([16]).requireGrad(), w2: Tensor.randn([3, 16]).mul(0.3).requireGrad(), b2: Tensor.zeros([3]).requireGrad(),
  };
}
const params = (n: Net): Tensor[] => [n.w1, n.b1, n.g, n.w2, n.b2];
const makeOpt = (n: Net): AdamW => new AdamW([
  { params: [n.w1, n.w2], weightDecay: 0.1 },
  { params: [n.b1, n.g, n.b2], weightDecay: 0 },
], { lr: 1e-2 });
function step(n: Net, opt: AdamW, x: Tensor, y: Tensor, lr: number): number {
  return tidy(() => {
    const h = layerNorm(linear(x, n.w1, n.b1).gelu(), [16], n.g, null);
    const loss = crossEntropy(linear(h, n.w2, n.b2), y);
    loss.backward();
    clipGradNorm(params(n), 1.0);
    opt.setLr(lr);
    opt.step();
    opt.zeroGrad();
    return loss.item();
  });
}
function data(): { x: Tensor; y: Tensor } {
  manualSeed(99);
  const x = Tensor.randn([32, 8]);
  const y = Tensor.from(BigInt64Array.from({ length: 32 }, (_, i) => BigInt(i % 3)));
  return { x, y };
}

test('live-tensor count stays flat over 200 training steps, and the loss falls', () => {
  const { x, y } = data();
  const net = makeNet(1);
  const opt = makeOpt(net);
  const first = step(net, opt, x, y, 1e-2);
  const before = liveTensors();
  let last = first;
  for (let i = 0; i < 200; i++) last = step(net, opt, x, y, 1e-2);
  assert.equal(liveTensors(), before, 'no tensor leaked across 200 steps');
  assert.ok(last < first * 0.5, `loss ${first} -> ${last}`);
});

test('AdamW state save/load resumes to bit-identical parameters', () => {
  const { x, y } = data();
  const ref = makeNet(2);
  const refOpt = makeOpt(ref);
  for (let i = 0; i < 10; i++) step(ref, refOpt, x, y, 1e-2 * (1 - i / 20));

  const a = makeNet(2);
  const aOpt = makeOpt(a);
  for (let i = 0; i < 4; i++) step(a, aOpt, x, y, 1e-2 * (1 - i / 20));
  const saved = aOpt.saveState();
  const weights = params(a).map((p) => p.toArray());

  const b = makeNet(3); // different init: everything must come from the saved state
  params(b).forEach((p, i) => p.copy_(Tensor.from(weights[i] as Float32Array, p.shape)));
  const bOpt = makeOpt(b);
  bOpt.loadState(saved);
  for (let i = 4; i < 10; i++) step(b, bOpt, x, y, 1e-2 * (1 - i / 20));
  params(ref).forEach((p, i) => assert.deepEqual(params(b)[i]!.toArray(), p.toArray(), `param ${i}`));
});

test('AdamW groups: decay only where asked; per-group lr', () => tidy(() => {
  const w = Tensor.ones([2]).requireGrad();
  const b = Tensor.ones([2]).requireGrad();
  const opt = new AdamW([{ params: [w], weightDecay: 0.5 }, { params: [b], weightDecay: 0, lr: 0.2 }], { lr: 0.1 });
  assert.equal(opt.getLr(0), 0.1);
  assert.equal(opt.getLr(1), 0.2);
  // zero loss gradient (0 * sum): only decoupled decay moves w: w <- w - lr*wd*w = 1 - 0.05
  w.add(b).sum().mul(0).backward();
  opt.step();
  assert.ok(Math.abs((w.toArray()[0] as number) - 0.95) < 1e-7);
  assert.equal(b.toArray()[0], 1);
  opt.setLr(0.3, 1);
  assert.equal(opt.getLr(1), 0.3);
  assert.equal(opt.getLr(0), 0.1);
  assert.throws(() => new AdamW([{ params: [w], weightDecay: 0 }, { params: [w], weightDecay: 0 }], { lr: 1 }), /two groups/);
}));

test('clipGradNorm returns the pre-clip norm and scales gradients', () => tidy(() => {
  const p = Tensor.from([0, 0], [2]).requireGrad();
  p.mul(Tensor.from([3, 4], [2])).sum().backward(); // grad = (3, 4), norm 5
  const n = clipGradNorm([p], 1.0);
  assert.ok(Math.abs(n - 5) < 1e-6);
  const g = p.grad!.toNumbers();
  assert.ok(Math.abs((g[0] as number) - 0.6) < 1e-5 && Math.abs((g[1] as number) - 0.8) < 1e-5);
}));

test('manualSeed and RNG state save/restore reproduce random draws', () => tidy(() => {
  manualSeed(5);
  const a = Tensor.randn([4]).toArray();
  manualSeed(5);
  assert.deepEqual(Tensor.randn([4]).toArray(), a);
  const state = getRngState();
  const next = Tensor.rand([3]).toArray();
  Tensor.rand([10]);
  setRngState(state);
  assert.deepEqual(Tensor.rand([3]).toArray(), next);
}));

test('runtime: threads, CUDA probes, version', () => {
  const n = getNumThreads();
  setNumThreads(1);
  assert.equal(getNumThreads(), 1);
  setNumThreads(n);
  assert.equal(typeof cudaIsAvailable(), 'boolean');
  assert.ok(cudaDeviceCount() >= 0);
  cudaSynchronize();
  assert.match(torchVersion(), /^\d+\.\d+\.\d+$/);
});
