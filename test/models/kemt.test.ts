// Kemt and the CLIP baseline on the tiny preset: shapes, determinism per tower, padding
// invariance, any subset of modalities, save/load round trips, no leaks, one step lowers a loss.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AdamW, crossEntropy, disposeAll, liveTensors, manualSeed, Tensor, tidy } from '../../src/tensor/index.js';
import { buildModel } from '../../src/models/build.js';
import { ClipBaseline } from '../../src/models/clip.js';
import { Kemt } from '../../src/models/kemt.js';
import { selectedPositions } from '../../src/models/mlm.js';
import { loadPreset } from '../../src/models/presets.js';
import type { Batch, ForwardOptions } from '../../src/models/types.js';

const V = 60;
const F = 12;
const tiny = loadPreset('tiny');
const EVAL: ForwardOptions = { training: false, maeMaskRatio: 0, mlmProb: 0 };

function kemt(seed: number): Kemt {
  manualSeed(seed);
  const m = buildModel(tiny, { vocabSize: V, tabularDim: F });
  assert.ok(m instanceof Kemt);
  return m;
}

/** Rows: [CLS] ids... [SEP] [PAD]...; lengths vary so padding is exercised. Project ids: PAD 0, CLS 2, SEP 3. */
function makeBatch(B: number, seed: number, L = 9): Batch {
  manualSeed(seed);
  const ids = new BigInt64Array(B * L);
  const mask = new BigInt64Array(B * L);
  for (let b = 0; b < B; b++) {
    const n = L - (b % 4); // real tokens incl. CLS/SEP
    for (let t = 0; t < n; t++) {
      ids[b * L + t] = BigInt(t === 0 ? 2 : t === n - 1 ? 3 : 5 + ((b * 13 + t * 7) % (V - 5)));
      mask[b * L + t] = 1n;
    }
  }
  return {
    images: Tensor.randn([B, 3, 32, 32]),
    tokenIds: Tensor.from(ids, [B, L]),
    attentionMask: Tensor.from(mask, [B, L]),
    tabular: Tensor.randn([B, F]),
    icdr: Tensor.from(Array.from({ length: B }, (_, i) => i % 5), [B], 'int64'),
    sdrg: Tensor.from(Array.from({ length: B }, (_, i) => (i * 2) % 5), [B], 'int64'),
    present: Tensor.full([B, 3], true, 'bool'),
    noteGroup: Int32Array.from({ length: B }, (_, i) => i),
    size: B,
  };
}

function close(got: ArrayLike<number>, want: ArrayLike<number>, tol: number, what: string): void {
  assert.equal(got.length, want.length, `${what}: length`);
  for (let i = 0; i < want.length; i++) {
    assert.ok(Math.abs((got[i] as number) - (want[i] as number)) <= tol, `${what}[${i}]: ${got[i]} vs ${want[i]}`);
  }
}

function rowNorms(t: Tensor): number[] {
  return t.norm(2, 1).toNumbers();
}

describe('Kemt (tiny preset)', () => {
  it('forward gives every named output with the contract shapes', () => {
    const m = kemt(1);
    const batch = makeBatch(4, 2);
    const out = tidy(() => m.forward(batch, { training: true, maeMaskRatio: 0.75, mlmProb: 0.15 }));
    assert.equal(m.name, 'kemt');
    for (const e of [out.imageEmb, out.textEmb, out.tabEmb]) {
      assert.ok(e !== null);
      assert.deepEqual(e.shape, [4, tiny.embedDim]);
      close(rowNorms(e), [1, 1, 1, 1], 1e-5, 'unit rows');
    }
    assert.deepEqual(out.logitScale.shape, []);
    close([out.logitScale.item()], [Math.log(1 / 0.07)], 1e-6, 'logit scale init');
    assert.deepEqual(out.fused?.shape, [4, tiny.fusion.width]);
    assert.deepEqual(out.icdrLogits?.shape, [4, 5]);
    assert.deepEqual(out.sdrgLogits?.shape, [4, 5]);
    assert.deepEqual(out.mae?.pred.shape, [4, 16, 8 * 8 * 3]);
    assert.deepEqual(out.mae?.target.shape, [4, 16, 192]);
    assert.deepEqual(out.mae?.mask.toNumbers().reduce((a, b) => a + b, 0), 4 * 12, '75% of 16 patches masked per sample');
    // the head runs on the selected positions only: (M, V) logits over M labels, none of them -100
    const M = out.mlm?.labels.shape[0] as number;
    assert.ok(M > 0 && M < 4 * 9, `selected positions: ${M} of 36`);
    assert.deepEqual(out.mlm?.logits.shape, [M, V]);
    assert.ok(out.mlm?.labels.toNumbers().every((id) => id >= 0 && id < V), 'labels are real ids');
    const off = tidy(() => m.forward(batch, EVAL));
    assert.equal(off.mae, null);
    assert.equal(off.mlm, null);
    disposeAll([out, off, batch]);
    m.dispose();
  });

  it('MLM on the selected positions only equals the full (B, L, V) loss with -100 ignored', () => {
    const m = kemt(3);
    tidy(() => {
      manualSeed(5);
      const D = m.mlmHead.transform.outFeatures;
      const h = Tensor.randn([3, 7, D]); // (B, L, D) hidden states
      const labels = Tensor.from([-100, 4, -100, -100, 9, 1, -100, 2, -100, -100, -100, -100, -100, 59, 0, -100, -100, 3, -100, -100, -100], [21], 'int64');
      const pos = selectedPositions(labels);
      assert.deepEqual(pos.toNumbers(), [1, 4, 5, 7, 13, 14, 17]);
      const word = m.text.embeddings.word.weight;
      const full = crossEntropy(m.mlmHead.forward(h, word).reshape([21, V]), labels, { ignoreIndex: -100 }).item();
      const sel = m.mlmHead.forward(h.reshape([21, D]).indexSelect(0, pos), word); // (7, V)
      const part = crossEntropy(sel, labels.indexSelect(0, pos)).item();
      close([part], [full], 1e-6, 'selected-only MLM loss');
    });
    m.dispose();
  });

  it('same seed -> identical towers and outputs; another seed differs', () => {
    const batch = makeBatch(3, 5);
    const encode = (seed: number): number[][] => {
      const m = kemt(seed);
      const r = [
        m.encodeImage(batch.images as Tensor).toNumbers(),
        m.encodeText(batch.tokenIds as Tensor, batch.attentionMask).toNumbers(),
        m.encodeTabular(batch.tabular as Tensor).toNumbers(),
        m.grade(batch).icdr.toNumbers(),
      ];
      m.dispose();
      return r;
    };
    const a = encode(21);
    assert.deepEqual(encode(21), a);
    const c = encode(22);
    for (let i = 0; i < a.length; i++) assert.notDeepEqual(c[i], a[i]);
    disposeAll(batch);
  });

  it('padding does not change the text embedding ([CLS] of padded = unpadded)', () => {
    const m = kemt(3);
    const real = [2, 17, 23, 9, 3];
    const a = m.encodeText(Tensor.from(real, [1, 5], 'int64'), Tensor.ones([1, 5], 'int64'));
    const padded = Tensor.from([...real, 0, 0, 0], [1, 8], 'int64');
    const b = m.encodeText(padded, Tensor.from([1, 1, 1, 1, 1, 0, 0, 0], [1, 8], 'int64'));
    close(b.toNumbers(), a.toNumbers(), 1e-5, 'padded vs unpadded');
    // Garbage in the padded slots changes nothing either.
    const junk = m.encodeText(Tensor.from([...real, 40, 41, 42], [1, 8], 'int64'), Tensor.from([1, 1, 1, 1, 1, 0, 0, 0], [1, 8], 'int64'));
    close(junk.toNumbers(), a.toNumbers(), 1e-5, 'junk in padding');
    // Batched with a longer row: same again.
    const two = m.encodeText(Tensor.from([...real, 0, 0, 0, 2, 5, 6, 7, 8, 9, 10, 3], [2, 8], 'int64'),
      Tensor.from([1, 1, 1, 1, 1, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1], [2, 8], 'int64'));
    close(two.toNumbers().slice(0, tiny.embedDim), a.toNumbers(), 1e-5, 'batched');
    m.dispose();
  });

  it("text.pooling 'mean': the mean of the real tokens' outputs, blind to padding", () => {
    manualSeed(5);
    const cfg = JSON.parse(JSON.stringify(tiny)) as typeof tiny;
    cfg.text.pooling = 'mean';
    const m = buildModel(cfg, { vocabSize: V, tabularDim: F }) as Kemt;
    m.train(false);
    const real = [2, 17, 23, 9, 3];
    const ids = Tensor.from(real, [1, 5], 'int64');
    const seq = m.text.forward(ids, null).toNumbers(); // (1, 5, D) row-major
    const D = cfg.text.width;
    const want = Array.from({ length: D }, (_, d) => real.reduce((s, _t, t) => s + (seq[t * D + d] as number), 0) / real.length);
    const cls = seq.slice(0, D);
    const got = m.text.pooled(ids, Tensor.ones([1, 5], 'int64')).toNumbers();
    close(got, want, 1e-5, 'mean of token outputs');
    assert.ok(got.some((v, d) => Math.abs(v - (cls[d] as number)) > 1e-3), 'mean pooling differs from the [CLS] output');
    // Padding (and junk in it) changes nothing; batched with a longer row, the same again.
    const padMask = Tensor.from([1, 1, 1, 1, 1, 0, 0, 0], [1, 8], 'int64');
    close(m.text.pooled(Tensor.from([...real, 40, 41, 42], [1, 8], 'int64'), padMask).toNumbers(), want, 1e-5, 'junk in padding');
    const two = m.text.pooled(Tensor.from([...real, 0, 0, 0, 2, 5, 6, 7, 8, 9, 10, 3], [2, 8], 'int64'),
      Tensor.from([1, 1, 1, 1, 1, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1], [2, 8], 'int64'));
    close(two.toNumbers().slice(0, D), want, 1e-5, 'batched');
    m.dispose();
  });

  it("image.pooling 'mean': the photo's vector is the mean of the patch tokens' outputs, and the heatmap their rollout row", () => {
    manualSeed(6);
    const cfg = JSON.parse(JSON.stringify(tiny)) as typeof tiny;
    cfg.image.pooling = 'mean';
    const m = buildModel(cfg, { vocabSize: V, tabularDim: F }) as Kemt;
    m.train(false);
    const images = Tensor.randn([2, cfg.image.channels, cfg.image.imageSize, cfg.image.imageSize]);
    const tokens = m.image.forward(images); // (2, 1 + Np, D)
    const Np = m.image.numPatches;
    const D = cfg.image.width;
    const seq = tokens.toNumbers();
    const want = Array.from({ length: 2 * D }, (_, k) => {
      const b = Math.floor(k / D);
      const d = k % D;
      let s = 0;
      for (let t = 1; t <= Np; t++) s += seq[(b * (1 + Np) + t) * D + d] as number;
      return s / Np;
    });
    const got = m.image.pooled(images).toNumbers();
    close(got, want, 1e-5, 'mean of patch outputs');
    assert.ok(got.some((v, k) => Math.abs(v - (seq[Math.floor(k / D) * (1 + Np) * D + (k % D)] as number)) > 1e-3), 'differs from the [CLS] output');
    const heat = m.image.attentionRollout(images).toNumbers();
    assert.equal(heat.length, 2 * Np);
    close([heat.slice(0, Np).reduce((a, b) => a + b, 0)], [1], 1e-5, 'heatmap sums to 1');
    m.dispose();
  });

  it('any subset of modalities grades with finite probabilities; absent = not presented', () => {
    const m = kemt(4);
    const batch = makeBatch(3, 6);
    for (let mask = 0; mask < 8; mask++) {
      const on = [mask & 1, mask & 2, mask & 4].map((v) => v !== 0);
      const nulled: Batch = {
        ...batch,
        images: on[0] ? batch.images : null,
        tokenIds: on[1] ? batch.tokenIds : null,
        attentionMask: on[1] ? batch.attentionMask : null,
        tabular: on[2] ? batch.tabular : null,
      };
      const g = m.grade(nulled);
      for (const p of [g.icdr, g.sdrg]) {
        assert.deepEqual(p.shape, [3, 5]);
        const v = p.toNumbers();
        assert.ok(v.every((x) => Number.isFinite(x) && x >= 0), `subset ${on}: finite`);
        close([0, 1, 2].map((r) => v.slice(r * 5, r * 5 + 5).reduce((s, x) => s + x, 0)), [1, 1, 1], 1e-5, 'rows sum to 1');
      }
      // Same result when the data is there but batch.present says absent (modality dropout).
      const present = Tensor.from(Array.from({ length: 9 }, (_, i) => on[i % 3] as boolean), [3, 3], 'bool');
      const masked = m.grade({ ...batch, present });
      close(masked.icdr.toNumbers(), g.icdr.toNumbers(), 1e-5, `subset ${on}: present mask = null inputs`);
      disposeAll([g, masked, present]);
    }
    disposeAll(batch);
    m.dispose();
  });

  it('stateDict -> new model -> loadStateDict gives identical outputs', () => {
    const a = kemt(7);
    const b = kemt(8);
    const batch = makeBatch(2, 9);
    const outs = (m: Kemt): number[][] => tidy(() => {
      const o = m.forward(batch, EVAL);
      return [o.imageEmb, o.textEmb, o.tabEmb, o.icdrLogits, o.sdrgLogits, o.fused].map((t) => (t as Tensor).toNumbers());
    });
    assert.notDeepEqual(outs(b), outs(a));
    b.loadStateDict(a.stateDict());
    assert.deepEqual(outs(b), outs(a));
    disposeAll(batch);
    a.dispose();
    b.dispose();
  });

  it('imageAttention: rollout weights over patches, rows sum to 1', () => {
    const m = kemt(10);
    const img = Tensor.randn([2, 3, 32, 32]);
    const w = m.imageAttention(img);
    assert.deepEqual(w.shape, [2, 16]);
    const v = w.toNumbers();
    assert.ok(v.every((x) => x > 0));
    close([v.slice(0, 16).reduce((a, b) => a + b), v.slice(16).reduce((a, b) => a + b)], [1, 1], 1e-5, 'sums');
    m.dispose();
  });

  it('errors name the problem', () => {
    assert.throws(() => buildModel(loadPreset('paper'), { vocabSize: 100, tabularDim: 4 }), /text\.vocabSize is 28996 but the tokenizer has 100 tokens/);
    const m = kemt(11);
    assert.throws(() => m.encodeTabular(Tensor.zeros([2, 5])), /TabularEncoder: input has shape \[2, 5\]; expected \(B, 12\)/);
    assert.throws(() => m.encodeImage(Tensor.zeros([2, 3, 64, 64])), /images have shape \[2, 3, 64, 64\]; expected \[B, 3, 32, 32\]/);
    m.dispose();
  });

  it('forward + backward in tidy leaves the live-tensor count flat', () => {
    const m = kemt(12);
    const batch = makeBatch(2, 13);
    const step = (): void => {
      const out = tidy(() => m.forward(batch, { training: true, maeMaskRatio: 0.5, mlmProb: 0.3 }));
      const loss = tidy(() => (out.icdrLogits as Tensor).pow(2).mean().add((out.mae as { pred: Tensor }).pred.mean())
        .add((out.mlm as { logits: Tensor }).logits.mean()).add((out.imageEmb as Tensor).sum().mul(out.logitScale)));
      loss.backward();
      disposeAll([out, loss]);
    };
    step();
    const live = liveTensors();
    for (let i = 0; i < 3; i++) step();
    assert.equal(liveTensors(), live);
    assert.equal(m.logitScale.isDisposed, false, 'disposing outputs leaves parameters alive');
    disposeAll(batch);
    m.dispose();
  });

  it('one AdamW step lowers the grading loss; decay only on matrices', () => {
    const m = kemt(14);
    const batch = makeBatch(4, 15);
    const params = m.namedParameters();
    const decay = [...params].filter(([k, p]) => m.decays(k, p)).map(([, p]) => p);
    const rest = [...params].filter(([k, p]) => !m.decays(k, p)).map(([, p]) => p);
    assert.equal(m.decays('image.posEmb', params.get('image.posEmb') as Tensor), false);
    assert.equal(m.decays('logitScale', params.get('logitScale') as Tensor), false);
    assert.equal(m.decays('text.layers.0.norm1.weight', params.get('text.layers.0.norm1.weight') as Tensor), false);
    assert.equal(m.decays('fusion.blocks.0.attn.query.weight', params.get('fusion.blocks.0.attn.query.weight') as Tensor), true);
    const opt = new AdamW([{ params: decay, weightDecay: 0.05 }, { params: rest, weightDecay: 0 }], { lr: 1e-3 });
    const loss = (): Tensor => tidy(() => {
      const o = m.forward(batch, EVAL);
      return crossEntropy(o.icdrLogits as Tensor, batch.icdr as Tensor).add(crossEntropy(o.sdrgLogits as Tensor, batch.sdrg as Tensor));
    });
    const l0 = loss();
    l0.backward();
    opt.step();
    opt.zeroGrad();
    const l1 = loss();
    assert.ok(l1.item() < l0.item(), `${l1.item()} < ${l0.item()}`);
    disposeAll([l0, l1, batch]);
    m.dispose();
  });
});

describe('ClipBaseline (tiny preset)', () => {
  it('has only the two towers, projections and the logit scale; other outputs are null', () => {
    manualSeed(1);
    const clip = buildModel({ ...tiny, architecture: 'clip' }, { vocabSize: V, tabularDim: F });
    assert.ok(clip instanceof ClipBaseline);
    const names = [...clip.namedParameters().keys()];
    assert.ok(names.every((n) => /^(logitScale|image\.|text\.|imageProj\.|textProj\.)/.test(n)), names.join(','));
    const batch = makeBatch(2, 3);
    const out = tidy(() => clip.forward(batch, { training: true, maeMaskRatio: 0.75, mlmProb: 0.15 }));
    assert.deepEqual(out.imageEmb?.shape, [2, tiny.embedDim]);
    assert.deepEqual(out.textEmb?.shape, [2, tiny.embedDim]);
    for (const k of ['tabEmb', 'fused', 'icdrLogits', 'sdrgLogits', 'mae', 'mlm'] as const) assert.equal(out[k], null, k);
    assert.throws(() => clip.encodeTabular(Tensor.zeros([1, F])), /ClipBaseline has no tabular tower/);
    // Same seed: Kemt's shared towers start identical to the baseline's (same registration order).
    const k = kemt(1);
    close(k.encodeImage(batch.images as Tensor).toNumbers(), clip.encodeImage(batch.images as Tensor).toNumbers(), 0, 'same image tower');
    disposeAll([out, batch]);
    clip.dispose();
    k.dispose();
  });
});

describe('Kemt: the photo alone, and side passes on part of the batch', () => {
  it('a photo alone at inference is graded by the image-only heads; with other inputs by the fusion', () => tidy(() => {
    const m = kemt(21);
    const b = makeBatch(6, 22);
    const alone = m.forward({ ...b, tokenIds: null, attentionMask: null, tabular: null }, EVAL);
    assert.deepEqual(alone.imageIcdrLogits?.shape, [6, 5]);
    close((alone.icdrLogits as Tensor).toNumbers(), (alone.imageIcdrLogits as Tensor).toNumbers(), 0, 'icdr = image head');
    close((alone.sdrgLogits as Tensor).toNumbers(), (alone.imageSdrgLogits as Tensor).toNumbers(), 0, 'sdrg = image head');
    const all = m.forward(b, EVAL);
    const fused = m.icdrHead.forward(all.fused as Tensor).toNumbers();
    close((all.icdrLogits as Tensor).toNumbers(), fused, 1e-6, 'icdr = fused head with every input');
    // In training the fused head always grades (the image-only heads are trained by their own loss parts).
    const tr = m.forward({ ...b, tokenIds: null, attentionMask: null, tabular: null }, { training: true, maeMaskRatio: 0, mlmProb: 0 });
    close((tr.icdrLogits as Tensor).toNumbers(), m.icdrHead.forward(tr.fused as Tensor).toNumbers(), 1e-6, 'training: fused head');
    m.dispose();
  }));

  it('reconFraction runs MAE and MLM on the first ceil(f * B) samples only', () => tidy(() => {
    const m = kemt(23);
    const b = makeBatch(8, 24);
    const out = m.forward(b, { training: true, maeMaskRatio: 0.5, mlmProb: 0.5, reconFraction: 0.25 });
    assert.equal(out.mae?.pred.shape[0], 2);
    assert.equal(out.mae?.target.shape[0], 2);
    assert.deepEqual(out.imageEmb?.shape[0], 8, 'the embeddings still cover the whole batch');
    const full = m.forward(b, { training: true, maeMaskRatio: 0.5, mlmProb: 0.5 });
    assert.equal(full.mae?.pred.shape[0], 8);
    assert.throws(() => m.forward(b, { training: true, maeMaskRatio: 0.5, mlmProb: 0, reconFraction: 0 }), /reconFraction is 0/);
    m.dispose();
  }));
});

