// MAE masking/patchify/decoder and MLM token masking: exact layouts, invariants, rates.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { manualSeed, Tensor, tidy } from '../../src/tensor/index.js';
import { loadPreset } from '../../src/models/presets.js';
import { MaeDecoder, numVisible, patchify, randomMasking } from '../../src/models/mae.js';
import { maskTokens, PROJECT_SPECIAL_IDS } from '../../src/models/mlm.js';
import { VisionTransformer } from '../../src/models/vit.js';

const tiny = loadPreset('tiny');

function rowsOf(t: Tensor): number[][] {
  const [r, c] = t.shape as [number, number];
  const v = t.toNumbers();
  return Array.from({ length: r }, (_, i) => v.slice(i * c, i * c + c));
}

describe('MAE', () => {
  it('numVisible = floor(Np * (1 - ratio)), at least 1', () => {
    assert.equal(numVisible(16, 0.75), 4);
    assert.equal(numVisible(196, 0.75), 49);
    assert.equal(numVisible(4, 0.99), 1);
    assert.throws(() => numVisible(16, 1), /MAE mask ratio is 1; expected a number in \[0, 1\)/);
  });

  it('randomMasking: keep, idsRestore and mask agree; seeded', () => {
    manualSeed(3);
    const m = randomMasking(3, 10, 0.6);
    assert.deepEqual(m.keep.shape, [3, 4]);
    const keep = rowsOf(m.keep);
    const restore = rowsOf(m.idsRestore);
    const mask = rowsOf(m.mask);
    for (let b = 0; b < 3; b++) {
      const k = keep[b] as number[];
      const r = restore[b] as number[];
      assert.equal(new Set(k).size, 4, 'distinct visible patches');
      assert.deepEqual([...r].sort((x, y) => x - y), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 'idsRestore is a permutation');
      k.forEach((p, j) => assert.equal(r[p], j, 'visible token j goes back to patch keep[j]'));
      (mask[b] as number[]).forEach((v, p) => assert.equal(v, k.includes(p) ? 0 : 1));
      assert.ok(r.every((pos, p) => (k.includes(p) ? pos < 4 : pos >= 4)));
    }
    manualSeed(3);
    assert.deepEqual(randomMasking(3, 10, 0.6).keep.toNumbers(), m.keep.toNumbers());
  });

  it('patchify: patches row-major, pixels row-major, channels last', () => {
    const vals = Array.from({ length: 3 * 4 * 4 }, (_, i) => {
      const c = Math.floor(i / 16);
      const y = Math.floor((i % 16) / 4);
      return c * 100 + y * 10 + (i % 4);
    });
    const p = patchify(Tensor.from(vals, [1, 3, 4, 4]), 2);
    assert.deepEqual(p.shape, [1, 4, 12]);
    const want: number[] = [];
    for (const [py, px] of [[0, 0], [0, 1], [1, 0], [1, 1]] as const) {
      for (let y = 0; y < 2; y++) for (let x = 0; x < 2; x++) for (let c = 0; c < 3; c++) want.push(c * 100 + (py * 2 + y) * 10 + px * 2 + x);
    }
    assert.deepEqual(p.toNumbers(), want);
  });

  it('decoder unshuffle: a permuted visible order (ratio 0) predicts exactly as the identity order', () => {
    manualSeed(9);
    const vit = new VisionTransformer(tiny.image).eval();
    const dec = new MaeDecoder(tiny.mae, tiny.image.width, 16, 192).eval();
    const images = Tensor.randn([2, 3, 32, 32]);
    const pred = (keep: Tensor, restore: Tensor): number[] => tidy(() => dec.forward(vit.forward(images, keep), restore).toNumbers());
    const identity = Tensor.arange(0, 16, 1, 'int64').unsqueeze(0).expand([2, 16]).contiguous();
    const m = randomMasking(2, 16, 0);
    assert.notDeepEqual(m.keep.toNumbers(), identity.toNumbers(), 'the draw is a real permutation');
    const a = pred(identity, identity);
    const b = pred(m.keep, m.idsRestore);
    assert.equal(a.length, 2 * 16 * 192);
    a.forEach((v, i) => assert.ok(Math.abs(v - (b[i] as number)) < 1e-5, `pred[${i}]: ${v} vs ${b[i]}`));
    vit.dispose();
    dec.dispose();
  });
});

describe('MLM masking', () => {
  const S = PROJECT_SPECIAL_IDS; // PAD 0, CLS 2, SEP 3, MASK 4

  it('prob 1 selects exactly the real non-special tokens; labels -100 elsewhere', () => {
    const ids = Tensor.from([2, 10, 11, 3, 0, 0, 2, 12, 13, 14, 15, 3], [2, 6], 'int64');
    const mask = Tensor.from([1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 0, 0], [2, 6], 'int64'); // row 1: ids 15, 3 are padding here
    manualSeed(1);
    const { input, labels } = maskTokens(ids, mask, 1, S, 50);
    assert.deepEqual(labels.toNumbers(), [-100, 10, 11, -100, -100, -100, -100, 12, 13, 14, -100, -100]);
    const inp = input.toNumbers();
    [0, 3, 4, 5, 6, 10, 11].forEach((i) => assert.equal(inp[i], ids.toNumbers()[i], `position ${i} untouched`));
    assert.equal(input.dtype, 'int64');
    assert.equal(labels.dtype, 'int64');
    const none = maskTokens(ids, mask, 0, S, 50);
    assert.ok(none.labels.toNumbers().every((v) => v === -100));
    assert.deepEqual(none.input.toNumbers(), ids.toNumbers());
  });

  it('15% selected; of those 80% [MASK], 10% random, 10% kept; seeded', () => {
    const B = 64;
    const L = 64;
    const V = 1000;
    const ids = Tensor.from(Array.from({ length: B * L }, (_, i) => (i % L === 0 ? 2 : 10 + ((i * 7919) % (V - 10)))), [B, L], 'int64');
    const mask = Tensor.ones([B, L], 'int64');
    manualSeed(42);
    const r = maskTokens(ids, mask, 0.15, S, V);
    const orig = ids.toNumbers();
    const inp = r.input.toNumbers();
    const lab = r.labels.toNumbers();
    let sel = 0;
    let masked = 0;
    let kept = 0;
    let random = 0;
    lab.forEach((l, i) => {
      if (l === -100) {
        assert.equal(inp[i], orig[i]);
        return;
      }
      sel++;
      assert.equal(l, orig[i]);
      if (inp[i] === S.maskId) masked++;
      else if (inp[i] === orig[i]) kept++;
      else random++;
      assert.ok((inp[i] as number) >= 0 && (inp[i] as number) < V);
    });
    const eligible = B * (L - 1);
    assert.ok(Math.abs(sel / eligible - 0.15) < 0.02, `selected ${sel / eligible}`);
    assert.ok(Math.abs(masked / sel - 0.8) < 0.05, `[MASK] ${masked / sel}`);
    assert.ok(Math.abs(kept / sel - 0.1) < 0.04, `kept ${kept / sel}`);
    assert.ok(Math.abs(random / sel - 0.1) < 0.04, `random ${random / sel}`);
    manualSeed(42);
    assert.deepEqual(maskTokens(ids, mask, 0.15, S, V).input.toNumbers(), inp);
  });
});
