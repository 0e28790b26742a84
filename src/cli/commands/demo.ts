/** `retalign demo [--out DIR] [--set k=v ...]`: the main job on the embedded synthetic twin. */
import type { Command } from 'commander';
import { runDemo } from '../../job/demo.js';
import { ARCHITECTURE_NAMES, isArchitecture, type Architecture } from '../../models/index.js';

export function register(program: Command): void {
  program
    .command('demo')
    .description('The main job on the embedded default data: synthesize the twin (balanced, real prevalence, DeepEyeNet format), ' +
      'train demo-kemt and demo-clip under the paper and the honest protocols, evaluate (in-domain, real prevalence, ' +
      'zero-shot), write report.md with charts and print the paper-shaped table. Re-running reuses finished runs.')
    .option('-o, --out <dir>', 'output root', 'runs/demo')
    .option('-s, --set <key=value>', 'override a key of every run config (repeatable), e.g. --set train.steps=20',
      (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('--models <list>', 'comma-separated: kemt,clip', 'kemt,clip')
    .option('--protocols <list>', 'comma-separated: honest,paper', 'honest,paper')
    .option('-j, --jobs <n>', 'trainings at once, each in its own process with cores/jobs libtorch threads ' +
      '(default: one per core, at most 4; 1 = one after the other)', (v: string) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1) throw new Error(`--jobs: '${v}' is not an integer >= 1`);
      return n;
    })
    .option('--no-progress', 'plain log lines instead of progress bars')
    .action(async (o: { out: string; set: string[]; models: string; protocols: string; progress: boolean; jobs?: number }) => {
      const models = o.models.split(',').map((s) => s.trim());
      const protocols = o.protocols.split(',').map((s) => s.trim());
      for (const m of models) if (!isArchitecture(m)) throw new Error(`--models: unknown model '${m}' (valid: ${ARCHITECTURE_NAMES.join(', ')})`);
      for (const p of protocols) if (p !== 'honest' && p !== 'paper') throw new Error(`--protocols: unknown protocol '${p}' (valid: honest, paper)`);
      await runDemo({ out: o.out, sets: o.set, models: models as Architecture[], protocols: protocols as ('honest' | 'paper')[],
        progress: o.progress ? 'auto' : 'off', jobs: o.jobs });
    });
}
