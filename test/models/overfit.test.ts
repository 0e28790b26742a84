// Learning test on the real model: 100 steps on 8 samples drive every loss part down and the grade
// heads to 100% training accuracy (tiny preset, the project's own objective and AdamW groups).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor, tidy, manualSeed, AdamW, clipGradNorm, noGrad } from '../../src/tensor/index.js';
import { buildModel, loadPreset } from '../../src/models/index.js';
import { Objective } from '../../src/losses/index.js';
import { paramGroups } from '../../src/train/index.js';
import type { Batch } from '../../src/models/types.js';

function fixedBatch(): Batch {
  manualSeed(123);
  const B = 8, L = 16, V = 60;
  const grades = [0, 1, 2, 3, 4, 0, 2, 4];
  const ids = new BigInt64Array(B * L);
  for (let i = 0; i < B; i++) {
    ids[i * L] = 2n; // [CLS]
    for (let j = 1; j < L - 1; j++) ids[i * L + j] = BigInt(5 + ((i * 7 + j * 3) % (V - 5)));
    ids[i * L + L - 1] = 3n; // [SEP]
  }
  return {
    images: Tensor.randn([B, 3, 32, 32]),
    tokenIds: Tensor.from(ids, [B, L]),
    attentionMask: Tensor.ones([B, L], 'int64'),
    tabular: Tensor.randn([B, 10]),
    icdr: Tensor.from(BigInt64Array.from(grades.map(BigInt)), [B]),
    sdrg: Tensor.from(BigInt64Array.from(grades.map((g) => BigInt((g + 1) % 5))), [B]),
    present: Tensor.ones([B, 3], 'bool'),
    noteGroup: Int32Array.from({ length: B }, (_, i) => i),
    size: B,
  };
}

test('Kemt (tiny) overfits 8 samples in 100 steps: every loss part falls, grade accuracy 100%', () => {
  const cfg = loadPreset('tiny');
  cfg.text.vocabSize = 60;
  manualSeed(7);
  const model = buildModel(cfg, { vocabSize: 60, tabularDim: 10 });
  const batch = fixedBatch();
  const objective = new Objective({});
  const g = paramGroups(model, 0.0);
  const opt = new AdamW(g.groups, { lr: 3e-3 });
  const fwd = { training: true, maeMaskRatio: 0.5, mlmProb: 0.3 };
  const partsAt = (): Record<string, number> => tidy(() => {
    manualSeed(99); // same masks for the before/after comparison
    return objective.compute(model.forward(batch, fwd), batch).parts;
  });
  const first = partsAt();
  for (let s = 0; s < 100; s++) {
    tidy(() => {
      objective.compute(model.forward(batch, fwd), batch).total.backward();
      clipGradNorm(g.params, 1.0);
      opt.step();
      opt.zeroGrad();
    });
  }
  const last = partsAt();
  for (const k of Object.keys(first)) {
    assert.ok((last[k] as number) < (first[k] as number) * 0.85, `loss part ${k}: ${first[k]} -> ${last[k]}`);
  }
  assert.deepEqual(Object.keys(first).sort(), ['icdr', 'imageTabular', 'imageText', 'mae', 'mlm', 'sdrg', 'textTabular']);
  const acc = noGrad(() => tidy(() => {
    const out = model.forward(batch, { training: false, maeMaskRatio: 0, mlmProb: 0 });
    const hit = (logits: Tensor, y: Tensor): number => logits.argmax(-1).eq(y).to('float32').mean().item();
    return { icdr: hit(out.icdrLogits!, batch.icdr!), sdrg: hit(out.sdrgLogits!, batch.sdrg!) };
  }));
  assert.equal(acc.icdr, 1, 'ICDR training accuracy');
  assert.equal(acc.sdrg, 1, 'SDRG training accuracy');
});
