/**
 * The main job (`make demo` / `retalign demo`): synthetic twin -> train demo-kemt and demo-clip
 * under both protocols -> evaluate in-domain, on a real-prevalence twin and zero-shot on a
 * DeepEyeNet-format twin -> report.md with charts -> the paper-shaped table on stdout.
 *
 * @example
 *   await runDemo({ out: 'runs/demo' });
 */
import { existsSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { cpus } from 'node:os';
import { ensureSynth, loadRunConfig, synthDir, type Protocol, type RunConfig } from '../run/index.js';
import { runTraining } from './train-run.js';
import { evalInParallel, parallelPlan, trainInParallel } from './parallel.js';
import { runEval, type EvalRunOptions } from './eval-run.js';
import { writeReport } from '../eval/report/index.js';
import { parseEvalResult, serializeEvalResult, type EvalResult } from '../eval/result.js';
import type { LogRow } from '../eval/charts/index.js';
import { packageRoot } from '../data/assets.js';

export interface DemoOptions {
  /** Output root: data/, one folder per run, report/. */
  out: string;
  /** Extra --set overrides applied to every run config (e.g. train.steps=20 for a quick look). */
  sets?: string[];
  /** Models to run; default both. */
  models?: ('kemt' | 'clip')[];
  protocols?: Protocol[];
  log?: (m: string) => void;
  progress?: 'auto' | 'off';
  /**
   * Trainings at once, each in its own process with cores / jobs libtorch threads (default: one
   * per core, at most the number of runs; 1 = one after the other in this process).
   */
  jobs?: number;
}

/** Pulls the first Markdown table after a heading out of the report (the printed summary). */
export function headlineTable(md: string, heading = '## Headline results'): string {
  const at = md.indexOf(heading);
  if (at < 0) return '';
  const lines = md.slice(at).split('\n');
  const start = lines.findIndex((l) => l.startsWith('|'));
  if (start < 0) return '';
  const out: string[] = [];
  for (let i = start; i < lines.length && (lines[i] as string).startsWith('|'); i++) out.push(lines[i] as string);
  return out.join('\n');
}

function readLog(runDir: string): LogRow[] {
  const p = join(runDir, 'metrics.jsonl');
  if (!existsSync(p)) return [];
  return readFileSync(p, 'utf8').split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as LogRow);
}

export async function runDemo(o: DemoOptions): Promise<{ results: EvalResult[]; reportDir: string; seconds: number }> {
  const log = o.log ?? ((m: string) => console.log(m));
  const t0 = Date.now();
  const out = resolve(o.out);
  mkdirSync(out, { recursive: true });
  const stage = (n: number, total: number, what: string): void =>
    log(`\n[${n}/${total}] ${what}  (${((Date.now() - t0) / 1000).toFixed(0)} s elapsed)`);
  const models = o.models ?? ['kemt', 'clip'];
  const protocols = o.protocols ?? ['honest', 'paper'];
  const cfgDir = join(packageRoot(), 'configs', 'runs');
  const configs: RunConfig[] = [];
  // The models of one protocol share a split (the same test patients), named explicitly: out/split-<protocol>.json.
  for (const m of models) {
    for (const p of protocols) {
      configs.push(loadRunConfig(join(cfgDir, `demo-${m}.json`), [`protocol="${p}"`, `data.splitFile=${JSON.stringify(join(out, `split-${p}.json`))}`, ...(o.sets ?? [])]));
    }
  }
  const base = configs[0] as RunConfig;
  const total = 5;
  let n = 0;

  // 1-2. Data: the balanced twin the runs train on (synthesized by the first run's prepare), a
  // real-prevalence twin (93% grade 0, a different seed: unseen patients) and a DeepEyeNet-format twin.
  stage(++n, total, 'synthetic twins');
  const dataRoot = join(out, 'data');
  await ensureSynth(synthDir(dataRoot, base.data.synth), base.data.synth, 'brset', log);
  const realCfg = { ...base.data.synth, prevalence: 'real' as const, seed: base.data.synth.seed + 1000, patients: Math.max(50, Math.round(base.data.synth.patients / 2)) };
  const realDir = await ensureSynth(synthDir(dataRoot, realCfg), realCfg, 'brset', log);
  stage(++n, total, 'DeepEyeNet-format twin (zero-shot set)');
  const denCfg = { ...base.data.synth, seed: base.data.synth.seed + 2000, patients: Math.max(60, Math.round(base.data.synth.patients / 2)) };
  const denDir = await ensureSynth(synthDir(dataRoot, denCfg, 'deepeyenet'), denCfg, 'deepeyenet', log);

  // 3. Training: each model under each protocol; `jobs` at a time in their own processes (jobs 1:
  // one after the other in this process).
  const runDirs = configs.map((cfg) => ({ cfg, dir: join(out, `${cfg.name}-${cfg.protocol}`) }));
  const todo: { cfg: RunConfig; dir: string; resume: boolean }[] = [];
  for (const { cfg, dir } of runDirs) {
    const resume = existsSync(join(dir, 'last', 'state.json'));
    if (resume) {
      const st = JSON.parse(readFileSync(join(dir, 'last', 'state.json'), 'utf8')) as { step: number };
      if (st.step >= cfg.train.steps) {
        log(`  ${cfg.name} (${cfg.protocol}) already trained (${st.step} steps): reusing ${dir}`);
        continue;
      }
    }
    todo.push({ cfg, dir, resume });
  }
  // Each model's longer run first (the paper protocol's 600 steps): with two at a time, no long run is
  // left to train alone at the end; the first two still differ in protocol, so each makes its own split.
  todo.sort((a, b) => models.indexOf(a.cfg.model.kind) - models.indexOf(b.cfg.model.kind) || b.cfg.train.steps - a.cfg.train.steps);
  const plan = parallelPlan(Math.max(1, todo.length), cpus().length, o.jobs);
  stage(++n, total, `train ${todo.map((t) => `${t.cfg.name} (${t.cfg.protocol})`).join(', ') || 'nothing: every run is trained'}`);
  if (plan.jobs <= 1) {
    for (const t of todo) {
      log(`  train ${t.cfg.name} under the ${t.cfg.protocol} protocol`);
      await runTraining(t.cfg, { out: t.dir, dataRoot: out, resume: t.resume, log, progress: o.progress });
    }
  } else if (todo.length > 0) {
    await trainInParallel(todo.map((t) => ({ cfg: t.cfg, out: t.dir, resume: t.resume })),
      { jobs: plan.jobs, dataRoot: out, logDir: join(out, 'logs'), log, progress: o.progress });
  }

  // 4. Evaluation: in-domain under the training protocol; honest models also on the real-prevalence
  // twin and zero-shot on the DeepEyeNet-format twin.
  stage(++n, total, 'evaluate');
  const evals: { name: string; options: Omit<EvalRunOptions, 'log'> }[] = [];
  for (const { cfg, dir } of runDirs) {
    const name = `${cfg.name}-${cfg.protocol}`;
    evals.push({ name: `eval-${name}`, options: { checkpoint: dir, out: join(dir, `eval-${cfg.protocol}`) } });
    if (cfg.protocol === 'honest') {
      evals.push({ name: `eval-${name}-real-prevalence`, options: { checkpoint: dir, data: realDir, out: join(dir, 'eval-honest-real-prevalence'),
        datasetName: `synthetic twin (real prevalence, ${realCfg.patients} unseen patients)` } });
      evals.push({ name: `eval-${name}-zero-shot`, options: { checkpoint: dir, data: denDir, out: join(dir, 'eval-zero-shot-deepeyenet'),
        datasetName: `DeepEyeNet-format twin (${denCfg.patients} images, zero-shot)` } });
    }
  }
  const results: EvalResult[] = [];
  if (plan.jobs <= 1) {
    for (const e of evals) results.push((await runEval({ ...e.options, log })).result);
  } else {
    await evalInParallel(evals, { jobs: plan.jobs, logDir: join(out, 'logs'), log, progress: o.progress });
    // Exactly as `retalign report` reads them.
    for (const e of evals) results.push(parseEvalResult(readFileSync(join(e.options.out as string, 'metrics.json'), 'utf8')));
  }
  // Each run's training log, under the name its in-domain result carries.
  const logs: Record<string, LogRow[]> = {};
  evals.forEach((e, i) => {
    const r = results[i] as EvalResult;
    if (e.options.data === undefined) logs[`${r.model} (${r.protocol})`] = readLog(e.options.checkpoint);
  });
  // Round trip through JSON exactly as `retalign report` would read them.
  const parsed = results.map((r) => parseEvalResult(serializeEvalResult(r)));

  stage(++n, total, 'report');
  const reportDir = join(out, 'report');
  const md = await writeReport(parsed, reportDir, { trainingLogs: logs, title: 'retalign demo report (synthetic twin)' });
  const seconds = (Date.now() - t0) / 1000;
  const machine = `${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}`;
  writeFileSync(join(reportDir, 'run-info.json'), JSON.stringify({ seconds, machine, date: new Date().toISOString(), sets: o.sets ?? [] }, null, 2) + '\n');
  log(`\nreport: ${join(reportDir, 'report.md')}`);
  log(`\n${headlineTable(md)}\n`);
  log(`demo finished in ${(seconds / 60).toFixed(1)} min on ${machine}`);
  return { results: parsed, reportDir, seconds };
}
