// Layers: hand-computed outputs, masking semantics, float64 finite-difference gradient checks,
// and a no-leak check.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor, liveTensors, manualSeed, noGrad, tidy, zeroGrad } from '../../src/tensor/index.js';
import { ConvStem, Embedding, LayerNorm, Linear, Mlp, Module, MultiHeadSelfAttention, PatchEmbed, PostNormBlock, PreNormBlock, stemChannels } from '../../src/nn/index.js';

function close(got: ArrayLike<number>, want: ArrayLike<number>, tol: number, what: string): void {
  assert.equal(got.length, want.length, `${what}: length`);
  for (let i = 0; i < want.length; i++) {
    assert.ok(Math.abs((got[i] as number) - (want[i] as number)) <= tol, `${what}[${i}]: ${got[i]} vs ${want[i]}`);
  }
}

function set(t: Tensor, values: number[]): void {
  noGrad(() => tidy(() => t.copy_(Tensor.from(values, t.shape, t.dtype))));
}

/**
 * Central finite differences vs autograd for a few entries of every parameter and of the input.
 * loss = sum(f(x) * R) with a fixed random R, so LayerNorm outputs do not give trivial zeros.
 */
function gradCheck(m: Module, x: Tensor, f: (x: Tensor) => Tensor, entries = 4): void {
  const R = Tensor.randn(tidy(() => f(x).shape), 'float64');
  const loss = (): Tensor => tidy(() => f(x).mul(R).sum());
  const targets = new Map<string, Tensor>([...m.namedParameters(), ['<input>', x]]);
  zeroGrad([...targets.values()]);
  const l = loss();
  l.backward();
  l.dispose();
  const eps = 1e-6;
  for (const [name, p] of targets) {
    const g = p.grad;
    assert.ok(g !== null, `${name}: no gradient`);
    const grad = g.toArray() as Float64Array;
    g.dispose();
    const values = Array.from(p.toArray() as Float64Array);
    for (let k = 0; k < Math.min(entries, values.length); k++) {
      const i = (k * 7919 + 3) % values.length;
      const at = (v: number): number => {
        const w = values.slice();
        w[i] = v;
        set(p, w);
        return noGrad(() => {
          const t = loss();
          const s = t.item();
          t.dispose();
          return s;
        });
      };
      const num = (at((values[i] as number) + eps) - at((values[i] as number) - eps)) / (2 * eps);
      set(p, values);
      const ana = grad[i] as number;
      assert.ok(Math.abs(num - ana) <= 1e-6 * Math.max(1, Math.abs(num)), `${name}[${i}]: numeric ${num} vs autograd ${ana}`);
    }
  }
  zeroGrad([...targets.values()]);
  R.dispose();
}

describe('layers: exact values', () => {
  it('Linear computes x W^T + b', () => {
    const l = new Linear(3, 2);
    set(l.weight, [1, 2, 3, 4, 5, 6]);
    set(l.bias as Tensor, [0.5, -1]);
    const y = l.forward(Tensor.from([1, 0, -1, 2, 1, 0], [2, 3]));
    assert.deepEqual(y.toNumbers(), [1 - 3 + 0.5, 4 - 6 - 1, 2 + 2 + 0.5, 8 + 5 - 1]);
    l.dispose();
  });

  it('LayerNorm normalizes over the last dim with scale and shift', () => {
    const ln = new LayerNorm(4, 1e-12);
    set(ln.weight, [1, 2, 1, 1]);
    set(ln.bias, [0, 0, 1, 0]);
    const s = 1 / Math.sqrt(1.25); // var of [1, 2, 3, 4] = 1.25
    close(ln.forward(Tensor.from([1, 2, 3, 4], [1, 4])).toNumbers(), [-1.5 * s, -0.5 * s * 2, 0.5 * s + 1, 1.5 * s], 1e-6, 'ln');
    ln.dispose();
  });

  it('Embedding picks rows for int64 and int32 ids', () => {
    const e = new Embedding(3, 2);
    set(e.weight, [0, 1, 10, 11, 20, 21]);
    assert.deepEqual(e.forward(Tensor.from([2, 0], [2], 'int64')).toNumbers(), [20, 21, 0, 1]);
    assert.deepEqual(e.forward(Tensor.from(new Int32Array([1]))).toNumbers(), [10, 11]);
    e.dispose();
  });

  it('PatchEmbed sums each non-overlapping patch with a ones kernel, row-major', () => {
    const pe = new PatchEmbed(1, 2, 1);
    set(pe.weight, [1, 1, 1, 1]);
    set(pe.bias, [0]);
    const img = Tensor.arange(0, 16).reshape([1, 1, 4, 4]);
    const y = pe.forward(img);
    assert.deepEqual(y.shape, [1, 4, 1]);
    assert.deepEqual(y.toNumbers(), [0 + 1 + 4 + 5, 2 + 3 + 6 + 7, 8 + 9 + 12 + 13, 10 + 11 + 14 + 15]);
    assert.throws(() => pe.forward(Tensor.zeros([1, 1, 5, 4])), /multiples of 2/);
    pe.dispose();
  });

  it('ConvStem maps an image to the same token grid as a patch embedding', () => {
    assert.deepEqual(stemChannels(16, 192), [24, 48, 96, 192]);
    assert.deepEqual(stemChannels(8, 32), [16, 16, 32]);
    manualSeed(3);
    const stem = new ConvStem(3, 16, 24);
    const y = stem.forward(Tensor.randn([2, 3, 32, 48]));
    assert.deepEqual(y.shape, [2, (32 / 16) * (48 / 16), 24]); // (B, Np, D), like PatchEmbed(3, 16, 24)
    assert.ok(y.isfinite().logicalNot().sum().item() === 0);
    // Row-major tokens: token (r, c) depends on its own region only through a local receptive field,
    // so changing the bottom-right corner leaves the top-left token unchanged.
    const x = Tensor.randn([1, 3, 64, 64]);
    const a = stem.forward(x).narrow(1, 0, 1).toNumbers();
    const x2 = x.clone();
    noGrad(() => x2.narrow(2, 48, 16).narrow(3, 48, 16).fill_(5));
    const b = stem.forward(x2);
    close(b.narrow(1, 0, 1).toNumbers(), a, 1e-6, 'top-left token');
    assert.ok(Math.abs(b.narrow(1, 15, 1).sub(stem.forward(x).narrow(1, 15, 1)).abs().sum().item()) > 1e-3, 'bottom-right token must change');
    assert.throws(() => new ConvStem(3, 12, 8), /power of 2/);
    assert.throws(() => stem.forward(Tensor.zeros([1, 3, 40, 32])), /multiples of 16/);
    stem.dispose();
  });

  it('Mlp is fc2(gelu(fc1(x)))', () => {
    const m = new Mlp(1, 2);
    set(m.fc1.weight, [1, -1]);
    set(m.fc1.bias as Tensor, [0, 0]);
    set(m.fc2.weight, [1, 1]);
    set(m.fc2.bias as Tensor, [0]);
    const gelu = (v: number): number => 0.5 * v * (1 + erf(v / Math.SQRT2));
    close(m.forward(Tensor.from([0.7], [1, 1])).toNumbers(), [gelu(0.7) + gelu(-0.7)], 1e-6, 'mlp');
    m.dispose();
  });
});

/** Abramowitz-Stegun 7.1.26 is too coarse; use a series good to 1e-10 for |v| < 3. */
function erf(v: number): number {
  let sum = 0;
  let term = v;
  for (let n = 0; n < 60; n++) {
    sum += term / (2 * n + 1);
    term *= (-v * v) / (n + 1);
  }
  return (2 / Math.sqrt(Math.PI)) * sum;
}

describe('MultiHeadSelfAttention', () => {
  function identityAttention(): MultiHeadSelfAttention {
    const a = new MultiHeadSelfAttention(2, 1);
    for (const l of [a.query, a.key, a.value, a.out]) {
      set(l.weight, [1, 0, 0, 1]);
      set(l.bias as Tensor, [0, 0]);
    }
    return a;
  }

  it('matches a hand computation, with and without a key mask', () => {
    const a = identityAttention();
    const x = Tensor.from([1, 0, 0, 1], [1, 2, 2]);
    const p = Math.exp(Math.SQRT1_2) / (Math.exp(Math.SQRT1_2) + 1); // softmax([1/sqrt2, 0])[0]
    close(a.forward(x, null).toNumbers(), [p, 1 - p, 1 - p, p], 1e-6, 'unmasked');
    close(a.forward(x, Tensor.from([true, false], [1, 2])).toNumbers(), [1, 0, 1, 0], 1e-6, 'key 1 masked');
    close(a.forward(x, Tensor.from([1, 0], [1, 2], 'int64')).toNumbers(), [1, 0, 1, 0], 1e-6, 'int mask');
    a.dispose();
  });

  it('a fully masked row gives finite (uniform) attention, not NaN', () => {
    const a = identityAttention();
    const r = a.forwardWithProbs(Tensor.from([1, 0, 0, 1], [1, 2, 2]), Tensor.from([false, false], [1, 2]));
    assert.deepEqual(r.probs.toNumbers(), [0.5, 0.5, 0.5, 0.5]);
    assert.deepEqual(r.out.toNumbers(), [0.5, 0.5, 0.5, 0.5]);
    a.dispose();
  });

  it('masked keys have no influence on the other positions', () => {
    manualSeed(3);
    const a = new MultiHeadSelfAttention(8, 2);
    const mask = Tensor.from([1, 1, 1, 0, 0, 1, 1, 1, 1, 1], [2, 5], 'int64');
    const x1 = Tensor.randn([2, 5, 8]);
    const noise = Tensor.randn([2, 5, 8]).mul(mask.eq(0).unsqueeze(2).to('float32')); // changes masked positions only
    const y1 = a.forward(x1, mask).toNumbers();
    const y2 = a.forward(x1.add(noise), mask).toNumbers();
    const keep = mask.toNumbers();
    for (let t = 0; t < 10; t++) {
      if (keep[t] === 0) continue;
      close(y2.slice(t * 8, t * 8 + 8), y1.slice(t * 8, t * 8 + 8), 1e-6, `position ${t}`);
    }
    assert.throws(() => a.forward(x1, Tensor.ones([2, 4])), /key mask has shape \[2, 4\]; expected \[2, 5\]/);
    a.dispose();
  });
});

describe('float64 finite-difference gradient checks', () => {
  it('attention with a key mask', () => {
    manualSeed(11);
    const a = new MultiHeadSelfAttention(4, 2).to('float64');
    const x = Tensor.randn([2, 3, 4], 'float64').requireGrad();
    const mask = Tensor.from([1, 1, 0, 1, 1, 1], [2, 3], 'int64');
    gradCheck(a, x, (v) => a.forward(v, mask));
    a.dispose();
  });

  it('convolutional stem (convs, channel LayerNorm, ReLU, 1x1 projection)', () => {
    manualSeed(13);
    const stem = new ConvStem(3, 4, 6).to('float64');
    const x = Tensor.randn([2, 3, 8, 8], 'float64').requireGrad();
    gradCheck(stem, x, (v) => stem.forward(v));
    stem.dispose();
  });

  it('pre-norm block', () => {
    manualSeed(12);
    const b = new PreNormBlock({ dim: 4, heads: 2, mlpDim: 6, eps: 1e-6 }).to('float64');
    const x = Tensor.randn([2, 3, 4], 'float64').requireGrad();
    gradCheck(b, x, (v) => b.forward(v, null));
    b.dispose();
  });

  it('post-norm block (BERT) with a key mask', () => {
    manualSeed(13);
    const b = new PostNormBlock({ dim: 4, heads: 2, mlpDim: 6, eps: 1e-12 }).to('float64');
    const x = Tensor.randn([2, 3, 4], 'float64').requireGrad();
    const mask = Tensor.from([1, 0, 1, 1, 1, 1], [2, 3], 'int64');
    gradCheck(b, x, (v) => b.forward(v, mask));
    b.dispose();
  });
});

describe('memory', () => {
  it('a block forward + backward in tidy leaves the live-tensor count flat', () => {
    manualSeed(5);
    const b = new PreNormBlock({ dim: 8, heads: 2, mlpDim: 16, eps: 1e-6, dropout: 0.1, attnDropout: 0.1 });
    const x = Tensor.randn([2, 4, 8]);
    const mask = Tensor.from([1, 1, 1, 0, 1, 1, 0, 0], [2, 4], 'int64');
    const step = (): void => {
      const y = tidy(() => b.forward(x, mask).pow(2).mean());
      y.backward();
      y.dispose();
      zeroGrad([...b.namedParameters().values()]);
    };
    step();
    const live = liveTensors();
    for (let i = 0; i < 5; i++) step();
    assert.equal(liveTensors(), live);
    b.dispose();
  });
});
