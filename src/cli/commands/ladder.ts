/** `retalign ladder --config FILE... [--rungs 1-7] [--seeds 1,2,3] --out DIR`: the protocol ladder (src/job/ladder.ts). */
import type { Command } from 'commander';
import { checkOutputFolder } from '../../data/paths.js';
import { runLadder } from '../../job/ladder.js';
import { RUNGS, parseRungs } from '../../job/ladder-rungs.js';

/** '1,2,3' -> [1, 2, 3] (non-negative integers). */
export function parseSeeds(spec: string): number[] {
  const seeds = spec.split(',').map((s) => s.trim()).filter((s) => s !== '').map((s) => {
    const n = Number(s);
    if (!Number.isInteger(n) || n < 0) throw new Error(`--seeds: '${s}' is not a non-negative integer (expected e.g. 1,2,3)`);
    return n;
  });
  if (seeds.length === 0) throw new Error(`--seeds: '${spec}' names no seed (expected e.g. 1,2,3)`);
  return [...new Set(seeds)];
}

export function register(program: Command): void {
  program
    .command('ladder')
    .description('The protocol ladder: train and evaluate each run config from the honest protocol up, one leakage per rung ' +
      `(${RUNGS.map((r) => `${r.n} ${r.name}`).join('; ')}), then write report/report.md with the table rung x metric, ` +
      'the chart against the paper\'s claimed numbers and a sentence per rung. Re-running resumes: finished rungs are not retrained.')
    .requiredOption('--config <files...>', 'run config files (configs/runs/<name>.json), e.g. a KEMT and a CLIP config')
    .option('--rungs <list>', `rungs to run, e.g. 1-${RUNGS.length} or 1,3,5`, `1-${RUNGS.length}`)
    .option('--seeds <list>', 'training seeds (train.seed), comma-separated', '1')
    .requiredOption('--out <dir>', 'ladder folder (data, one folder per config, seed and rung, report/)')
    .option('-s, --set <key=value>', 'override a key of every rung\'s config before the rung\'s own setting (repeatable), ' +
      'e.g. --set data.synth.prevalence=\'"real"\'', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('-j, --jobs <n>', 'trainings (then evaluations) at once, each in its own process (default 1)', (v: string) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1) throw new Error(`--jobs: '${v}' is not an integer >= 1`);
      return n;
    })
    .option('--report-only', 'train and evaluate nothing: write the report from the wanted rungs already evaluated')
    .option('--no-progress', 'plain log lines instead of progress bars')
    .action(async (o: { config: string[]; rungs: string; seeds: string; out: string; set: string[]; jobs?: number; progress: boolean; reportOnly?: boolean }) => {
      const rungs = parseRungs(o.rungs);
      const seeds = parseSeeds(o.seeds);
      checkOutputFolder(o.out, 'ladder: --out');
      await runLadder({ configs: o.config, rungs, seeds, out: o.out, sets: o.set, jobs: o.jobs, progress: o.progress ? 'auto' : 'off', reportOnly: o.reportOnly === true });
    });
}
