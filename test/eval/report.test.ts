import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { evaluate } from '../../src/eval/evaluate.js';
import type { EvalMeta, EvalResult, RawPredictions } from '../../src/eval/result.js';
import { softmaxRows } from '../../src/eval/metrics/calibration.js';
import { formatMetric, formatCI, withCI, mdTable, parseRow, resultLabels, slug, trainingSeries, writeReport } from '../../src/eval/report/index.js';
import { Rng } from '../../src/data/rng.js';

const PNG_MAGIC = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** n noisy predictions; `quality` scales how informative embeddings and logits are. */
function preds(n: number, seed: number, quality: number, withTab = true, withGrades = true): RawPredictions {
  const rng = new Rng(seed);
  const dim = 6;
  const unit = (v: Float32Array): Float32Array => { for (let i = 0; i < n; i++) { let s = 0; for (let k = 0; k < dim; k++) s += v[i * dim + k]! ** 2; s = Math.sqrt(s); for (let k = 0; k < dim; k++) v[i * dim + k]! /= s; } return v; };
  const centre = Float32Array.from({ length: n * dim }, () => rng.normal());
  const around = (): Float32Array => unit(centre.map((c) => c + rng.normal() / quality));
  const icdr = Int32Array.from({ length: n }, () => rng.weighted([5, 1, 1, 1, 1]));
  const logits = (t: Int32Array): Float32Array => Float32Array.from({ length: n * 5 }, (_, j) => (j % 5 === t[Math.floor(j / 5)] ? 2 * quality : 0) + rng.normal());
  const icdrLogits = logits(icdr);
  const sdrg = Int32Array.from(icdr);
  const sdrgLogits = logits(sdrg);
  return {
    imageIds: Array.from({ length: n }, (_, i) => `img${i}`),
    patientIds: Array.from({ length: n }, (_, i) => `p${i >> 1}`),
    noteGroups: Int32Array.from({ length: n }, (_, i) => (i % 4 === 0 ? 0 : i)),
    icdr: withGrades ? icdr : null, sdrg: withGrades ? sdrg : null,
    imageEmb: around(), textEmb: around(), tabEmb: withTab ? around() : null, dim,
    icdrProbs: withGrades ? Float32Array.from(softmaxRows(icdrLogits, 5)) : null,
    sdrgProbs: withGrades ? Float32Array.from(softmaxRows(sdrgLogits, 5)) : null,
    icdrLogits: withGrades ? icdrLogits : null, sdrgLogits: withGrades ? sdrgLogits : null,
    subgroups: Array.from({ length: n }, (_, i) => ({ sex: i % 2 ? 'male' : 'female', ageBand: '40-59', camera: i % 3 ? 'Canon CR' : 'Nikon NF5050' })),
  };
}

const meta = (over: Partial<EvalMeta>): EvalMeta => ({ model: 'retalign', kind: 'kemt', protocol: 'honest', dataset: 'synth', split: 'test', checkpoint: 'runs/x/best', config: 'honest', seed: 1, wallTimeS: 30, ...over });
const opts = { bootstrap: 30, seed: 1, ks: [1, 5, 10], subgroupMinSize: 5, embedSample: 0 };

function fixtures(): EvalResult[] {
  return [
    evaluate({ main: preds(40, 1, 3), ablations: { image: preds(40, 2, 1) }, val: preds(30, 3, 3) }, meta({ protocol: 'paper', config: 'paper' }), { ...opts, embedSample: 10 }),
    evaluate({ main: preds(40, 4, 1), val: preds(30, 5, 1) }, meta({}), opts),
    evaluate({ main: preds(40, 6, 0.3, false) }, meta({ model: 'CLIP baseline', kind: 'clip', gradingSource: 'linear probe', modalities: 'image+text' }), opts),
    evaluate({ main: preds(30, 7, 1, false, false) }, meta({ dataset: 'deepeyenet', zeroShotFrom: 'BRSET', modalities: 'image+text' }), opts),
  ];
}

/** Rows of the first Markdown table after `heading`, as cell arrays (header row first). */
function tableAfter(md: string, heading: string): string[][] {
  const lines = md.split('\n');
  const start = lines.findIndex((l) => l.startsWith(heading));
  assert.ok(start >= 0, `heading '${heading}' in report`);
  const first = lines.findIndex((l, i) => i > start && l.startsWith('|'));
  const rows: string[][] = [];
  for (let i = first; i < lines.length && lines[i]!.startsWith('|'); i++) if (i !== first + 1) rows.push(parseRow(lines[i]!));
  return rows;
}

test('formatMetric: the one formatter of report numbers', () => {
  assert.equal(formatMetric(0.99944, 'pct'), '99.94%');
  assert.equal(formatMetric(0.0129, 'pct'), '1.29%');
  assert.equal(formatMetric(0.81234, 'num'), '0.812');
  assert.equal(formatMetric(-0.0001, 'num'), '0.000');
  assert.equal(formatMetric(0.031, 'pp'), '+3.10 pp');
  assert.equal(formatMetric(-0.5, 'pp'), '-50.00 pp');
  assert.equal(formatMetric(0, 'pp'), '0.00 pp');
  assert.equal(formatMetric(-0.05, 'delta'), '-0.050');
  assert.equal(formatMetric(812.44, 'seconds'), '812.4 s');
  assert.equal(formatMetric(null, 'pct'), 'n/a');
  assert.equal(formatMetric(NaN, 'num'), 'n/a');
  assert.equal(formatCI({ lo: 0.9, hi: 0.95 }), '[90.00%, 95.00%]');
  assert.equal(withCI(0.5, { lo: null, hi: null }, 'num'), '0.500');
  assert.equal(mdTable(['a', 'b'], [['1', 'x|y']]), '| a | b |\n| --- | --- |\n| 1 | x\\|y |');
  assert.deepEqual(parseRow('| 1 | x\\|y |'), ['1', 'x|y']);
  assert.throws(() => mdTable(['a'], [['1', '2']]), /row 0 has 2 cells, expected 1/);
  assert.equal(slug('CLIP baseline · honest'), 'clip-baseline-honest');
});

test('trainingSeries keeps train lines and loss parts', () => {
  const rows = [{ type: 'start', step: 0, totalSteps: 10 }, { type: 'train', step: 1, loss: 3, parts: { itc: 2, mlm: 1 }, lr: 1e-4 }, { type: 'val', step: 1, metrics: { acc: 0.5 } }];
  assert.deepEqual(trainingSeries(rows), { rows: [rows[1]], parts: ['loss', 'parts.itc', 'parts.mlm'] });
  assert.deepEqual(trainingSeries([{ step: 1, acc: 0.4, lr: 1 }]).parts, ['acc']);
});

test('writeReport: report.md + PNG charts; table cells equal the formatted numbers of the results', async () => {
  const results = fixtures();
  const labels = resultLabels(results);
  assert.deepEqual(labels, ['retalign · paper', 'retalign · honest', 'CLIP baseline · honest', 'retalign · honest · zero-shot deepeyenet']);
  const dir = await mkdtemp(join(tmpdir(), 'retalign-report-'));
  try {
    const log = Array.from({ length: 12 }, (_, i) => ({ type: 'train', step: i * 10, loss: 5 / (i + 1), parts: { imageText: 3 / (i + 1), icdr: 2 / (i + 1) }, lr: 1e-4 }));
    const md = await writeReport(results, dir, { trainingLogs: { honest: log } });
    assert.equal(await readFile(join(dir, 'report.md'), 'utf8'), md);

    // Every linked chart exists and is a PNG; every PNG is linked.
    const links = [...md.matchAll(/!\[[^\]]*\]\((charts\/[^)]+)\)/g)].map((m) => m[1]!);
    const files = (await readdir(join(dir, 'charts'))).sort();
    assert.deepEqual([...links].map((l) => l.slice('charts/'.length)).sort(), files);
    for (const f of files) assert.ok((await readFile(join(dir, 'charts', f))).subarray(0, 8).equals(PNG_MAGIC), f);
    for (const name of ['recall-t2i.png', 'recall-t2i-zero-shot.png', 'roc-referable.png', 'confusion-icdr-retalign-paper.png', 'confusion-sdrg-clip-baseline-honest.png',
      'reliability-icdr-retalign-honest.png', 'embeddings-retalign-paper.png', 'training-honest.png']) {
      assert.ok(existsSync(join(dir, 'charts', name)), name);
    }

    // Headline table: our rows (in-domain only), then the CLAIMED rows.
    const head = tableAfter(md, '## Headline results');
    const col = (h: string): number => { const i = head[0]!.indexOf(h); assert.ok(i >= 0, h); return i; };
    assert.equal(head.length, 1 + 3 + 1 + 2);
    for (const [i, r] of results.slice(0, 3).entries()) {
      const row = head[1 + i]!;
      const t2i = r.retrieval.find((b) => b.pair === 'text->image')!;
      const i2t = r.retrieval.find((b) => b.pair === 'image->text')!;
      assert.equal(row[0], labels[i]);
      assert.equal(row[col('t2i R@1 (strict)')], formatMetric(t2i.strict.recallAt[1], 'pct'));
      assert.equal(row[col('t2i R@5 (strict)')], formatMetric(t2i.strict.recallAt[5], 'pct'));
      assert.equal(row[col('t2i R@10 (strict)')], formatMetric(t2i.strict.recallAt[10], 'pct'));
      assert.equal(row[col('t2i R@1 (dup-aware)')], formatMetric(t2i.duplicateAware.recallAt[1], 'pct'));
      assert.equal(row[col('i2t R@1 (strict)')], formatMetric(i2t.strict.recallAt[1], 'pct'));
      assert.equal(row[col('ICDR acc')], formatMetric(r.grading.icdr!.report.accuracy, 'pct'));
      assert.equal(row[col('ICDR κ')], formatMetric(r.grading.icdr!.report.kappa, 'num'));
      assert.equal(row[col('SDRG acc')], formatMetric(r.grading.sdrg!.report.accuracy, 'pct'));
      assert.equal(row[col('SDRG κ')], formatMetric(r.grading.sdrg!.report.kappa, 'num'));
      assert.equal(row[col('Referable AUC')], formatMetric(r.referable!.report.auc, 'num'));
    }
    assert.equal(head[2]![col('Grading from')], 'heads');
    assert.equal(head[3]![col('Grading from')], 'linear probe');
    // One grade-only reference row for the one in-domain test set (synth/test, n=40), from the first result on it.
    const refRow = head[4]!;
    assert.match(refRow[0]!, /^Grade-only reference/);
    const only = results[0]!.retrieval.find((b) => b.pair === 'text->image')!.gradeOnly!;
    assert.deepEqual([refRow[col('t2i R@1 (strict)')], refRow[col('t2i R@5 (strict)')], refRow[col('t2i R@10 (strict)')], refRow[col('ICDR acc')]],
      [formatMetric(only['1']!, 'pct'), formatMetric(only['5']!, 'pct'), formatMetric(only['10']!, 'pct'), '—']);
    assert.ok(only['1']! > 0 && only['1']! < only['10']!);
    const claimed = head.slice(5);
    assert.deepEqual(claimed.map((r) => r[col('Protocol')]), ['CLAIMED', 'CLAIMED']);
    assert.match(claimed[0]![0]!, /CLAIMED, not ours/);
    assert.equal(claimed[0]![col('t2i R@1 (strict)')], '99.94%');
    assert.equal(claimed[0]![col('ICDR acc')], '97.97%');
    assert.equal(claimed[0]![col('SDRG acc')], '97.05%');
    assert.equal(claimed[1]![col('t2i R@1 (strict)')], '1.29%');

    // Leakage audit: paper vs honest of 'retalign', difference = paper - honest.
    const audit = tableAfter(md, '## Leakage audit');
    const [paper, honest] = [results[0]!, results[1]!];
    const metric = (name: string): string[] => audit.find((r) => r[0] === name)!;
    const acc = metric('ICDR accuracy');
    assert.deepEqual(acc.slice(1), [formatMetric(paper.grading.icdr!.report.accuracy, 'pct'), formatMetric(honest.grading.icdr!.report.accuracy, 'pct'),
      formatMetric(paper.grading.icdr!.report.accuracy! - honest.grading.icdr!.report.accuracy!, 'pp')]);
    const kappa = metric('ICDR QW kappa');
    assert.equal(kappa[3], formatMetric(paper.grading.icdr!.report.kappa! - honest.grading.icdr!.report.kappa!, 'delta'));
    const r1 = metric('t2i R@1 (strict)');
    assert.equal(r1[3], formatMetric(paper.retrieval[0]!.strict.recallAt[1]! - honest.retrieval[0]!.strict.recallAt[1]!, 'pp'));
    assert.equal(metric('ICDR majority-class accuracy')[2], formatMetric(honest.grading.icdr!.report.majorityBaseline.accuracy, 'pct'));
    assert.match(md, /grade in the note.*image-level split.*duplicate notes.*majority-class accuracy/s);

    // Grading detail: accuracy with its CI and the majority baseline next to it.
    const grading = tableAfter(md, '## Grading');
    const g = results[2]!.grading.icdr!;
    const row = grading.find((r) => r[0] === labels[2] && r[1] === 'ICDR')!;
    assert.equal(row[4], `${formatMetric(g.report.accuracy, 'pct')} ${formatCI(g.ci.accuracy, 'pct')}`);
    assert.equal(row[5], `${formatMetric(g.report.majorityBaseline.accuracy, 'pct')} (always grade 0)`);
    assert.equal(row[7], withCI(g.report.kappa, g.ci.kappa, 'num'));

    // Referable, calibration, ablation, zero-shot.
    const ref = tableAfter(md, '## Referable DR').find((r) => r[0] === labels[1])!;
    assert.equal(ref[5], withCI(honest.referable!.report.auc, honest.referable!.ci.auc, 'num'));
    const cal = tableAfter(md, '## Calibration').find((r) => r[0] === labels[0] && r[1] === 'SDRG')!;
    assert.deepEqual(cal.slice(3, 6), [formatMetric(paper.calibration.sdrg!.before.ece, 'num'), formatMetric(paper.calibration.sdrg!.after!.temperature, 'num'), formatMetric(paper.calibration.sdrg!.after!.ece, 'num')]);
    const abl = tableAfter(md, '## Modality ablation');
    assert.deepEqual(abl.map((r) => r[0]), ['Modalities', 'image+text+tabular', 'image']);
    assert.equal(abl[2]![1], formatMetric(paper.ablation[1]!.icdr!.accuracy, 'pct'));
    const zs = tableAfter(md, '## Zero-shot retrieval');
    assert.equal(zs[1]![0], labels[3]);
    assert.equal(zs[1]![5], formatMetric(results[3]!.retrieval[0]!.strict.recallAt[1], 'pct'));
    assert.deepEqual(zs.slice(2).map((r) => r[5]), ['93.95%', '0.22%']);
    assert.deepEqual(zs.slice(2).map((r) => r[2]), ['CLAIMED', 'CLAIMED']);

    // Subgroups: the largest gap and its groups.
    const sg = results[1]!.subgroups.find((s) => s.attribute === 'sex')!.gaps['icdrAccuracy']!;
    const sgRow = tableAfter(md, `### ${labels[1]} (minimum`).find((r) => r[0] === 'sex' && r[1] === 'ICDR accuracy')!;
    assert.equal(sgRow[2], formatMetric(sg.gap, 'pp'));
    assert.match(sgRow[3]!, new RegExp(`^${sg.maxGroup} \\(n=20\\): ${formatMetric(sg.max, 'pct').replace('.', '\\.')}$`));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('writeReport rejects an empty result list', async () => {
  await assert.rejects(writeReport([], join(tmpdir(), 'never')), /no results given/);
});
