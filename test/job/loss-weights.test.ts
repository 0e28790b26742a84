// The loss weights a run trains with come from the model's capabilities: CLIP keeps image-text
// InfoNCE only; Kemt keeps every part, minus the tabular pairs when the data has no tabular fields.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ClipBaseline, Kemt } from '../../src/models/index.js';
import { modelLossWeights } from '../../src/job/train-run.js';
import { DEFAULT_RUN_CONFIG } from '../../src/run/index.js';

test('modelLossWeights: what each model trains with', () => {
  const w = { imageText: 1, imageTabular: 0.5, textTabular: 0.25, mae: 0.5, mlm: 0.4, icdr: 1, sdrg: 0.8, icdrImage: 1, sdrgImage: 0.5 };
  assert.deepEqual(modelLossWeights(Kemt.capabilities, w, 12), w);
  assert.deepEqual(modelLossWeights(Kemt.capabilities, w, 0), { ...w, imageTabular: 0, textTabular: 0 });
  const clip = { imageText: 1, imageTabular: 0, textTabular: 0, mae: 0, mlm: 0, icdr: 0, sdrg: 0, icdrImage: 0, sdrgImage: 0 };
  assert.deepEqual(modelLossWeights(ClipBaseline.capabilities, w, 12), clip);
  assert.deepEqual(modelLossWeights(ClipBaseline.capabilities, w, 0), clip);
  assert.deepEqual(modelLossWeights(Kemt.capabilities, DEFAULT_RUN_CONFIG.loss.weights, 3), DEFAULT_RUN_CONFIG.loss.weights);
});
