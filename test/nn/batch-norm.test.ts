// The BatchNorm stem (image.stemNorm 'batch'): hand-worked batch and running statistics, a float64
// gradient check in training mode, buffers that are saved but never trained, and inference that does
// not depend on the other photos of the batch.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor, manualSeed, noGrad, tidy, zeroGrad } from '../../src/tensor/index.js';
import { ConvStem, batchNorm2d } from '../../src/nn/index.js';

function close(got: ArrayLike<number>, want: ArrayLike<number>, tol: number, what: string): void {
  assert.equal(got.length, want.length, `${what}: length`);
  for (let i = 0; i < want.length; i++) {
    assert.ok(Math.abs((got[i] as number) - (want[i] as number)) <= tol, `${what}[${i}]: ${got[i]} vs ${want[i]}`);
  }
}

describe('batchNorm2d', () => {
  it('normalizes with the batch statistics in training and moves the running statistics (momentum 0.1, unbiased variance)', () => tidy(() => {
    // (B=2, C=2, 1, 1): channel 0 sees [1, 3] (mean 2, biased var 1, unbiased 2), channel 1 [10, 14] (12, 4, 8).
    const x = Tensor.from([1, 10, 3, 14], [2, 2, 1, 1], 'float64');
    const rm = Tensor.zeros([2], 'float64');
    const rv = Tensor.ones([2], 'float64');
    const w = Tensor.from([1, 2], [2], 'float64');
    const b = Tensor.from([0, 1], [2], 'float64');
    const y = batchNorm2d(x, rm, rv, w, b, true, 0);
    close(y.toArray() as Float64Array, [-1, -2 + 1, 1, 2 + 1], 1e-12, 'training output');
    close(rm.toArray() as Float64Array, [0.2, 1.2], 1e-12, 'running mean');
    close(rv.toArray() as Float64Array, [0.9 + 0.1 * 2, 0.9 + 0.1 * 8], 1e-12, 'running var');
    // Eval: the running statistics, whatever the batch.
    const e = batchNorm2d(Tensor.from([1, 10], [1, 2, 1, 1], 'float64'), rm, rv, w, b, false, 0);
    close(e.toArray() as Float64Array, [(1 - 0.2) / Math.sqrt(1.1), 2 * (10 - 1.2) / Math.sqrt(1.7) + 1], 1e-12, 'eval output');
    close(rm.toArray() as Float64Array, [0.2, 1.2], 1e-12, 'eval leaves the running mean alone');
  }));

  it('gradients match central finite differences (float64, training mode)', () => {
    manualSeed(3);
    const x = Tensor.randn([3, 2, 2, 2], 'float64').requireGrad();
    const w = Tensor.rand([2], 'float64').add(0.5).requireGrad();
    const b = Tensor.randn([2], 'float64').requireGrad();
    const R = Tensor.randn([3, 2, 2, 2], 'float64');
    const rm = Tensor.zeros([2], 'float64');
    const rv = Tensor.ones([2], 'float64');
    const loss = (): number => tidy(() => batchNorm2d(x, rm, rv, w, b, true).mul(R).sum().item());
    zeroGrad([x, w, b]);
    tidy(() => batchNorm2d(x, rm, rv, w, b, true).mul(R).sum().backward());
    for (const [name, t] of [['x', x], ['weight', w], ['bias', b]] as const) {
      const g = t.grad?.toArray() as Float64Array;
      const n = Math.min(t.numel, 6);
      for (let i = 0; i < n; i++) {
        const v = t.toArray() as Float64Array;
        const at = (d: number): number => {
          noGrad(() => tidy(() => { const c = Float64Array.from(v); c[i] = (v[i] as number) + d; t.copy_(Tensor.from(c, t.shape, 'float64')); }));
          return loss();
        };
        const h = 1e-6;
        const num = (at(h) - at(-h)) / (2 * h);
        at(0);
        assert.ok(Math.abs(num - (g[i] as number)) <= 1e-6 * Math.max(1, Math.abs(num)), `${name}[${i}]: numeric ${num} vs autograd ${g[i]}`);
      }
    }
  });
});

describe("ConvStem with stemNorm 'batch'", () => {
  it('registers running statistics as buffers: saved with the weights, no gradient, not trained', () => {
    manualSeed(1);
    const stem = new ConvStem(3, 4, 8, 'batch');
    const named = stem.namedParameters();
    assert.ok(named.has('layers.0.runningMean') && named.has('layers.1.runningVar'), [...named.keys()].join(', '));
    assert.equal(named.get('layers.0.runningMean')?.requiresGrad, false);
    assert.equal(named.get('layers.0.weight')?.requiresGrad, true);
    stem.to('float64');
    assert.equal(stem.namedParameters().get('layers.0.runningVar')?.requiresGrad, false, 'to() keeps buffers without grad');
    tidy(() => stem.forward(Tensor.randn([4, 3, 8, 8], 'float64').mul(3).add(2)).sum().backward());
    const rm = stem.namedParameters().get('layers.0.runningMean') as Tensor;
    assert.equal(rm.grad, null);
    assert.ok((rm.toArray() as Float64Array).some((v) => v !== 0), 'a training forward moves the running mean');
    // A fresh stem loaded from the state dict grades the same in eval mode.
    const copy = new ConvStem(3, 4, 8, 'batch').to('float64');
    copy.loadStateDict(stem.stateDict());
    stem.eval();
    copy.eval();
    tidy(() => {
      const x = Tensor.randn([2, 3, 8, 8], 'float64');
      close(copy.forward(x).toArray() as Float64Array, stem.forward(x).toArray() as Float64Array, 1e-12, 'loaded stem');
    });
    stem.dispose();
    copy.dispose();
  });

  it('in eval mode a photo gives the same tokens alone as inside a batch', () => {
    manualSeed(2);
    const stem = new ConvStem(3, 4, 8, 'batch').to('float64');
    tidy(() => stem.forward(Tensor.randn([6, 3, 8, 8], 'float64')));
    stem.eval();
    tidy(() => {
      const batch = Tensor.randn([3, 3, 8, 8], 'float64');
      const alone = stem.forward(batch.narrow(0, 0, 1));
      const inBatch = stem.forward(batch).narrow(0, 0, 1);
      close(alone.toArray() as Float64Array, inBatch.toArray() as Float64Array, 1e-12, 'photo 0');
      // ...which training mode (batch statistics) does not give.
      stem.train();
      const a = stem.forward(batch.narrow(0, 0, 2)).narrow(0, 0, 1).toArray() as Float64Array;
      const b = stem.forward(batch).narrow(0, 0, 1).toArray() as Float64Array;
      assert.ok(a.some((v, i) => Math.abs(v - (b[i] as number)) > 1e-6), 'training mode uses the batch statistics');
    });
    stem.dispose();
  });
});
