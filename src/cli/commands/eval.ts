/** `retalign eval --checkpoint DIR [--data DIR] [--protocol paper|honest] [--out DIR]` -> metrics.json */
import type { Command } from 'commander';
import { runEval } from '../../job/eval-run.js';

export function register(program: Command): void {
  program
    .command('eval')
    .description('Evaluate a checkpoint: retrieval (strict and duplicate-aware Recall@K, both directions), ICDR/SDRG grading ' +
      '(accuracy, macro-F1, quadratic kappa, majority baseline), referable DR (sens/spec/AUC), calibration, subgroups, ' +
      'modality ablation, bootstrap CIs over patients. Writes metrics.json. Foreign --data is evaluated zero-shot.')
    .requiredOption('--checkpoint <dir>', 'checkpoint folder (run/best, run/last) or a run folder')
    .option('--data <dir>', 'dataset (default: the one the model was trained on; another one = zero-shot)')
    .option('--protocol <p>', "'paper' or 'honest' (default: the protocol the model was trained under)")
    .option('--out <dir>', 'output folder for metrics.json (default: <run>/eval-<protocol>)')
    .option('--bootstrap <n>', 'bootstrap resamples per confidence interval', (v) => Number(v))
    .action(async (o: { checkpoint: string; data?: string; protocol?: string; out?: string; bootstrap?: number }) => {
      if (o.protocol !== undefined && o.protocol !== 'paper' && o.protocol !== 'honest') {
        throw new Error(`--protocol must be 'paper' or 'honest', got '${o.protocol}'`);
      }
      if (o.bootstrap !== undefined && !(Number.isInteger(o.bootstrap) && o.bootstrap > 0)) {
        throw new Error(`--bootstrap must be a positive integer`);
      }
      await runEval({ checkpoint: o.checkpoint, data: o.data, protocol: o.protocol as 'paper' | 'honest' | undefined, out: o.out, bootstrap: o.bootstrap });
    });
}
