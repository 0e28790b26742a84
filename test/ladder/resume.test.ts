// The ladder end to end on the tiny preset, bounded to a few training steps: it writes the report
// section, a second call with the same rungs retrains and re-evaluates nothing, a call with one more
// rung runs only that rung, and a rung folder made with another config is refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../../src/data/assets.js';
import { runLadder } from '../../src/job/ladder.js';

const config = join(packageRoot(), 'configs', 'runs', 'smoke.json');
// A tiny twin and a few steps: the test is about the bookkeeping, not the numbers.
const sets = ['data.synth.patients=16', 'data.synth.size=48', 'data.imageSize=32', 'train.steps=2', 'train.evalEvery=0', 'train.batchSize=8',
  'eval.bootstrap=2', 'split.train=0.5', 'split.val=0.25', 'split.test=0.25'];

test('the ladder resumes: finished rungs are neither retrained nor re-evaluated', { timeout: 180_000 }, async () => {
  const out = mkdtempSync(join(tmpdir(), 'retalign-ladder-'));
  try {
    const lines: string[] = [];
    const log = (m: string): void => { lines.push(m); };
    const first = await runLadder({ configs: [config], sets, rungs: [1], seeds: [1], out, log, progress: 'off' });
    assert.equal(first.summary.entries.length, 1);
    const md = readFileSync(join(first.reportDir, 'report.md'), 'utf8');
    assert.match(md, /## The protocol ladder/);
    assert.match(md, /\| 1 honest \| smoke \| 1 \|/);
    assert.ok(statSync(join(first.reportDir, 'charts', 'ladder.png')).size > 1000, 'the chart is written');
    const rung1 = join(out, 'smoke', 'seed-1', 'rung-1');
    const weights = statSync(join(rung1, 'last', 'state.json')).mtimeMs;
    const metrics = statSync(join(rung1, 'eval', 'metrics.json')).mtimeMs;

    lines.length = 0;
    await runLadder({ configs: [config], sets, rungs: [1], seeds: [1], out, log, progress: 'off' });
    assert.ok(lines.some((l) => /1 rung evaluations wanted \(1 already done\), 0 trainings to run/.test(l)), lines.join('\n'));
    assert.equal(statSync(join(rung1, 'last', 'state.json')).mtimeMs, weights, 'rung 1 was not retrained');
    assert.equal(statSync(join(rung1, 'eval', 'metrics.json')).mtimeMs, metrics, 'rung 1 was not re-evaluated');

    lines.length = 0;
    const second = await runLadder({ configs: [config], sets, rungs: [1, 2], seeds: [1], out, log, progress: 'off' });
    assert.ok(lines.some((l) => /2 rung evaluations wanted \(1 already done\), 1 trainings to run/.test(l)), lines.join('\n'));
    assert.equal(statSync(join(rung1, 'eval', 'metrics.json')).mtimeMs, metrics);
    assert.deepEqual(second.summary.entries.map((e) => e.rung), [1, 2]);
    assert.ok(existsSync(join(out, 'smoke', 'seed-1', 'rung-2', 'last', 'state.json')));

    // --report-only: the evaluated rungs only, nothing trained (rung 3 is not).
    lines.length = 0;
    const partial = await runLadder({ configs: [config], sets, rungs: [1, 2, 3], seeds: [1], out, log, progress: 'off', reportOnly: true });
    assert.deepEqual(partial.summary.entries.map((e) => e.rung), [1, 2]);
    assert.ok(!existsSync(join(out, 'smoke', 'seed-1', 'rung-3', 'last')), 'rung 3 was not trained');

    // The same folder with another ladder (more steps) is refused before anything runs.
    const rung2 = join(out, 'smoke', 'seed-1', 'rung-2');
    rmSync(join(rung2, 'eval'), { recursive: true });
    await assert.rejects(runLadder({ configs: [config], sets: [...sets, 'train.steps=3'], rungs: [2], seeds: [1], out, log, progress: 'off' }),
      /rung-2\/rung\.json was made with another config than rung 2 of smoke \(seed 1\)/);
    writeFileSync(join(out, 'marker'), '');
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
