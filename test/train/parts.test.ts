// Schedule values, parameter groups, config validation, modality dropout, derived RNG streams, bf16 autocast and its guards.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor, tidy, linear } from '../../src/tensor/index.js';
import { lrAt, paramGroups, resolveTrainConfig, DEFAULT_TRAIN_CONFIG, dropModalities, applyModalityDropout, epochRng, dropoutRng, checkPrecision } from '../../src/train/index.js';
import { autocastDevice, withAutocast } from '../../src/train/precision.js';
import { Rng } from '../../src/data/rng.js';
import { TinyModel, collate, makeSamples } from './tiny-model.js';

const close = (a: number, b: number, tol = 1e-15): void => assert.ok(Math.abs(a - b) <= tol, `${a} != ${b}`);

test('lrAt: warmup then cosine to the floor, at exact points', () => {
  const o = { lr: 1e-3, warmupSteps: 10, totalSteps: 110, minLrRatio: 0.1 };
  close(lrAt(0, o), 1e-4); // (0 + 1) / 10
  close(lrAt(4, o), 5e-4);
  close(lrAt(9, o), 1e-3); // end of warmup: peak
  close(lrAt(10, o), 1e-3); // cosine progress 0
  close(lrAt(35, o), 1e-4 + 0.5 * (1 + Math.SQRT1_2) * 9e-4); // progress 1/4: cos(pi/4)
  close(lrAt(60, o), 5.5e-4); // half-way: min + (max - min) / 2
  close(lrAt(110, o), 1e-4);
  close(lrAt(500, o), 1e-4);
  close(lrAt(0, { lr: 2, warmupSteps: 0, totalSteps: 4, minLrRatio: 0 }), 2);
  close(lrAt(2, { lr: 2, warmupSteps: 0, totalSteps: 4, minLrRatio: 0 }), 1);
  close(lrAt(3, { lr: 2, warmupSteps: 5, totalSteps: 4, minLrRatio: 0 }), 2 * 4 / 5); // warmup longer than the run
  assert.throws(() => lrAt(-1, o), /step must be an integer >= 0, got -1/);
  assert.throws(() => lrAt(0, { ...o, minLrRatio: 2 }), /minLrRatio must be in \[0, 1\], got 2/);
});

test('paramGroups: matrices decay; biases, scales and embeddings do not; frozen left out', () => tidy(() => {
  const m = new TinyModel(1);
  m.namedParameters().get('sdrg.head.bias')!.requireGrad(false);
  const g = paramGroups(m, 0.05);
  assert.deepEqual(g.decay, ['image.proj.weight', 'text.proj.weight', 'tabular.proj.weight', 'mae.decoder.weight', 'mlm.head.weight', 'icdr.head.weight', 'sdrg.head.weight']);
  assert.deepEqual(g.noDecay, ['image.proj.bias', 'text.tokenEmbedding', 'text.proj.bias', 'tabular.proj.bias', 'logitScale', 'mae.decoder.bias', 'mlm.head.bias', 'icdr.head.bias']);
  assert.deepEqual(g.frozen, ['sdrg.head.bias']);
  assert.deepEqual(g.groups.map((x) => [x.params.length, x.weightDecay]), [[7, 0.05], [8, 0]]);
  assert.deepEqual(g.lrScales, [1, 1]);
  assert.equal(g.params.length, 15);
}));

test('paramGroups with lrScale: each multiplier its own decay / no-decay pair, in order of first appearance; unknown modules named', () => tidy(() => {
  const m = new TinyModel(1);
  const g = paramGroups(m, 0.05, { text: 0.5, image: 2, icdr: 0 });
  // image.* first (2), then text.* (0.5), then the rest (1), then icdr.* (0); each split by decay.
  assert.deepEqual(g.lrScales, [2, 2, 0.5, 0.5, 1, 1, 0, 0]);
  assert.deepEqual(g.groups.map((x) => [x.params.length, x.weightDecay]),
    [[1, 0.05], [1, 0], [1, 0.05], [2, 0], [4, 0.05], [5, 0], [1, 0.05], [1, 0]]);
  const named = m.namedParameters();
  assert.ok(g.groups[0]!.params[0] === named.get('image.proj.weight') && g.groups[7]!.params[0] === named.get('icdr.head.bias'));
  assert.equal(g.params.length, 16);
  assert.throws(() => paramGroups(m, 0.05, { imgae: 2 }), /train\.lrScale: model 'tiny-test' has no module 'imgae'; its modules: image, text, tabular, logitScale, mae, mlm, icdr, sdrg$/);
  assert.throws(() => paramGroups(m, 0.05, { image: Number.NaN }), /train\.lrScale\.image must be a finite number >= 0, got NaN/);
  assert.throws(() => resolveTrainConfig({ lrScale: { image: -1 } }), /'lrScale\.image' must be a number >= 0, got -1/);
  assert.deepEqual(resolveTrainConfig({ lrScale: { image: 2 } }).lrScale, { image: 2 });
}));

test('resolveTrainConfig: defaults, unknown keys and bad values named', () => {
  const c = resolveTrainConfig({ accumSteps: 2, modalityDropout: { text: 0.3 } });
  assert.equal(c.accumSteps, 2);
  assert.deepEqual(c.modalityDropout, { image: 0, text: 0.3, tabular: 0 });
  assert.throws(() => resolveTrainConfig({ learningRate: 1 }), /train config: unknown key 'learningRate'; valid keys: seed, epochs, maxSteps, lr,/);
  assert.throws(() => resolveTrainConfig({ accumSteps: 0 }), /train config: 'accumSteps' must be an integer >= 1, got 0/);
  assert.throws(() => resolveTrainConfig({ modalityDropout: { audio: 0.1 } }), /unknown key 'modalityDropout\.audio'; valid keys of 'modalityDropout': image, text, tabular$/);
  assert.throws(() => resolveTrainConfig({ modalityDropout: { image: 1 } }), /'modalityDropout\.image' must be a number in \[0, 1\), got 1/);
  assert.throws(() => resolveTrainConfig({ earlyStop: { metric: 'k', mode: 'up', patience: 1 } }), /'earlyStop\.mode' must be 'max' or 'min', got "up"/);
  assert.throws(() => resolveTrainConfig({ earlyStop: { metric: 'k', mode: 'max', patiense: 1 } }), /unknown key 'earlyStop\.patiense'; valid keys of 'earlyStop': metric, mode, patience/);
  assert.throws(() => resolveTrainConfig({ earlyStop: { mode: 'max' } }), /'earlyStop\.metric' is missing; expected a non-empty string/);
  assert.throws(() => resolveTrainConfig({ maxSteps: 'all' }), /'maxSteps' must be null or an integer >= 1, got "all"/);
  assert.throws(() => resolveTrainConfig({ precision: 'fp16' }), /'precision' must be 'float32' or 'bfloat16', got "fp16"/);
  assert.deepEqual(resolveTrainConfig({ earlyStop: { metric: 'icdr_kappa', mode: 'max' } }).earlyStop, { metric: 'icdr_kappa', mode: 'max', patience: 0 });
  // Keys come out in schema order whatever the input's (checkpoints compare configs as JSON).
  assert.deepEqual(Object.keys(resolveTrainConfig({ progress: 'off', seed: 2 })), Object.keys(DEFAULT_TRAIN_CONFIG));
});

test('dropModalities: seeded, a subset of present, never all absent, rates near p', () => {
  const b = 2000;
  const present = new Uint8Array(b * 3).fill(1);
  for (let i = 0; i < b; i += 4) present[i * 3 + 2] = 0; // every 4th sample has no tabular
  const p = { image: 0.5, text: 0.3, tabular: 0.6 };
  const a = dropModalities(present, b, p, new Rng(9));
  assert.deepEqual(a, dropModalities(present, b, p, new Rng(9)));
  const kept = [0, 0, 0];
  for (let i = 0; i < b; i++) {
    let any = 0;
    for (let j = 0; j < 3; j++) {
      assert.ok(a[i * 3 + j]! <= present[i * 3 + j]!, `sample ${i} gained modality ${j}`);
      any += a[i * 3 + j]!;
      kept[j]! += a[i * 3 + j]!;
    }
    assert.ok(any >= 1, `sample ${i} has no modality`);
  }
  // Kept fraction ~ (1 - p) plus the rescue of all-dropped samples (small here): loose bounds.
  assert.ok(kept[0]! / b > 0.45 && kept[0]! / b < 0.6, `image kept ${kept[0]! / b}`);
  assert.ok(kept[1]! / b > 0.65 && kept[1]! / b < 0.8, `text kept ${kept[1]! / b}`);
  assert.throws(() => dropModalities(new Uint8Array(3), 1, p, new Rng(1)), /sample 0 of the batch presents no modality/);
});

test('dropModalities with imageOnly: that share of samples shows the photo alone; 0 keeps the old draws', () => {
  const b = 4000;
  const present = new Uint8Array(b * 3).fill(1);
  for (let i = 0; i < b; i += 5) present[i * 3] = 0; // every 5th sample has no image: never photo-only
  const p = { image: 0, text: 0, tabular: 0 };
  const a = dropModalities(present, b, p, new Rng(4), 0.3);
  let photoOnly = 0;
  for (let i = 0; i < b; i++) {
    const row = [a[i * 3]!, a[i * 3 + 1]!, a[i * 3 + 2]!];
    if (present[i * 3] === 0) assert.deepEqual(row, [0, 1, 1], `sample ${i} without an image keeps its other inputs`);
    else if (row[0] === 1 && row[1] === 0 && row[2] === 0) photoOnly++;
    else assert.deepEqual(row, [1, 1, 1], `sample ${i}: p = 0 drops nothing else`);
  }
  const rate = photoOnly / (b * 0.8);
  assert.ok(rate > 0.27 && rate < 0.33, `photo-only share ${rate}, expected ~0.3`);
  // imageOnly = 0 draws exactly as before (resumed and old runs keep their streams).
  const q = { image: 0.5, text: 0.3, tabular: 0.6 };
  assert.deepEqual(dropModalities(present, b, q, new Rng(9), 0), dropModalities(present, b, q, new Rng(9)));
});

test('applyModalityDropout: null inputs count as absent; p = 0 returns the batch itself', () => tidy(() => {
  const batch = collate(makeSamples(6, 1));
  assert.equal(applyModalityDropout(batch, { image: 0, text: 0, tabular: 0 }, new Rng(1)), batch);
  const noTab = { ...batch, tabular: null };
  const d = applyModalityDropout(noTab, { image: 0.5, text: 0.5, tabular: 0.5 }, new Rng(2));
  assert.deepEqual(d.present.shape, [6, 3]);
  assert.equal(d.present.dtype, 'bool');
  const f = d.present.toNumbers();
  for (let i = 0; i < 6; i++) {
    assert.equal(f[i * 3 + 2], 0);
    assert.ok(f[i * 3]! + f[i * 3 + 1]! >= 1);
  }
}));

test('derived streams: same (seed, index) same draws; different indices differ', () => {
  assert.equal(epochRng(5, 3).next32(), epochRng(5, 3).next32());
  assert.notEqual(epochRng(5, 3).next32(), epochRng(5, 4).next32());
  assert.notEqual(epochRng(5, 3).next32(), dropoutRng(5, 3).next32());
  assert.notEqual(epochRng(5, 3).next32(), epochRng(6, 3).next32());
});

test("bf16 autocast: linear runs in bfloat16 inside the scope only; checkPrecision guards the weights", () => tidy(() => {
  const x = Tensor.randn([4, 8]);
  const w = Tensor.randn([3, 8]).requireGrad();
  checkPrecision('bfloat16', [w]);
  assert.equal(autocastDevice('float32', [w]), null);
  assert.equal(autocastDevice('bfloat16', [w]), 'cpu');
  const y = withAutocast('cpu', () => linear(x, w));
  assert.equal(y.dtype, 'bfloat16');
  assert.equal(linear(x, w).dtype, 'float32', 'autocast is off again after the scope');
  y.to('float32').sum().backward();
  assert.equal(w.grad!.dtype, 'float32', 'gradients reach the float32 weights');
  assert.throws(() => checkPrecision('bfloat16', [Tensor.zeros([2], 'bfloat16').requireGrad()]), /float32 master weights/);
}));
