/** `retalign train --config <run.json> [--set k=v ...] [--out DIR] [--resume]` */
import type { Command } from 'commander';
import { join } from 'node:path';
import { loadRunConfig } from '../../run/index.js';
import { runTraining } from '../../job/train-run.js';

export function register(program: Command): void {
  program
    .command('train')
    .description('Train a model from a run config (configs/runs/*.json): prepares the data (or synthesizes the twin), ' +
      'trains with atomic checkpoints (<out>/last, <out>/best) and logs <out>/metrics.jsonl.')
    .requiredOption('-c, --config <file>', 'run config JSON, e.g. configs/runs/demo-kemt.json')
    .option('-s, --set <key=value>', 'override a config key (repeatable), e.g. --set train.steps=50 --set protocol=paper',
      (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('-o, --out <dir>', 'run folder (default: runs/<name>-<protocol>)')
    .option('--resume', 'continue from <out>/last to the same result as an uninterrupted run', false)
    .option('--no-progress', 'plain log lines instead of a progress bar')
    .option('--allow-outside', 'read images outside the dataset folder (same as --set data.allowOutside=true)', false)
    .action(async (opts: { config: string; set: string[]; out?: string; resume: boolean; progress: boolean; allowOutside: boolean }) => {
      const cfg = loadRunConfig(opts.config, [...opts.set, ...(opts.allowOutside ? ['data.allowOutside=true'] : [])]);
      console.log(`resolved config:\n${JSON.stringify(cfg, null, 1)}`);
      const out = opts.out ?? join('runs', `${cfg.name}-${cfg.protocol}`);
      await runTraining(cfg, { out, resume: opts.resume, progress: opts.progress ? 'auto' : 'off' });
    });
}
