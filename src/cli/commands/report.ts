/** `retalign report --runs DIR... [--out DIR]` -> report.md + charts/*.png */
import type { Command } from 'commander';
import { checkOutputFolder } from '../../data/paths.js';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseEvalResult, type EvalResult } from '../../eval/result.js';
import { writeReport } from '../../eval/report/index.js';
import type { LogRow } from '../../eval/charts/index.js';

/** Every metrics.json under the given folders (a run folder, an eval folder, or a file). */
export function findMetrics(paths: string[]): string[] {
  const out: string[] = [];
  const walk = (p: string, depth: number): void => {
    if (!existsSync(p)) throw new Error(`--runs: ${p} does not exist`);
    if (statSync(p).isFile()) {
      if (p.endsWith('.json')) out.push(p);
      return;
    }
    if (existsSync(join(p, 'metrics.json'))) out.push(join(p, 'metrics.json'));
    if (depth < 3) for (const d of readdirSync(p).sort()) if (statSync(join(p, d)).isDirectory()) walk(join(p, d), depth + 1);
  };
  for (const p of paths) walk(resolve(p), 0);
  return [...new Set(out)];
}

/** Training logs (metrics.jsonl) of the runs that produced the results, by run name. */
function trainingLogs(files: string[], results: EvalResult[]): Record<string, LogRow[]> {
  const logs: Record<string, LogRow[]> = {};
  files.forEach((f, i) => {
    for (const up of [join(f, '..', '..'), join(f, '..', '..', '..')]) {
      const jl = join(up, 'metrics.jsonl');
      if (existsSync(jl)) {
        const r = results[i] as EvalResult;
        logs[`${r.model} (${r.protocol})`] = readFileSync(jl, 'utf8').split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as LogRow);
        break;
      }
    }
  });
  return logs;
}

export function register(program: Command): void {
  program
    .command('report')
    .description('Write report.md (paper-shaped table, leakage audit paper vs honest, grading with CIs, ablations, ' +
      'zero-shot) and PNG charts from the metrics.json files found under the given folders.')
    .requiredOption('--runs <dirs...>', 'run/eval folders or metrics.json files')
    .option('--out <dir>', 'output folder', 'report')
    .action(async (o: { runs: string[]; out: string }) => {
      checkOutputFolder(o.out, 'report: --out');
      const files = findMetrics(o.runs);
      if (files.length === 0) throw new Error(`no metrics.json found under ${o.runs.join(', ')} (run 'retalign eval' first)`);
      const results = files.map((f) => parseEvalResult(readFileSync(f, 'utf8'), f));
      await writeReport(results, resolve(o.out), { trainingLogs: trainingLogs(files, results) });
      console.log(`wrote ${join(resolve(o.out), 'report.md')} from ${files.length} result(s)`);
    });
}
