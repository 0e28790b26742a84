/**
 * `retalign ladder`: the protocol ladder (issue 12). For each run config, seed and rung
 * (src/job/ladder-rungs.ts), train with the rung's resolved config (the existing training job) and
 * evaluate with it (the existing evaluation job), then write one report section: the table rung x
 * metric, the chart and a sentence per rung.
 *
 * Folders under `out`:
 *   data/                             the synthetic twin, shared by every run
 *   <config name>/seed-<s>/rung-<k>/  rung.json (the rung's resolved config), eval/metrics.json, and for
 *                                     a rung that trains: the run folder (last/, best/, metrics.jsonl, split.json)
 *   report/report.md, report/charts/ladder.png, ladder-results.json, ladder-time.json
 *
 * Resumable: a rung whose eval/metrics.json exists is not evaluated again; a training whose last
 * checkpoint reached train.steps is not run again, one that stopped early is resumed. A rung folder
 * made with another config is refused (choose another --out). Rungs that change only the evaluation
 * (5-7) evaluate the model of the rung they share their training with (4).
 *
 * @example
 *   await runLadder({ configs: ['configs/runs/demo-kemt.json', 'configs/runs/demo-clip.json'], seeds: [1, 2], out: 'runs/ladder' });
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { cpus } from 'node:os';
import { ensureSynth, synthDir, type RunConfig } from '../run/index.js';
import { parseEvalResult, type EvalResult } from '../eval/result.js';
import { ladderSection, type LadderEntry, type LadderSummary } from '../eval/report/ladder.js';
import { runTraining } from './train-run.js';
import { runEval, type EvalRunOptions } from './eval-run.js';
import { evalInParallel, parallelPlan, trainInParallel } from './parallel.js';
import { RUNGS, ladderConfigs, trainedAt, type Rung } from './ladder-rungs.js';

export interface LadderOptions {
  /** Run config files (configs/runs/<name>.json), e.g. KEMT and CLIP side by side. */
  configs: readonly string[];
  /** --set overrides applied to every rung's config before the rung's own setting (e.g. data.synth.prevalence="real"). */
  sets?: readonly string[];
  /** Rung numbers to run (default all). */
  rungs?: readonly number[];
  /** Training seeds (train.seed; default [1]). */
  seeds?: readonly number[];
  out: string;
  /** Trainings (then evaluations) at once, each in its own process (default 1: one after the other in this process). */
  jobs?: number;
  /** Train and evaluate nothing: write the report from the wanted rungs already evaluated (a ladder cut short). */
  reportOnly?: boolean;
  log?: (m: string) => void;
  progress?: 'auto' | 'off';
}

/** One rung of one model and seed: its config and folders. */
export interface LadderItem {
  model: string;
  kind: RunConfig['model']['kind'];
  seed: number;
  rung: Rung;
  cfg: RunConfig;
  /** The rung's folder (rung.json, eval/). */
  dir: string;
  /** The run folder of the training it evaluates (its own dir, or an earlier rung's). */
  trainDir: string;
}

/** The setting a rung changes, as `key = value` ('' for rung 1). */
function changeOf(r: Rung, base: RunConfig): string {
  return r.setting === null ? '' : `${r.setting} = ${JSON.stringify(r.value(base))}`;
}

/** Every item of the ladder: configs x seeds x rungs (every rung is listed; `rungs` picks the ones to evaluate). */
export function ladderPlan(o: Pick<LadderOptions, 'configs' | 'sets' | 'seeds' | 'out'>): LadderItem[] {
  const out = resolve(o.out);
  const items: LadderItem[] = [];
  for (const file of o.configs) {
    let json: unknown;
    try {
      json = JSON.parse(readFileSync(file, 'utf8'));
    } catch (e) {
      throw new Error(`ladder: cannot read run config ${file}: ${(e as Error).message}`);
    }
    if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new Error(`ladder: ${file}: a run config must be a JSON object`);
    for (const seed of o.seeds ?? [1]) {
      const cfgs = ladderConfigs(json as Record<string, unknown>, [...(o.sets ?? []), `train.seed=${seed}`], file);
      const at = trainedAt(cfgs);
      const base = cfgs[0] as RunConfig;
      const folder = join(out, base.name, `seed-${seed}`);
      if (items.some((i) => i.dir.startsWith(`${folder}/`))) throw new Error(`ladder: two configs are named '${base.name}' (${file}); rename one (the name is its folder)`);
      cfgs.forEach((cfg, k) => items.push({
        model: cfg.name, kind: cfg.model.kind, seed, rung: RUNGS[k] as Rung, cfg,
        dir: join(folder, `rung-${k + 1}`), trainDir: join(folder, `rung-${(at[k] as number) + 1}`),
      }));
    }
  }
  return items;
}

/** Writes rung.json, or checks that the one there was made with the same config (else nothing is run). */
function claimRungFolder(item: LadderItem): void {
  const p = join(item.dir, 'rung.json');
  const mine = { rung: item.rung.n, name: item.rung.name, trainedIn: item.trainDir, config: item.cfg };
  if (existsSync(p)) {
    const saved = JSON.parse(readFileSync(p, 'utf8')) as { config?: unknown };
    if (JSON.stringify(saved.config) !== JSON.stringify(item.cfg)) {
      throw new Error(`ladder: ${p} was made with another config than rung ${item.rung.n} of ${item.model} (seed ${item.seed}) now resolves to; ` +
        'a ladder folder holds one ladder: choose another --out (or delete that rung folder)');
    }
    return;
  }
  mkdirSync(item.dir, { recursive: true });
  writeFileSync(p, JSON.stringify(mine, null, 2) + '\n');
}

/** Steps of a run folder's last checkpoint (0 when none). */
function trainedSteps(dir: string): number {
  const p = join(dir, 'last', 'state.json');
  return existsSync(p) ? (JSON.parse(readFileSync(p, 'utf8')) as { step: number }).step : 0;
}

const metricsOf = (item: LadderItem): string => join(item.dir, 'eval', 'metrics.json');

/** Runs (or resumes) the ladder and writes its report; returns the summary and the report folder. */
export async function runLadder(o: LadderOptions): Promise<{ summary: LadderSummary; reportDir: string; seconds: number }> {
  const log = o.log ?? ((m: string) => console.log(m));
  const t0 = Date.now();
  const out = resolve(o.out);
  const wanted = new Set(o.rungs ?? RUNGS.map((r) => r.n));
  const all = ladderPlan({ ...o, out });
  const items = all.filter((i) => wanted.has(i.rung.n) && (!o.reportOnly || existsSync(metricsOf(i))));
  if (items.length === 0) throw new Error(`ladder --report-only: no wanted rung of ${o.configs.join(', ')} is evaluated yet under ${out}`);
  const toEval = items.filter((i) => !existsSync(metricsOf(i)));
  // The trainings the wanted, unevaluated rungs need (a rung 5-7 needs rung 4's).
  const trainDirs = [...new Set(toEval.map((i) => i.trainDir))];
  const trainItems = trainDirs.map((d) => all.find((i) => i.dir === d) as LadderItem);
  for (const i of [...trainItems, ...items]) claimRungFolder(i);
  mkdirSync(out, { recursive: true });

  // The twins first: parallel trainings must not synthesize the same one at once.
  for (const cfg of new Set(trainItems.filter((i) => i.cfg.data.source === 'synth').map((i) => JSON.stringify(i.cfg.data.synth)))) {
    const s = JSON.parse(cfg) as RunConfig['data']['synth'];
    await ensureSynth(synthDir(join(out, 'data'), s), s, 'brset', log);
  }

  const todo = trainItems.filter((i) => trainedSteps(i.dir) < i.cfg.train.steps)
    .map((i) => ({ cfg: i.cfg, out: i.dir, resume: existsSync(join(i.dir, 'last', 'state.json')), item: i, name: `train-${i.model}-seed-${i.seed}-rung-${i.rung.n}` }));
  log(`ladder: ${items.length} rung evaluations wanted (${items.length - toEval.length} already done), ` +
    `${todo.length} trainings to run (${trainItems.length - todo.length} already trained) -> ${out}`);
  const jobs = parallelPlan(Math.max(1, todo.length), cpus().length, o.jobs ?? 1).jobs;
  if (jobs <= 1) {
    for (const t of todo) {
      log(`\n== train ${t.item.model} seed ${t.item.seed} rung ${t.item.rung.n} (${t.item.rung.name})${t.resume ? ', resuming' : ''}`);
      await runTraining(t.cfg, { out: t.out, dataRoot: out, resume: t.resume, log, progress: o.progress });
    }
  } else if (todo.length > 0) {
    await trainInParallel(todo, { jobs, dataRoot: out, logDir: join(out, 'logs'), log, progress: o.progress });
  }

  const evals = toEval.map((i) => ({
    name: `eval-${i.model}-seed-${i.seed}-rung-${i.rung.n}`,
    options: { checkpoint: i.trainDir, out: join(i.dir, 'eval'), settings: { gallery: i.cfg.eval.gallery, gallerySize: i.cfg.eval.gallerySize, split: i.cfg.eval.split } } satisfies Omit<EvalRunOptions, 'log'>,
  }));
  if (jobs <= 1 || evals.length <= 1) {
    for (const e of evals) {
      log(`\n== ${e.name}`);
      await runEval({ ...e.options, log });
    }
  } else {
    await evalInParallel(evals, { jobs, logDir: join(out, 'logs'), log, progress: o.progress });
  }

  const entries: LadderEntry[] = items.map((i) => ({
    model: i.model, kind: i.kind, seed: i.seed, rung: i.rung.n, result: parseEvalResult(readFileSync(metricsOf(i), 'utf8'), metricsOf(i)),
  }));
  const seconds = (Date.now() - t0) / 1000;
  const timePath = join(out, 'ladder-time.json');
  const before = existsSync(timePath) ? (JSON.parse(readFileSync(timePath, 'utf8')) as { seconds: number }).seconds : 0;
  writeFileSync(timePath, JSON.stringify({ seconds: before + seconds, note: 'wall time summed over every `retalign ladder` invocation on this folder' }, null, 2) + '\n');
  const base = items[0]?.cfg;
  const summary: LadderSummary = {
    dataset: entries[0]?.result.dataset ?? 'no data',
    rungs: RUNGS.filter((r) => items.some((i) => i.rung.n === r.n)).map((r) => ({ n: r.n, name: r.name, adds: r.adds, change: base ? changeOf(r, base) : '', r1Variant: r.r1Variant })),
    entries,
    wallTimeS: before + seconds,
  };
  const reportDir = join(out, 'report');
  const md = await ladderSection(summary, join(reportDir, 'charts'));
  mkdirSync(reportDir, { recursive: true });
  writeFileSync(join(reportDir, 'report.md'), `# retalign protocol ladder\n\n${md}\n`);
  writeFileSync(join(out, 'ladder-results.json'), JSON.stringify(ladderResults(entries), null, 1) + '\n');
  log(`\nladder report: ${join(reportDir, 'report.md')} (${(seconds / 60).toFixed(1)} min this run, ${((before + seconds) / 60).toFixed(1)} min in all)`);
  return { summary, reportDir, seconds };
}

/** The headline numbers of every entry (one row per model, seed and rung), for a quick look or a script. */
function ladderResults(entries: readonly LadderEntry[]): Record<string, unknown>[] {
  const t2i = (r: EvalResult) => r.retrieval.find((b) => b.pair === 'text->image');
  return entries.map((e) => {
    const r = e.result;
    const b = t2i(r);
    return {
      model: e.model, kind: e.kind, seed: e.seed, rung: e.rung, dataset: r.dataset, split: r.split, n: r.n,
      gallery: b ? (b.gallery ?? 'image') : null, galleryN: b?.strict.galleryN ?? null,
      t2iR1Strict: b?.strict.recallAt[1] ?? null, t2iR1DuplicateAware: b?.duplicateAware.recallAt[1] ?? null, t2iR10Strict: b?.strict.recallAt[10] ?? null,
      icdrAccuracy: r.grading.icdr?.report.accuracy ?? null, icdrKappa: r.grading.icdr?.report.kappa ?? null,
      sdrgAccuracy: r.grading.sdrg?.report.accuracy ?? null, referableAuc: r.referable?.report.auc ?? null,
      majorityAccuracy: r.grading.icdr?.report.majorityBaseline.accuracy ?? null,
    };
  });
}
