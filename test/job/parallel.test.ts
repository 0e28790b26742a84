// Trainings in child processes (the demo's --jobs): the plan of jobs and threads, a child's run is
// the run an in-process training gives (same losses), and a failing run is reported by name with
// its log while the others finish.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadRunConfig } from '../../src/run/index.js';
import { packageRoot } from '../../src/data/assets.js';
import { lastLoggedStep, parallelPlan, trainInParallel } from '../../src/job/parallel.js';
import { runTraining } from '../../src/job/train-run.js';

describe('parallelPlan', () => {
  it('one run per core at most, the cores shared out as threads', () => {
    assert.deepEqual(parallelPlan(4, 2), { jobs: 2, threads: 1 });
    assert.deepEqual(parallelPlan(4, 16), { jobs: 4, threads: 4 });
    assert.deepEqual(parallelPlan(2, 16), { jobs: 2, threads: 8 });
    assert.deepEqual(parallelPlan(4, 2, 1), { jobs: 1, threads: 2 });
    assert.deepEqual(parallelPlan(4, 3, 2), { jobs: 2, threads: 1 });
    assert.deepEqual(parallelPlan(1, 1, 8), { jobs: 1, threads: 1 });
    assert.throws(() => parallelPlan(4, 2, 0), /jobs = 0: expected an integer >= 1/);
  });
});

/** The loss columns of the train lines of a run's metrics.jsonl (timings left out). */
function losses(runDir: string): unknown[] {
  return readFileSync(join(runDir, 'metrics.jsonl'), 'utf8').trim().split('\n')
    .map((l) => JSON.parse(l) as { type?: string; step?: number; loss?: number; parts?: unknown })
    .filter((r) => r.type === 'train')
    .map((r) => ({ step: r.step, loss: r.loss, parts: r.parts }));
}

describe('trainInParallel', () => {
  it("a child's run equals the in-process run; a failing run is named with its log and the others finish", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'retalign-parallel-'));
    try {
      const smoke = join(packageRoot(), 'configs', 'runs', 'smoke.json');
      const sets = ['train.steps=4', 'train.evalEvery=4', 'train.logEvery=1', 'train.threads=1'];
      const good = loadRunConfig(smoke, sets);
      const bad = loadRunConfig(smoke, [...sets, `data.source=${JSON.stringify(join(dir, 'no-such-dataset'))}`]);
      await runTraining(good, { out: join(dir, 'inproc'), dataRoot: dir, progress: 'off', log: () => {} });

      const lines: string[] = [];
      await assert.rejects(
        trainInParallel([{ cfg: bad, out: join(dir, 'bad') }, { cfg: good, out: join(dir, 'child') }],
          { jobs: 2, dataRoot: dir, logDir: join(dir, 'logs'), progress: 'off', log: (m) => lines.push(m) }),
        (e: Error) => {
          assert.match(e.message, /1 of 2 trainings failed/);
          assert.match(e.message, /bad failed \(exit 1\)/);
          assert.ok(e.message.includes(join(dir, 'logs', 'bad.log')), e.message);
          assert.match(e.message, /no-such-dataset/);
          return true;
        });
      assert.ok(lines.some((l) => /2 trainings, 2 at a time, 1 libtorch thread\(s\) each/.test(l)), lines.join('\n'));
      assert.ok(existsSync(join(dir, 'child', 'last', 'state.json')), 'the good run finished although the other failed');
      assert.equal(lastLoggedStep(join(dir, 'child')), 4);
      const want = losses(join(dir, 'inproc'));
      assert.equal(want.length, 4);
      assert.deepEqual(losses(join(dir, 'child')), want);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
