import { test } from 'node:test';
import assert from 'node:assert/strict';
import { evaluate, type EvaluateOptions } from '../../src/eval/evaluate.js';
import { EVAL_RESULT_VERSION, parseEvalResult, serializeEvalResult, type EvalMeta, type RawPredictions } from '../../src/eval/result.js';
import { fitTemperature, softmaxRows, calibrationFromProbs } from '../../src/eval/metrics/calibration.js';
import { Rng } from '../../src/data/rng.js';
import { UNKNOWN_GRADE } from '../../src/data/grades.js';

const META: EvalMeta = { model: 'retalign', kind: 'kemt', protocol: 'honest', dataset: 'synth', split: 'test', checkpoint: 'runs/a/best', config: 'honest', seed: 1, wallTimeS: 12.5 };
const OPTS: EvaluateOptions = { bootstrap: 50, seed: 3, ks: [1, 5, 10], subgroupMinSize: 2, embedSample: 0 };

/** Predictions of n items with everything absent; tests fill in what they need. */
function base(n: number, dim: number): RawPredictions {
  return {
    imageIds: Array.from({ length: n }, (_, i) => `img${i}`),
    patientIds: Array.from({ length: n }, (_, i) => `p${i >> 1}`),
    noteGroups: Int32Array.from({ length: n }, (_, i) => i),
    icdr: null, sdrg: null, imageEmb: null, textEmb: null, tabEmb: null, dim,
    icdrProbs: null, sdrgProbs: null, icdrLogits: null, sdrgLogits: null,
    subgroups: Array.from({ length: n }, () => ({ sex: 'female', ageBand: '40-59', camera: 'Canon CR' })),
  };
}

const oneHot = (n: number): Float32Array => { const m = new Float32Array(n * n); for (let i = 0; i < n; i++) m[i * n + i] = 1; return m; };

/** Random but informative predictions: noisy embeddings around a shared item vector, noisy probabilities. */
function noisy(n: number, dim: number, seed: number): RawPredictions {
  const rng = new Rng(seed);
  const p = base(n, dim);
  const unit = (v: Float32Array): Float32Array => { for (let i = 0; i < n; i++) { let s = 0; for (let k = 0; k < dim; k++) s += v[i * dim + k]! ** 2; s = Math.sqrt(s); for (let k = 0; k < dim; k++) v[i * dim + k]! /= s; } return v; };
  const centre = Float32Array.from({ length: n * dim }, () => rng.normal());
  const around = (sd: number): Float32Array => unit(centre.map((c) => c + sd * rng.normal()));
  p.imageEmb = around(0.8); p.textEmb = around(0.8); p.tabEmb = around(1.2);
  p.icdr = Int32Array.from({ length: n }, () => rng.weighted([6, 1, 1, 1, 1]));
  p.sdrg = Int32Array.from(p.icdr, (g) => Math.min(g, 4));
  p.icdrLogits = Float32Array.from({ length: n * 5 }, (_, j) => (j % 5 === p.icdr![Math.floor(j / 5)] ? 2.5 : 0) + 1.5 * rng.normal());
  p.sdrgLogits = Float32Array.from({ length: n * 5 }, (_, j) => (j % 5 === p.sdrg![Math.floor(j / 5)] ? 2 : 0) + 1.5 * rng.normal());
  p.icdrProbs = Float32Array.from(softmaxRows(p.icdrLogits, 5));
  p.sdrgProbs = Float32Array.from(softmaxRows(p.sdrgLogits, 5));
  p.noteGroups = Int32Array.from({ length: n }, (_, i) => (i % 3 === 0 ? 999 : i)); // every third note identical
  p.subgroups = Array.from({ length: n }, (_, i) => ({ sex: i % 2 ? 'male' : 'female', ageBand: i % 3 ? '40-59' : '60-74', camera: 'Canon CR' }));
  return p;
}

test('perfect embeddings: strict Recall@K = 1 for every pair, ranks 1, CIs collapse to 1', () => {
  const p = base(8, 8);
  p.imageEmb = oneHot(8); p.textEmb = oneHot(8); p.tabEmb = oneHot(8);
  const r = evaluate({ main: p }, META, OPTS);
  assert.deepEqual(r.retrieval.map((b) => b.pair), ['text->image', 'image->text', 'image->tabular', 'tabular->image', 'text->tabular', 'tabular->text']);
  for (const b of r.retrieval) {
    assert.deepEqual(b.strict.recallAt, { 1: 1, 5: 1, 10: 1 });
    assert.equal(b.strict.medianRank, 1);
    assert.equal(b.strict.galleryN, 8);
    assert.equal(b.duplicateAware.recallAt[1], 1);
    assert.equal(b.ci.strict['1']!.lo, 1);
    assert.equal(b.ci.strict['1']!.hi, 1);
    assert.equal(b.ci.strict['1']!.nPatients, 4);
  }
  assert.equal(r.retrieval[0]!.duplicateGroups, 'note text');
  assert.equal(r.retrieval[2]!.duplicateGroups, 'tabular embedding (bitwise equal)');
  assert.equal(r.grading.icdr, null);
  assert.equal(r.referable, null);
  assert.deepEqual(r.subgroups.map((s) => s.attribute), ['sex', 'ageBand', 'camera']); // retrieval metrics by subgroup
});

test('duplicate notes: hand-computed strict vs duplicate-aware ranks (dup-aware >= strict)', () => {
  const p = base(4, 3);
  // items 0 and 1 share one note (identical text embedding); images differ.
  p.textEmb = Float32Array.from([1, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1]);
  p.imageEmb = Float32Array.from([0.8, 0.6, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1]);
  p.noteGroups = Int32Array.from([0, 0, 1, 2]);
  const r = evaluate({ main: p }, META, { ...OPTS, ks: [1, 2] });
  const t2i = r.retrieval.find((b) => b.pair === 'text->image')!;
  // query 0 scores images 0.8, 1, 0, 0 -> strict rank 2 (image 1 ahead), dup-aware rank 1 (image 1 shares the note)
  assert.deepEqual(t2i.strict.recallAt, { 1: 0.75, 2: 1 });
  assert.equal(t2i.strict.meanRank, 1.25);
  assert.deepEqual(t2i.duplicateAware.recallAt, { 1: 1, 2: 1 });
  const i2t = r.retrieval.find((b) => b.pair === 'image->text')!;
  // image 0 scores texts 0.8, 0.8, 0.6, 0 and image 1 scores 1, 1, 0, 0: ties count against -> strict rank 2 for both
  assert.deepEqual(i2t.strict.recallAt, { 1: 0.5, 2: 1 });
  assert.deepEqual(i2t.duplicateAware.recallAt, { 1: 1, 2: 1 });
  for (const b of r.retrieval) for (const k of [1, 2]) assert.ok(b.duplicateAware.recallAt[k]! >= b.strict.recallAt[k]!);
});

test('constant "no DR" predictor: kappa 0, accuracy = majority baseline, AUC 0.5; unknown SDRG left out; subgroup gap', () => {
  const p = base(10, 4);
  p.icdr = Int32Array.from([0, 0, 0, 0, 0, 0, 1, 2, 3, 4]);
  p.sdrg = Int32Array.from([UNKNOWN_GRADE, 0, 0, 0, 0, 0, 1, 2, 3, 4]);
  p.icdrProbs = Float32Array.from({ length: 50 }, (_, j) => (j % 5 === 0 ? 0.9 : 0.025));
  p.sdrgProbs = p.icdrProbs;
  p.subgroups = p.subgroups.map((s, i) => ({ ...s, sex: i < 5 ? 'female' : 'male' }));
  const r = evaluate({ main: p }, { ...META, gradingSource: 'linear probe' }, OPTS);
  const g = r.grading.icdr!;
  assert.equal(g.source, 'linear probe');
  assert.equal(g.report.accuracy, 0.6);
  assert.equal(g.report.majorityBaseline.accuracy, 0.6);
  assert.equal(g.report.majorityBaseline.majorityClass, 0);
  assert.equal(g.report.kappa, 0);
  assert.ok(Math.abs(g.report.macroF1! - 0.15) < 1e-12); // class 0: 2*6/(6+10) = 0.75; four zero-F1 classes
  assert.deepEqual(g.report.perGradeRecall, [1, 0, 0, 0, 0]);
  assert.equal(g.ci.kappa.lo, 0);
  assert.equal(g.ci.kappa.hi, 0);
  assert.deepEqual(g.report.confusion.map((row) => row[0]), [6, 1, 1, 1, 1]);
  assert.equal(r.grading.sdrg!.n, 9);
  assert.equal(r.grading.sdrg!.report.accuracy, 5 / 9);
  const f = r.referable!;
  assert.equal(f.report.auc, 0.5);
  assert.equal(f.report.sensitivity, 0); // P(referable) = 0.075 < 0.5
  assert.equal(f.report.specificity, 1);
  assert.equal(f.report.nPositive, 3);
  assert.equal(f.report.roc[0]!.threshold, null); // +Infinity stored as null
  const sex = r.subgroups.find((s) => s.attribute === 'sex')!;
  assert.deepEqual(sex.gaps['icdrAccuracy'], { gap: 0.8, maxGroup: 'female', max: 1, minGroup: 'male', min: 0.2 });
  assert.equal(sex.gaps['icdrKappa'], null); // female: one grade only -> kappa undefined -> fewer than two groups
  assert.equal(r.calibration.icdr!.after, null); // no validation logits
});

test('calibration: temperature fitted on validation logits, ECE after on the test logits', () => {
  const p = noisy(40, 6, 1);
  const val = noisy(30, 6, 2);
  const r = evaluate({ main: p, val }, META, OPTS);
  const c = r.calibration.icdr!;
  const fit = fitTemperature(val.icdrLogits!, val.icdr!, 5);
  assert.equal(c.after!.temperature, fit.temperature);
  assert.equal(c.after!.ece, calibrationFromProbs(softmaxRows(p.icdrLogits!, 5, fit.temperature), p.icdr!, 5, 15).ece);
  assert.equal(c.before.ece, calibrationFromProbs(p.icdrProbs!, p.icdr!, 5, 15).ece);
  assert.ok(c.after!.valNllAfter! <= c.after!.valNllBefore!);
  assert.equal(c.before.bins.length, 15);
});

test('deterministic per seed; another seed changes the intervals but not the estimates', () => {
  const p = noisy(40, 6, 5);
  const opts = { ...OPTS, embedSample: 20 };
  const a = evaluate({ main: p }, META, opts);
  const b = evaluate({ main: p }, META, opts);
  assert.deepEqual(a, b);
  assert.equal(a.embedding2d!.method, 'umap');
  assert.equal(a.embedding2d!.points.length, 40);
  const c = evaluate({ main: p }, META, { ...opts, seed: 4 });
  assert.equal(c.grading.icdr!.report.kappa, a.grading.icdr!.report.kappa);
  assert.notDeepEqual(c.grading.icdr!.ci, a.grading.icdr!.ci);
});

test('JSON round trip of EvalResult; parse checks the version', () => {
  const p = noisy(30, 6, 7);
  p.icdr = Int32Array.from(p.icdr!, () => 0); // no referable positives -> AUC undefined -> null
  const r = evaluate({ main: p, ablations: { image: noisy(30, 6, 8) }, val: noisy(20, 6, 9) }, META, { ...OPTS, embedSample: 8 });
  assert.equal(r.version, EVAL_RESULT_VERSION);
  assert.equal(r.referable!.report.auc, null);
  assert.equal(r.embedding2d!.method, 'pca');
  const text = serializeEvalResult(r);
  assert.deepEqual(JSON.parse(text), r);
  assert.deepEqual(parseEvalResult(text), r);
  assert.equal(r.run.machine.cpus > 0, true);
  assert.equal(r.run.wallTimeS, 12.5);
  assert.throws(() => parseEvalResult(text.replace(`"version": ${EVAL_RESULT_VERSION}`, '"version": 99'), 'runs/a/metrics.json'), /runs\/a\/metrics\.json: version 99, expected 1/);
  assert.throws(() => parseEvalResult('[1]'), /expected a JSON object, got an array/);
});

test('modality ablation: one row per setting, main first; a different test set is rejected', () => {
  const main = noisy(30, 6, 11);
  const imageOnly = { ...main, icdrProbs: Float32Array.from({ length: 150 }, (_, j) => (j % 5 === 0 ? 0.9 : 0.025)), icdrLogits: null };
  const r = evaluate({ main, ablations: { image: imageOnly } }, { ...META, modalities: 'image+text+tabular' }, OPTS);
  assert.deepEqual(r.ablation.map((a) => a.setting), ['image+text+tabular', 'image']);
  assert.equal(r.ablation[0]!.icdr!.kappa, r.grading.icdr!.report.kappa);
  assert.equal(r.ablation[1]!.icdr!.kappa, 0); // constant predictor
  assert.equal(r.ablation[1]!.referableAuc, 0.5);
  const other = { ...main, imageIds: main.imageIds.map((id, i) => (i === 4 ? 'elsewhere' : id)) };
  assert.throws(() => evaluate({ main, ablations: { image: other } }, META, OPTS), /ablations\['image'\]\.imageIds\[4\]='elsewhere' but main has 'img4'/);
});

test('zero-shot: tabular absent, no labels -> image<->text retrieval only', () => {
  const p = noisy(20, 6, 13);
  Object.assign(p, { tabEmb: null, icdr: null, sdrg: null, icdrProbs: null, sdrgProbs: null, icdrLogits: null, sdrgLogits: null });
  const r = evaluate({ main: p }, { ...META, dataset: 'deepeyenet', zeroShotFrom: 'BRSET', modalities: 'image+text' }, OPTS);
  assert.deepEqual(r.zeroShot, { trainedOn: 'BRSET' });
  assert.deepEqual(r.retrieval.map((b) => b.pair), ['text->image', 'image->text']);
  assert.deepEqual(r.grading, { icdr: null, sdrg: null });
  assert.deepEqual(r.calibration, { icdr: null, sdrg: null });
  assert.equal(r.referable, null);
});

test('bad predictions are rejected with the field and the expectation', () => {
  const p = noisy(10, 6, 17);
  assert.throws(() => evaluate({ main: { ...p, icdr: Int32Array.from(p.icdr!, (g, i) => (i === 3 ? 7 : g)) } }, META, OPTS), /main\.icdr\[3\]=7 \(image img3\), expected a grade in 0\.\.4 or -100 \(UNKNOWN_GRADE\)/);
  assert.throws(() => evaluate({ main: { ...p, icdr: Int32Array.from(p.icdr!, (g, i) => (i === 2 ? -1 : g)) } }, META, OPTS), /main\.icdr\[2\]=-1 .*or -100 \(UNKNOWN_GRADE\)/);
  assert.throws(() => evaluate({ main: { ...p, textEmb: new Float32Array(59) } }, META, OPTS), /main\.textEmb has length 59, expected 60/);
  assert.throws(() => evaluate({ main: { ...p, patientIds: ['a'] } }, META, OPTS), /main\.patientIds has length 1, expected 10/);
  assert.throws(() => evaluate({ main: p }, META, { ...OPTS, bootstrap: 0 }), /bootstrap=0, expected a positive integer/);
});
