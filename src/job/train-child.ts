/**
 * One training or evaluation in a child process of trainInParallel / evalInParallel (src/job/parallel.ts):
 *   node dist/src/job/train-child.js <spec.json>
 * The spec (ChildSpec) holds, for a training, the resolved run config, the run folder, the data
 * root and whether to resume; for an evaluation, runEval's options. Log lines go to stdout (the parent points it at the run's log file); the exit code is 0
 * on success, 1 with the error on stderr otherwise.
 */
import { readFileSync } from 'node:fs';
import { runTraining } from './train-run.js';
import { runEval } from './eval-run.js';
import type { ChildSpec } from './parallel.js';

async function main(): Promise<void> {
  const path = process.argv[2];
  if (path === undefined) throw new Error('usage: train-child.js <spec.json>');
  const spec = JSON.parse(readFileSync(path, 'utf8')) as ChildSpec;
  if (spec.kind === 'train') await runTraining(spec.cfg, { out: spec.out, dataRoot: spec.dataRoot, resume: spec.resume, progress: 'off' });
  else await runEval(spec.options);
}

main().then(
  () => {
    // The CPU time of this child: on a machine shared with other work, the wall time it would have
    // taken alone on its own core(s) is about this divided by its threads.
    const c = process.cpuUsage();
    console.log(`child cpu time ${((c.user + c.system) / 1e6).toFixed(1)} s (user ${(c.user / 1e6).toFixed(1)}, system ${(c.system / 1e6).toFixed(1)})`);
    process.exit(0);
  },
  (e: unknown) => {
    console.error(e instanceof Error ? (e.stack ?? e.message) : String(e));
    process.exit(1);
  },
);
