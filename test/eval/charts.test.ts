import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import type { TopLevelSpec } from 'vega-lite';
import {
  confusionMatrixChart, rocChart, recallAtKChart, trainingCurvesChart, reliabilityChart,
  embeddingScatterChart, embed2d, pca2d, renderVegaLite,
  confusionMatrixSpec, rocSpec, recallAtKSpec, trainingCurvesSpec, reliabilitySpec, embeddingScatterSpec,
} from '../../src/eval/charts/index.js';
import { rocCurve, rocAuc } from '../../src/eval/metrics/referable.js';
import { expectedCalibrationError } from '../../src/eval/metrics/calibration.js';
import type { RetrievalResult } from '../../src/eval/metrics/retrieval.js';
import { Rng } from '../../src/data/rng.js';

const PNG_MAGIC = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** Asserts a PNG with plausible chart dimensions and some non-white ink; returns its size. */
async function assertPng(buf: Buffer, minW = 200, minH = 150): Promise<{ width: number; height: number }> {
  assert.ok(buf.subarray(0, 8).equals(PNG_MAGIC), 'PNG magic bytes');
  const meta = await sharp(buf).metadata();
  assert.equal(meta.format, 'png');
  assert.ok((meta.width ?? 0) >= minW && (meta.height ?? 0) >= minH, `size ${meta.width}x${meta.height}`);
  const stats = await sharp(buf).stats();
  assert.ok(stats.channels.slice(0, 3).some((c) => c.min < 100), 'chart has dark pixels (text/lines)');
  return { width: meta.width!, height: meta.height! };
}

const result = (protocol: RetrievalResult['protocol'], r1: number, r5: number): RetrievalResult =>
  ({ protocol, recallAt: { 1: r1, 5: r5 }, medianRank: 2, meanRank: 3, n: 20, galleryN: 20 });

// The data checks below read the Vega-Lite spec each chart hands to the renderer (its *Spec
// function), so a chart of the wrong numbers fails even when its PNG looks like a chart; each test
// then checks that the chart function's PNG is exactly that spec rendered.

/** The value at `path` inside a spec (objects and arrays), e.g. at(spec, 'layer', 1, 'data', 'values'). */
function at(spec: unknown, ...path: (string | number)[]): unknown {
  let v: unknown = spec;
  for (const k of path) {
    assert.ok(v !== null && typeof v === 'object', `the spec has no ${path.join('.')}`);
    v = (v as Record<string | number, unknown>)[k];
  }
  return v;
}
const rowsAt = (spec: unknown, ...path: (string | number)[]): Record<string, unknown>[] => {
  const v = at(spec, ...path);
  assert.ok(Array.isArray(v), `${path.join('.')} is not an array`);
  return v as Record<string, unknown>[];
};

/** Asserts two row lists are equal field by field, numbers within 1e-9. */
function assertRows(got: readonly Record<string, unknown>[], want: readonly Record<string, unknown>[], what: string): void {
  assert.equal(got.length, want.length, `${what}: ${got.length} rows, want ${want.length}`);
  want.forEach((w, i) => {
    const g = got[i] ?? {};
    assert.deepEqual(Object.keys(g).sort(), Object.keys(w).sort(), `${what}: row ${i} fields`);
    for (const [k, v] of Object.entries(w)) {
      const x = g[k];
      if (typeof v === 'number' && typeof x === 'number') assert.ok(Math.abs(x - v) < 1e-9, `${what}: row ${i} ${k} = ${x}, want ${v}`);
      else assert.deepEqual(x, v, `${what}: row ${i} ${k}`);
    }
  });
}

/** Asserts the chart's PNG is the spec rendered (so the asserted spec is the one drawn). */
async function assertDrawsSpec(png: Buffer, spec: TopLevelSpec, opts: { scale?: number } = {}): Promise<void> {
  assert.ok(png.equals(await renderVegaLite(spec, opts)), 'the chart PNG is its spec rendered');
}

test('confusion matrix heatmap: the spec holds every count, its row share and label; written to a file too', async () => {
  const matrix = [[50, 2, 0, 0, 0], [3, 5, 1, 0, 0], [0, 1, 4, 1, 0], [0, 0, 1, 2, 0], [0, 0, 0, 0, 1]];
  const opts = { scaleName: 'ICDR grade' };
  const spec = confusionMatrixSpec(matrix, opts);
  const cells = rowsAt(spec, 'data', 'values');
  // One cell per (truth, pred) in row-major order, with the matrix's count.
  assert.deepEqual(cells.map((c) => [c.truth, c.pred, c.count]), matrix.flatMap((row, i) => row.map((n, j) => [String(i), String(j), n])));
  // Row 1 (true grade 1) has 9 items: shares 3/9, 5/9, 1/9; labels round them; zero cells show "0".
  assertRows(cells.slice(5, 10), [
    { truth: '1', pred: '0', count: 3, share: 3 / 9, label: '3 (33%)' },
    { truth: '1', pred: '1', count: 5, share: 5 / 9, label: '5 (56%)' },
    { truth: '1', pred: '2', count: 1, share: 1 / 9, label: '1 (11%)' },
    { truth: '1', pred: '3', count: 0, share: 0, label: '0' },
    { truth: '1', pred: '4', count: 0, share: 0, label: '0' },
  ], 'row 1');
  assert.equal(at(spec, 'title', 'subtitle'), 'n = 71; colour = share of the true class');
  assert.equal(at(spec, 'encoding', 'y', 'title'), 'True ICDR grade');
  assert.equal(at(spec, 'encoding', 'x', 'title'), 'Predicted ICDR grade');
  // A share that rounds to 0% (1/300) prints "<1%"; an empty row has shares 0, not NaN.
  assertRows(rowsAt(confusionMatrixSpec([[299, 1], [0, 0]], { classLabels: ['no', 'yes'] }), 'data', 'values'), [
    { truth: 'no', pred: 'no', count: 299, share: 299 / 300, label: '299 (100%)' },
    { truth: 'no', pred: 'yes', count: 1, share: 1 / 300, label: '1 (<1%)' },
    { truth: 'yes', pred: 'no', count: 0, share: 0, label: '0' },
    { truth: 'yes', pred: 'yes', count: 0, share: 0, label: '0' },
  ], 'small matrix');
  const dir = await mkdtemp(join(tmpdir(), 'retalign-charts-'));
  try {
    const out = join(dir, 'sub', 'confusion.png');
    const png = await confusionMatrixChart(matrix, { ...opts, outFile: out });
    await assertPng(png, 400, 400);
    await assertDrawsSpec(png, spec);
    assert.ok((await readFile(out)).equals(png));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  await assert.rejects(confusionMatrixChart([[1, 2]]), /expected square K x K/);
  assert.throws(() => confusionMatrixSpec([[1]], { classLabels: ['a', 'b'] }), /2 class labels for a 1x1 matrix/);
});

test('ROC curves of two models: the spec holds the hand-worked points and AUCs', async () => {
  const labels = [1, 0, 1, 0, 1, 0, 0, 1];
  const a = [0.9, 0.2, 0.8, 0.3, 0.6, 0.5, 0.1, 0.7]; // separates the classes: AUC 1
  const b = [0.5, 0.6, 0.4, 0.3, 0.7, 0.2, 0.5, 0.5]; // 0.5 ties two positives with a negative
  const series = [
    { name: 'model A', points: rocCurve(labels, a), auc: rocAuc(labels, a) },
    { name: 'model B', points: rocCurve(labels, b), auc: rocAuc(labels, b) },
  ];
  const opts = { title: 'Referable DR' };
  const spec = rocSpec(series, opts);
  // Layer 0 is the chance diagonal; layer 1 the curves, one row per point in threshold order.
  assertRows(rowsAt(spec, 'layer', 0, 'data', 'values'), [{ x: 0, y: 0 }, { x: 1, y: 1 }], 'diagonal');
  const rows = rowsAt(spec, 'layer', 1, 'data', 'values');
  // A: 4 positives above 4 negatives -> up the left edge, then along the top.
  const wantA = [[0, 0], [0, 0.25], [0, 0.5], [0, 0.75], [0, 1], [0.25, 1], [0.5, 1], [0.75, 1], [1, 1]];
  // B, thresholds 0.7 (P), 0.6 (N), 0.5 (P, P, N: one diagonal step), 0.4 (P), 0.3 (N), 0.2 (N);
  // AUC = (4 + 2.5 + 2.5 + 2) / 16 = 0.6875, printed 0.688.
  const wantB = [[0, 0], [0, 0.25], [0.25, 0.25], [0.5, 0.75], [0.5, 1], [0.75, 1], [1, 1]];
  assertRows(rows, [
    ...wantA.map(([fpr, tpr], i) => ({ model: 'model A (AUC 1.000)', fpr, tpr, i })),
    ...wantB.map(([fpr, tpr], i) => ({ model: 'model B (AUC 0.688)', fpr, tpr, i })),
  ], 'ROC rows');
  assert.deepEqual(at(spec, 'layer', 1, 'encoding', 'color', 'sort'), ['model A (AUC 1.000)', 'model B (AUC 0.688)']);
  assert.equal(at(spec, 'title', 'text'), 'Referable DR');
  // Points with an undefined rate (no negatives: fpr NaN) are left out rather than drawn at 0.
  const noNeg = rocSpec([{ name: 'P only', points: [{ threshold: Infinity, fpr: NaN, tpr: 0 }, { threshold: 0.5, fpr: 0.5, tpr: 1 }], auc: NaN }]);
  assertRows(rowsAt(noNeg, 'layer', 1, 'data', 'values'), [{ model: 'P only (AUC n/a)', fpr: 0.5, tpr: 1, i: 1 }], 'NaN points');
  const png = await rocChart(series, opts);
  await assertPng(png, 400, 400);
  await assertDrawsSpec(png, spec);
  await assert.rejects(rocChart([]), /no series/);
  assert.throws(() => rocSpec([{ name: 'm', points: [], auc: 0.5 }]), /series 'm' has no points/);
});

test('Recall@K bars, strict vs duplicate-aware: one spec row per model, protocol and K', async () => {
  const series = [
    { model: 'retalign', results: [result('strict', 0.3, 0.7), result('duplicate-aware', 0.9, 1)] },
    { model: 'CLIP', results: [result('strict', 0.05, NaN), null] },
  ];
  const spec = recallAtKSpec(series);
  assertRows(rowsAt(spec, 'data', 'values'), [
    { model: 'retalign', protocol: 'strict', k: 'Recall@1', kNum: 1, recall: 0.3 },
    { model: 'retalign', protocol: 'strict', k: 'Recall@5', kNum: 5, recall: 0.7 },
    { model: 'retalign', protocol: 'duplicate-aware', k: 'Recall@1', kNum: 1, recall: 0.9 },
    { model: 'retalign', protocol: 'duplicate-aware', k: 'Recall@5', kNum: 5, recall: 1 },
    { model: 'CLIP', protocol: 'strict', k: 'Recall@1', kNum: 1, recall: 0.05 }, // NaN and null skipped
  ], 'recall rows');
  assert.deepEqual(at(spec, 'facet', 'column', 'sort'), ['Recall@1', 'Recall@5']);
  assert.deepEqual(at(spec, 'spec', 'encoding', 'x', 'sort'), ['retalign', 'CLIP']);
  assert.equal(at(spec, 'title', 'subtitle'), 'gallery of 20 items');
  const png = await recallAtKChart(series);
  await assertPng(png, 400, 300);
  await assertDrawsSpec(png, spec);
  await assert.rejects(recallAtKChart([{ model: 'x', results: [null] }]), /no finite Recall@K values/);
});

test('training curves: spec rows per step and part, panels and overlay; unknown part named in the error', async () => {
  const rows = Array.from({ length: 20 }, (_, i) => ({ step: i * 10, loss: { itc: 4 / (i + 1), mlm: 9 - i * 0.2 }, lr: 1e-4, note: 'x' }));
  const opts = { parts: ['loss.itc', 'loss.mlm'] };
  const spec = trainingCurvesSpec(rows, opts);
  const data = rowsAt(spec, 'data', 'values');
  assertRows(data, rows.flatMap((r) => [
    { step: r.step, part: 'loss.itc', value: r.loss.itc },
    { step: r.step, part: 'loss.mlm', value: r.loss.mlm },
  ]), 'training rows');
  // One panel per part, each filtered to its part.
  assert.deepEqual(rowsAt(spec, 'concat').map((p) => at(p, 'transform', 0, 'filter', 'equal')), ['loss.itc', 'loss.mlm']);
  // Default parts: every numeric key but the step (strings ignored); a log scale drops values <= 0.
  const logged = [{ step: 0, loss: 2, lr: 0 }, { step: 5, loss: 1, lr: 1e-3 }];
  assertRows(rowsAt(trainingCurvesSpec(logged, { layout: 'overlay', yScale: 'log' }), 'data', 'values'), [
    { step: 0, part: 'loss', value: 2 },
    { step: 5, part: 'loss', value: 1 },
    { step: 5, part: 'lr', value: 1e-3 },
  ], 'log-scale rows');
  const png = await trainingCurvesChart(rows, opts);
  await assertPng(png);
  await assertDrawsSpec(png, spec);
  const overlay = { ...opts, layout: 'overlay' as const, yScale: 'log' as const };
  const overlaySpec = trainingCurvesSpec(rows, overlay);
  assert.deepEqual(at(overlaySpec, 'encoding', 'color', 'sort'), ['loss.itc', 'loss.mlm']);
  assert.equal(at(overlaySpec, 'encoding', 'y', 'scale', 'type'), 'log');
  await assertPng(await trainingCurvesChart(rows, overlay));
  await assert.rejects(trainingCurvesChart(rows, { parts: ['loss.mae'] }), /loss\.mae not in any row; numeric keys are: loss\.itc, loss\.mlm, lr/);
  await assert.rejects(trainingCurvesChart([{ loss: 1 }]), /row 0 has no numeric 'step'/);
});

test('reliability diagram: accuracy and gap bars per non-empty bin, counts underneath', async () => {
  // 5 bins. (0.8, 1]: 0.95, 0.9, 0.85 -> conf 0.9, 2 of 3 correct; (0.6, 0.8]: 0.65 correct;
  // (0.4, 0.6]: 0.55 wrong; (0.2, 0.4]: 0.3 wrong; (0, 0.2] empty.
  // ECE = 3/6 |2/3 - 0.9| + 1/6 (0.35 + 0.55 + 0.3) = 0.3167.
  const c = expectedCalibrationError([0.95, 0.9, 0.85, 0.65, 0.55, 0.3], [1, 1, 0, 1, 0, 0], 5);
  assert.ok(Math.abs(c.ece - 0.95 / 3) < 1e-9, `ece ${c.ece}`);
  const spec = reliabilitySpec(c.bins, { ece: c.ece });
  const acc = 'accuracy in bin';
  const gap = 'gap to mean confidence';
  assertRows(rowsAt(spec, 'vconcat', 0, 'layer', 0, 'data', 'values'), [
    { lo: 0.2, hi: 0.4, y: 0, y2: 0, kind: acc }, { lo: 0.2, hi: 0.4, y: 0, y2: 0.3, kind: gap },
    { lo: 0.4, hi: 0.6, y: 0, y2: 0, kind: acc }, { lo: 0.4, hi: 0.6, y: 0, y2: 0.55, kind: gap },
    { lo: 0.6, hi: 0.8, y: 0, y2: 1, kind: acc }, { lo: 0.6, hi: 0.8, y: 1, y2: 0.65, kind: gap },
    { lo: 0.8, hi: 1, y: 0, y2: 2 / 3, kind: acc }, { lo: 0.8, hi: 1, y: 2 / 3, y2: 0.9, kind: gap },
  ], 'reliability bars');
  assert.deepEqual(rowsAt(spec, 'vconcat', 1, 'data', 'values').map((r) => [r.lo, r.count]), [[0.2, 1], [0.4, 1], [0.6, 1], [0.8, 3]]);
  assert.equal(at(spec, 'title', 'subtitle'), 'ECE = 0.317, 5 bins, n = 6; dashed line = perfect calibration');
  const png = await reliabilityChart(c.bins, { ece: c.ece });
  await assertPng(png, 300, 400);
  await assertDrawsSpec(png, spec);
  await assert.rejects(reliabilityChart([]), /no bins given/);
});

test('embedding scatter: one spec row per point with its grade; rendered from embed2d (UMAP above 15 points)', async () => {
  const small = embeddingScatterSpec([0, 1, 2, 3, 4, 5], [0, null, 3], { scaleName: 'ICDR grade' });
  // Unknown grades are drawn first (order 0), then by grade, so rare severe grades sit on top.
  assertRows(rowsAt(small, 'data', 'values'), [
    { x: 0, y: 1, grade: '0', order: 1 },
    { x: 2, y: 3, grade: 'unknown', order: 0 },
    { x: 4, y: 5, grade: '3', order: 4 },
  ], 'scatter rows');
  assert.equal(at(small, 'title', 'subtitle'), 'n = 3; 0: 1, 1: 0, 2: 0, 3: 1, 4: 0, unknown: 1');
  assert.deepEqual(at(small, 'encoding', 'color', 'scale', 'domain'), ['0', '1', '2', '3', '4', 'unknown']);
  assert.equal(at(small, 'encoding', 'color', 'title'), 'ICDR grade');
  assert.throws(() => embeddingScatterSpec([0, 0], [5]), /grades\[0\]=5, expected an integer in \[0, 4\] or null/);
  assert.throws(() => embeddingScatterSpec([0, NaN], [1]), /point 0 is \(0, NaN\)/);

  const rng = new Rng(1);
  const n = 30;
  const d = 6;
  const grades = Array.from({ length: n }, (_, i) => (i === 0 ? null : i % 5));
  const v = new Float32Array(n * d).map((_, j) => rng.normal() + ((grades[Math.floor(j / d)] ?? 0) === j % d ? 3 : 0));
  const xy = embed2d(v, d, 42, { nEpochs: 60 });
  assert.equal(xy.length, 2 * n);
  const spec = embeddingScatterSpec(xy, grades, { scaleName: 'ICDR grade' });
  assert.deepEqual(rowsAt(spec, 'data', 'values').map((r) => [r.x, r.y, r.grade]),
    grades.map((g, i) => [xy[2 * i], xy[2 * i + 1], g === null ? 'unknown' : String(g)]));
  const png = await embeddingScatterChart(xy, grades, { scaleName: 'ICDR grade' });
  await assertPng(png, 400, 300);
  await assertDrawsSpec(png, spec);
  await assert.rejects(embeddingScatterChart(xy, grades.slice(1)), /60 coordinates for 29 grades/);
});

test('embed2d is deterministic per seed and differs across seeds', () => {
  const rng = new Rng(9);
  const n = 24;
  const d = 5;
  const v = new Float32Array(n * d).map(() => rng.normal());
  const a = embed2d(v, d, 3, { nEpochs: 50 });
  const b = embed2d(v, d, 3, { nEpochs: 50 });
  const c = embed2d(v, d, 4, { nEpochs: 50 });
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, c);
  assert.ok(a.every(Number.isFinite));
});

test('PCA fallback: exact on hand-made data, deterministic', () => {
  // Three points on a line through the origin along u = (1,2,0)/sqrt5 (already centred): scores -sqrt5, 0, sqrt5.
  // Sign rule: the first largest-|score| point (index 0) gets a positive score -> sqrt5, 0, -sqrt5.
  // Rank-1 data: the second component is exactly 0.
  const v = new Float32Array([-1, -2, 0, 0, 0, 0, 1, 2, 0]);
  const xy = embed2d(v, 3, 1);
  const s5 = Math.sqrt(5);
  const want = [s5, 0, 0, 0, -s5, 0];
  xy.forEach((x, i) => assert.ok(Math.abs(x - want[i]!) < 1e-9, `xy[${i}] = ${x}, want ${want[i]}`));
  // A rectangle: variance 4 along x, 1 along y -> components are the axes themselves.
  const r = pca2d(new Float32Array([2, 1, -2, 1, -2, -1, 2, -1]), 2);
  r.forEach((x, i) => assert.ok(Math.abs(Math.abs(x) - (i % 2 === 0 ? 2 : 1)) < 1e-9, `rect[${i}] = ${x}`));
  assert.deepEqual(embed2d(new Float32Array([1, 2]), 2, 0), new Float64Array([0, 0]));
  assert.throws(() => embed2d(new Float32Array([1, NaN]), 2, 0), /value NaN at vector 0, component 1/);
});

test('renderVegaLite scale controls pixel density', async () => {
  const spec = { width: 100, height: 80, data: { values: [{ a: 1 }, { a: 2 }] }, mark: 'bar' as const, encoding: { y: { field: 'a', type: 'quantitative' as const } } };
  const one = await sharp(await renderVegaLite(spec, { scale: 1 })).metadata();
  const two = await sharp(await renderVegaLite(spec, { scale: 2 })).metadata();
  assert.ok(Math.abs(two.width! - 2 * one.width!) <= 4, `${two.width} vs 2 x ${one.width}`);
});
