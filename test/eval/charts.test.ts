import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import {
  confusionMatrixChart, rocChart, recallAtKChart, trainingCurvesChart, reliabilityChart,
  embeddingScatterChart, embed2d, pca2d, renderVegaLite,
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

test('confusion matrix heatmap, written to a file too', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'retalign-charts-'));
  try {
    const out = join(dir, 'sub', 'confusion.png');
    const png = await confusionMatrixChart([[50, 2, 0, 0, 0], [3, 5, 1, 0, 0], [0, 1, 4, 1, 0], [0, 0, 1, 2, 0], [0, 0, 0, 0, 1]], { scaleName: 'ICDR grade', outFile: out });
    await assertPng(png, 400, 400);
    assert.ok((await readFile(out)).equals(png));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  await assert.rejects(confusionMatrixChart([[1, 2]]), /expected square K x K/);
});

test('ROC curves of two models', async () => {
  const labels = [1, 0, 1, 0, 1, 0, 0, 1];
  const a = [0.9, 0.2, 0.8, 0.3, 0.6, 0.5, 0.1, 0.7];
  const b = [0.5, 0.6, 0.4, 0.3, 0.7, 0.2, 0.5, 0.5];
  const png = await rocChart([
    { name: 'model A', points: rocCurve(labels, a), auc: rocAuc(labels, a) },
    { name: 'model B', points: rocCurve(labels, b), auc: rocAuc(labels, b) },
  ], { title: 'Referable DR' });
  await assertPng(png, 400, 400);
  await assert.rejects(rocChart([]), /no series/);
});

test('Recall@K bars, strict vs duplicate-aware', async () => {
  const png = await recallAtKChart([
    { model: 'retalign', results: [result('strict', 0.3, 0.7), result('duplicate-aware', 0.9, 1)] },
    { model: 'CLIP', results: [result('strict', 0.05, 0.25), null] },
  ]);
  await assertPng(png, 400, 300);
});

test('training curves: panels and overlay; unknown part named in the error', async () => {
  const rows = Array.from({ length: 20 }, (_, i) => ({ step: i * 10, loss: { itc: 4 / (i + 1), mlm: 9 - i * 0.2 }, lr: 1e-4 }));
  await assertPng(await trainingCurvesChart(rows, { parts: ['loss.itc', 'loss.mlm'] }));
  await assertPng(await trainingCurvesChart(rows, { parts: ['loss.itc', 'loss.mlm'], layout: 'overlay', yScale: 'log' }));
  await assert.rejects(trainingCurvesChart(rows, { parts: ['loss.mae'] }), /loss\.mae not in any row; numeric keys are: loss\.itc, loss\.mlm, lr/);
  await assert.rejects(trainingCurvesChart([{ loss: 1 }]), /row 0 has no numeric 'step'/);
});

test('reliability diagram', async () => {
  const c = expectedCalibrationError([0.95, 0.9, 0.85, 0.6, 0.55, 0.3], [1, 1, 0, 1, 0, 0], 10);
  await assertPng(await reliabilityChart(c.bins, { ece: c.ece }), 300, 400);
});

test('embedding scatter from embed2d (UMAP above 15 points, PCA below)', async () => {
  const rng = new Rng(1);
  const n = 30;
  const d = 6;
  const grades = Array.from({ length: n }, (_, i) => (i === 0 ? null : i % 5));
  const v = new Float32Array(n * d).map((_, j) => rng.normal() + ((grades[Math.floor(j / d)] ?? 0) === j % d ? 3 : 0));
  const xy = embed2d(v, d, 42, { nEpochs: 60 });
  assert.equal(xy.length, 2 * n);
  await assertPng(await embeddingScatterChart(xy, grades, { scaleName: 'ICDR grade' }), 400, 300);
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
