/** Embedding spread (1 - |mean row|) and the collapse warnings of the report. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { embeddingSpread, COLLAPSED_SPREAD } from '../../src/eval/metrics/spread.js';
import { evaluate } from '../../src/eval/evaluate.js';
import { retrievalSection } from '../../src/eval/report/details.js';
import type { EvalMeta, RawPredictions } from '../../src/eval/result.js';

test('embeddingSpread: 0 for identical rows, 1 for opposite ones, hand-worked in between; bad shapes are refused', () => {
  assert.equal(embeddingSpread(Float32Array.from([0.6, 0.8, 0.6, 0.8, 0.6, 0.8]), 2), 0);
  assert.equal(embeddingSpread(Float32Array.from([1, 0, -1, 0]), 2), 1);
  // (1,0) and (0,1): mean (0.5, 0.5), |mean| = 0.7071.
  assert.ok(Math.abs(embeddingSpread(Float32Array.from([1, 0, 0, 1]), 2) - (1 - Math.SQRT1_2)) < 1e-12);
  assert.throws(() => embeddingSpread(new Float32Array(3), 2), /3 values are not a whole number of rows of 2/);
});

const meta: EvalMeta = { model: 'm', kind: 'clip', protocol: 'honest', dataset: 'hand', split: 'test', checkpoint: null, config: null, seed: 1, wallTimeS: null };
const opts = { bootstrap: 2, seed: 1, ks: [1, 2], embedSample: 0, subgroupMinSize: 100 };

function preds(image: number[]): RawPredictions {
  return {
    imageIds: ['a', 'b', 'c', 'd'], patientIds: ['p1', 'p2', 'p3', 'p4'], noteGroups: Int32Array.from([0, 1, 2, 3]),
    icdr: null, sdrg: null, imageEmb: Float32Array.from(image), textEmb: Float32Array.from([1, 0, 0, 1, -1, 0, 0, -1]), tabEmb: null, dim: 2,
    icdrProbs: null, sdrgProbs: null, icdrLogits: null, sdrgLogits: null,
    subgroups: ['a', 'b', 'c', 'd'].map(() => ({ sex: 'f', ageBand: 'x', camera: 'c' })),
  };
}

test('evaluate stores each tower\'s spread, and the report warns when one has collapsed (and only then)', () => {
  const dead = evaluate({ main: preds([0.6, 0.8, 0.6, 0.8, 0.6, 0.8, 0.6, 0.8]) }, meta, opts);
  assert.ok(dead.spread !== undefined && dead.spread.image !== null && dead.spread.image < COLLAPSED_SPREAD);
  assert.equal(dead.spread.text, 1);
  assert.equal(dead.spread.record, null);
  const text = retrievalSection([dead], ['dead model']);
  assert.match(text, /Warning: collapsed embeddings\.\*\* The image \(spread 0\.000\) embeddings/);
  assert.doesNotMatch(text, /text \(spread/);
  const alive = evaluate({ main: preds([1, 0, 0, 1, -1, 0, 0, -1]) }, meta, opts);
  assert.equal(alive.spread?.image, 1);
  assert.doesNotMatch(retrievalSection([alive], ['live model']), /collapsed/);
});

test('training says aloud when a tower collapses at validation (and names it), and is silent otherwise', async () => {
  const { collapseWarning } = await import('../../src/job/train-run.js');
  assert.equal(collapseWarning({ spread_image: 0.62, spread_text: 0.41, icdr_kappa: 0.8 }, 100), null);
  const w = collapseWarning({ spread_image: 0.00002, spread_text: 0.41, spread_record: 0, icdr_kappa: 0 }, 200);
  assert.ok(w !== null);
  assert.match(w, /^warning: step 200: the image \(spread 2\.0e-5\), record \(spread 0\.0e\+0\) embeddings have collapsed/);
  assert.doesNotMatch(w, /text/);
});
