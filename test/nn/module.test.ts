// Module base: registration order, decay flags, state-dict round trips and precise load errors,
// dtype moves, train/eval propagation.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor, liveTensors, manualSeed, tidy } from '../../src/tensor/index.js';
import { Embedding, LayerNorm, Linear, Module, PreNormBlock } from '../../src/nn/index.js';
import type { RawTensor } from '../../src/tensor/io/raw.js';

class Net extends Module {
  scale: Tensor;
  readonly fc: Linear;
  readonly blocks: LayerNorm[];
  readonly emb: Embedding;
  constructor() {
    super();
    this.scale = this.param('scale', Tensor.full([], 2));
    this.fc = this.child('fc', new Linear(3, 2));
    this.blocks = this.childList('blocks', [new LayerNorm(2), new LayerNorm(2)]);
    this.emb = this.child('emb', new Embedding(4, 2, { decay: false }));
  }
}

describe('Module', () => {
  it('names parameters depth-first in registration order, with decay flags', () => {
    const n = new Net();
    assert.deepEqual([...n.namedParameters().keys()], [
      'scale', 'fc.weight', 'fc.bias', 'blocks.0.weight', 'blocks.0.bias', 'blocks.1.weight', 'blocks.1.bias', 'emb.weight',
    ]);
    assert.deepEqual(Object.fromEntries(n.decayFlags()), {
      scale: false, 'fc.weight': true, 'fc.bias': false, 'blocks.0.weight': false, 'blocks.0.bias': false,
      'blocks.1.weight': false, 'blocks.1.bias': false, 'emb.weight': false,
    });
    assert.equal(n.numParameters(), 1 + (6 + 2) + 2 * (2 + 2) + 4 * 2);
    for (const p of n.namedParameters().values()) assert.equal(p.requiresGrad, true);
    n.dispose();
  });

  it('same seed gives identical initial weights; another seed differs', () => {
    const w = (seed: number): number[] => {
      manualSeed(seed);
      const l = new Linear(4, 3);
      const v = l.weight.toNumbers();
      l.dispose();
      return v;
    };
    assert.deepEqual(w(7), w(7));
    assert.notDeepEqual(w(7), w(8));
  });

  it('parameters built inside a tidy scope survive it', () => {
    const l = tidy(() => new Linear(2, 2));
    assert.equal(l.weight.isDisposed, false);
    assert.deepEqual(l.weight.shape, [2, 2]);
    l.dispose();
  });

  it('train/eval propagates to every child', () => {
    const b = new PreNormBlock({ dim: 4, heads: 2, mlpDim: 8, eps: 1e-5 });
    assert.equal(b.attn.query.training, true);
    b.eval();
    assert.equal(b.training, false);
    assert.equal(b.attn.query.training, false);
    assert.equal(b.mlp.fc2.training, false);
    b.train();
    assert.equal(b.mlp.fc2.training, true);
    b.dispose();
  });

  it('stateDict -> loadStateDict copies values exactly (Tensor and RawTensor sources)', () => {
    manualSeed(1);
    const a = new Net();
    manualSeed(2);
    const b = new Net();
    b.loadStateDict(a.stateDict());
    for (const [k, p] of a.namedParameters()) assert.deepEqual(b.namedParameters().get(k)?.toNumbers(), p.toNumbers(), k);
    const raw = new Map<string, RawTensor>();
    for (const [k, p] of a.namedParameters()) raw.set(k, { dtype: 'float64', shape: p.shape, data: Float64Array.from(p.toNumbers(), (v) => v + 1) });
    b.loadStateDict(raw);
    assert.equal(b.scale.item(), 3);
    assert.deepEqual(b.fc.bias?.toNumbers(), a.fc.bias?.toNumbers().map((v) => Math.fround(v + 1)));
    assert.equal(b.fc.weight.dtype, 'float32', 'values converted to the parameter dtype');
    a.dispose();
    b.dispose();
  });

  it('loadStateDict reports missing, unexpected and mis-shaped keys at once, and copies nothing', () => {
    const n = new Net();
    const before = n.fc.weight.toNumbers();
    const sd = new Map<string, Tensor | RawTensor>(n.stateDict());
    sd.delete('blocks.1.bias');
    sd.set('extra.weight', Tensor.zeros([2]));
    sd.set('fc.weight', Tensor.zeros([3, 2]));
    sd.set('emb.weight', { dtype: 'int64', shape: [4, 2], data: new BigInt64Array(8) });
    assert.throws(() => n.loadStateDict(sd, { source: 'ckpt.bin' }), (e: Error) => {
      assert.match(e.message, /Net\.loadStateDict from ckpt\.bin/);
      assert.match(e.message, /missing keys \(1\): blocks\.1\.bias/);
      assert.match(e.message, /unexpected keys \(1\): extra\.weight/);
      assert.match(e.message, /fc\.weight: shape \[3, 2\] in the state dict, \[2, 3\] in the model/);
      assert.match(e.message, /emb\.weight: dtype int64 in the state dict; expected a floating-point tensor/);
      return true;
    });
    assert.deepEqual(n.fc.weight.toNumbers(), before);
    // Non-strict: missing/unexpected tolerated, present keys copied.
    const partial = new Map<string, Tensor>([['scale', Tensor.full([], 5)], ['nope', Tensor.zeros([1])]]);
    n.loadStateDict(partial, { strict: false });
    assert.equal(n.scale.item(), 5);
    n.dispose();
  });

  it('to(float64) converts every parameter to a new grad-requiring leaf and keeps values', () => {
    const n = new Net();
    const before = n.fc.weight.toNumbers();
    const live = liveTensors();
    n.to('float64');
    assert.equal(liveTensors(), live, 'old parameters freed');
    for (const [k, p] of n.namedParameters()) {
      assert.equal(p.dtype, 'float64', k);
      assert.equal(p.requiresGrad, true, k);
    }
    assert.deepEqual(n.fc.weight.toNumbers(), before);
    const y = tidy(() => n.fc.forward(Tensor.ones([1, 3], 'float64')).sum());
    y.backward();
    const g = n.fc.weight.grad;
    assert.ok(g !== null);
    assert.deepEqual(g.toNumbers(), [1, 1, 1, 1, 1, 1]);
    g.dispose();
    y.dispose();
    n.dispose();
  });
});
