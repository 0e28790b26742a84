// The BatchNorm stem (image.stemNorm 'batch'): hand-worked batch and running statistics, a float64
// gradient check in training mode, the fused libtorch op against the composed formula it replaced
// (outputs, running statistics, gradients), buffers that are saved but never trained, and inference that
// does not depend on the other photos of the batch.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor, batchNorm, gradcheck, manualSeed, noGrad, tidy, zeroGrad } from '../../src/tensor/index.js';
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

/**
 * The composed training-mode formula batchNorm2d ran before the fused op (ten ops in TypeScript): the
 * reference the fused op must match.
 */
function composedTraining(y: Tensor, runningMean: Tensor, runningVar: Tensor, weight: Tensor, bias: Tensor, eps = 1e-5, momentum = 0.1): Tensor {
  return tidy(() => {
    const C = y.size(1);
    const mean = y.mean([0, 2, 3], true); // (1, C, 1, 1)
    const variance = y.sub(mean).pow(2).mean([0, 2, 3], true); // (1, C, 1, 1), biased
    const n = y.numel / C;
    noGrad(() => {
      runningMean.copy_(runningMean.mul(1 - momentum).add(mean.detach().reshape([C]).mul(momentum)));
      runningVar.copy_(runningVar.mul(1 - momentum).add(variance.detach().reshape([C]).mul(momentum * n / (n - 1))));
    });
    const scale = variance.add(eps).rsqrt().mul(weight.reshape([1, C, 1, 1])); // (1, C, 1, 1)
    return y.sub(mean).mul(scale).add(bias.reshape([1, C, 1, 1])); // (B, C, H, W)
  });
}

describe('batchNorm (fused libtorch op)', () => {
  it('matches the composed formula in float32: outputs, running statistics over two steps, gradients of input, weight and bias', () => {
    manualSeed(11);
    const C = 5;
    const x0 = Tensor.randn([4, C, 6, 6]).mul(2).add(0.5); // (B, C, H, W), off-centre so the statistics matter
    const w0 = Tensor.rand([C]).add(0.5);
    const b0 = Tensor.randn([C]);
    const R = Tensor.randn([4, C, 6, 6]);
    const side = (fused: boolean) => {
      const x = x0.clone().requireGrad();
      const w = w0.clone().requireGrad();
      const b = b0.clone().requireGrad();
      const rm = Tensor.zeros([C]);
      const rv = Tensor.ones([C]);
      const run = (): Tensor => (fused ? batchNorm(x, rm, rv, w, b, { training: true }) : composedTraining(x, rm, rv, w, b));
      const y = tidy(() => { const out = run(); out.mul(R).sum().backward(); return out; });
      tidy(() => run()); // a second training step: the running statistics move again
      const got = { y: y.toArray(), rm: rm.toArray(), rv: rv.toArray(), gx: x.grad?.toArray(), gw: w.grad?.toArray(), gb: b.grad?.toArray() };
      for (const t of [x, w, b, rm, rv, y]) t.dispose();
      return got;
    };
    const fused = side(true);
    const composed = side(false);
    for (const k of ['y', 'rm', 'rv', 'gx', 'gw', 'gb'] as const) {
      assert.ok(fused[k] !== undefined && composed[k] !== undefined, `${k}: missing`);
      const want = composed[k] as Float32Array;
      // 1e-5 relative to the largest value (the weight and bias gradients sum 144 terms each and reach ~25).
      close(fused[k] as Float32Array, want, 1e-5 * Math.max(1, ...Array.from(want, Math.abs)), k);
    }
    // The running statistics did move (a no-op update would fail above only by accident).
    assert.ok((fused.rv as Float32Array).some((v) => Math.abs(v - 1) > 0.1), `running var moved: ${Array.from(fused.rv as Float32Array).join(', ')}`);
    for (const t of [x0, w0, b0, R]) t.dispose();
  });

  it('passes the float64 gradient check (gradcheck) for input, weight and bias in training mode', () => {
    manualSeed(12);
    const R = Tensor.randn([3, 2, 2, 3], 'float64');
    const rm = Tensor.zeros([2], 'float64');
    const rv = Tensor.ones([2], 'float64');
    const r = gradcheck((x, w, b) => batchNorm(x as Tensor, rm, rv, w, b, { training: true }).mul(R).sum(),
      [Tensor.randn([3, 2, 2, 3], 'float64'), Tensor.rand([2], 'float64').add(0.5), Tensor.randn([2], 'float64')]);
    assert.ok(r.maxRelErr < 1e-6, `max relative error ${r.maxRelErr} (abs ${r.maxAbsErr})`);
    R.dispose(); rm.dispose(); rv.dispose();
  });

  it('in eval mode uses the running statistics and leaves them unchanged', () => tidy(() => {
    const x = Tensor.from([1, 10, 3, 14], [2, 2, 1, 1], 'float64');
    const rm = Tensor.from([0.5, 2], [2], 'float64');
    const rv = Tensor.from([4, 0.25], [2], 'float64');
    const y = batchNorm(x, rm, rv, null, null, { training: false, eps: 0 });
    close(y.toArray() as Float64Array, [(1 - 0.5) / 2, (10 - 2) / 0.5, (3 - 0.5) / 2, (14 - 2) / 0.5], 1e-12, 'eval output');
    close(rm.toArray() as Float64Array, [0.5, 2], 0, 'running mean');
    close(rv.toArray() as Float64Array, [4, 0.25], 0, 'running var');
  }));

  it('refuses running statistics of the wrong size and one value per channel in training, naming the shapes', () => tidy(() => {
    assert.throws(() => batchNorm(Tensor.zeros([2, 3, 2, 2]), Tensor.zeros([4]), Tensor.ones([3]), null, null, { training: true }),
      /input shape \[2, 3, 2, 2\] with running statistics of 4 and 3 elements/);
    assert.throws(() => batchNorm(Tensor.zeros([1, 3, 1, 1]), Tensor.zeros([3]), Tensor.ones([3]), null, null, { training: true }),
      /\[1, 3, 1, 1\] has 1 value per channel/);
  }));
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
