// The main job end to end on tiny settings, its trainings and evaluations in two child processes
// (--jobs 2): every run trained and evaluated, a report with the paper-shaped table, a log per
// child; and the same numbers as the whole job run in one process (--jobs 1).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runDemo } from '../../src/job/demo.js';
import type { EvalResult } from '../../src/eval/result.js';

const SETS = [
  'model.preset="tiny"', 'data.synth.patients=24', 'data.synth.size=64', 'data.imageSize=32', 'data.maxTokens=48',
  'data.vocabSize=300', 'train.steps=2', 'train.evalEvery=2', 'train.logEvery=1', 'train.batchSize=8', 'eval.bootstrap=10',
  'train.threads=1', // the children's thread count, so that one process and two give the same numbers
];

/** The numbers of a result that do not depend on timing. */
function numbers(r: EvalResult): string {
  return JSON.stringify({ model: r.model, protocol: r.protocol, dataset: r.dataset, n: r.n, retrieval: r.retrieval, grading: r.grading,
    referable: r.referable, calibration: r.calibration, ablation: r.ablation });
}

test('demo --jobs 2: trains and evaluates every run in child processes, as --jobs 1 does in one', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'retalign-demo-'));
  try {
    const lines: string[] = [];
    const two = await runDemo({ out: join(dir, 'two'), sets: SETS, jobs: 2, progress: 'off', log: (m) => lines.push(m) });
    assert.equal(two.results.length, 8, 'kemt and clip: honest (in-domain, real prevalence, zero-shot) + paper');
    assert.ok(existsSync(join(two.reportDir, 'report.md')));
    const logs = readdirSync(join(dir, 'two', 'logs')).filter((f) => f.endsWith('.log')).sort();
    assert.equal(logs.length, 4 + 8, logs.join(', '));
    assert.ok(logs.includes('demo-kemt-honest.log') && logs.includes('eval-demo-clip-honest-zero-shot.log'), logs.join(', '));
    // At 48 tokens the twin's notes are cut, and the run's log says so (by grade: long notes are the severe ones).
    assert.match(readFileSync(join(dir, 'two', 'logs', 'demo-kemt-honest.log'), 'utf8'),
      /warning: \d+ of \d+ notes are longer than data\.maxTokens=48 tokens and were cut \(longest \d+; ICDR \d: \d+/);
    assert.ok(lines.some((l) => /4 trainings, 2 at a time/.test(l)), lines.join('\n'));
    assert.ok(lines.some((l) => /^\| Model \| Kind \| Protocol/m.test(l)), 'the headline table is printed');
    for (const run of ['demo-kemt-honest', 'demo-kemt-paper', 'demo-clip-honest', 'demo-clip-paper']) {
      const state = JSON.parse(readFileSync(join(dir, 'two', run, 'last', 'state.json'), 'utf8')) as { step: number };
      assert.equal(state.step, 2, run);
    }

    const one = await runDemo({ out: join(dir, 'one'), sets: SETS, jobs: 1, progress: 'off', log: () => {} });
    assert.ok(!existsSync(join(dir, 'one', 'logs')), 'jobs 1 runs in this process');
    assert.deepEqual(two.results.map(numbers), one.results.map(numbers));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
