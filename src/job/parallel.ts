/**
 * Several trainings at once, one child process each (`node dist/src/job/train-child.js spec.json`).
 *
 * Why processes: on a small CPU a training step of the demo's models is made of many small
 * kernels that one libtorch thread runs about as fast as two (measured on the 2-core machine: a
 * KEMT step used 1.1-1.25x less wall time with 2 threads than with 1). Two runs with one thread
 * each finish nearly twice as fast as the same runs one after the other with two threads. libtorch's
 * thread count is per process, so runs that share a process would share one pool: each run gets its
 * own process, its own thread budget (cores / jobs), and its log in `<logDir>/<run>.log`.
 *
 * A run that fails does not stop the others; after all have ended, the failures are thrown
 * together, each with its log file and last lines. Progress: one bar per run on a terminal
 * (read from each run's metrics.jsonl), or a status line every 30 s.
 *
 * @example
 *   await trainInParallel([{ cfg, out: 'runs/demo/demo-kemt-honest' }], { jobs: 2, dataRoot: 'runs/demo', logDir: 'runs/demo/logs' });
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, closeSync, readFileSync, writeFileSync, renameSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import cliProgress from 'cli-progress';
import type { RunConfig } from '../run/index.js';
import type { EvalRunOptions } from './eval-run.js';

export interface ParallelRun {
  cfg: RunConfig;
  /** The run folder (as `retalign train --out`). */
  out: string;
  /** Continue from `<out>/last`. */
  resume?: boolean;
  /** Name of its log and spec files (default: the folder's base name; give one when runs share base names). */
  name?: string;
}

export interface ParallelOptions {
  /** Runs at once (default: one per core, at most the number of runs). */
  jobs?: number;
  /** Root for synthesized data shared by the runs (runTraining's dataRoot). */
  dataRoot?: string;
  /** Where each run's log goes (`<logDir>/<basename of out>.log`). */
  logDir: string;
  log?: (m: string) => void;
  progress?: 'auto' | 'off';
}

/** What a child process is given (written to a JSON file next to its log): a training or an evaluation. */
export type ChildSpec =
  | { kind: 'train'; cfg: RunConfig; out: string; dataRoot?: string; resume: boolean }
  | { kind: 'eval'; options: Omit<EvalRunOptions, 'log'> };

/** Runs at once and libtorch threads per run for `runs` runs on `cores` cores (threads >= 1). */
export function parallelPlan(runs: number, cores: number, jobs?: number): { jobs: number; threads: number } {
  if (jobs !== undefined && (!Number.isInteger(jobs) || jobs < 1)) throw new Error(`jobs = ${jobs}: expected an integer >= 1`);
  const j = Math.max(1, Math.min(jobs ?? cores, runs));
  return { jobs: j, threads: Math.max(1, Math.floor(cores / j)) };
}

/** The step of the last `train` line of a run's metrics.jsonl (0 when none yet). */
export function lastLoggedStep(runDir: string): number {
  const p = join(runDir, 'metrics.jsonl');
  if (!existsSync(p)) return 0;
  const lines = readFileSync(p, 'utf8').trimEnd().split('\n');
  for (let i = lines.length - 1; i >= 0; i--) {
    try {
      const row = JSON.parse(lines[i] as string) as { type?: string; step?: number };
      if (typeof row.step === 'number') return row.step;
    } catch {
      // a line being written: look at the one before
    }
  }
  return 0;
}

function tail(path: string, n: number): string {
  if (!existsSync(path)) return '(no log)';
  return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-n).map((l) => `    ${l}`).join('\n');
}

const childScript = (): string => fileURLToPath(new URL('./train-child.js', import.meta.url));

/** One child process's work: its name (log file), its spec, and, for a training, its steps and folder. */
interface Task {
  name: string;
  spec: ChildSpec;
  progress?: { steps: number; runDir: string };
}

/**
 * Trains every run, `jobs` at a time, each in its own process. Runs whose `cfg.train.threads` is 0
 * (automatic) get cores / jobs threads. Resolves when all have finished; rejects after all have
 * ended when any failed.
 */
export async function trainInParallel(runs: readonly ParallelRun[], o: ParallelOptions): Promise<void> {
  const plan = parallelPlan(runs.length, cpus().length, o.jobs);
  (o.log ?? console.log)(`  ${runs.length} trainings, ${plan.jobs} at a time, ${plan.threads} libtorch thread(s) each; logs in ${o.logDir}`);
  const tasks = runs.map((r): Task => {
    const cfg: RunConfig = r.cfg.train.threads > 0 ? r.cfg : { ...r.cfg, train: { ...r.cfg.train, threads: plan.threads } };
    const out = resolve(r.out);
    return {
      name: r.name ?? basename(out), progress: { steps: r.cfg.train.steps, runDir: out },
      spec: { kind: 'train', cfg, out, dataRoot: o.dataRoot === undefined ? undefined : resolve(o.dataRoot), resume: r.resume ?? false },
    };
  });
  await runTasks(tasks, plan.jobs, o, 'trainings');
}

/**
 * Evaluations (runEval's options, one child each), `jobs` at a time; each writes its metrics.json
 * (read it back with parseEvalResult). `names` name the log files.
 */
export async function evalInParallel(evals: readonly { name: string; options: Omit<EvalRunOptions, 'log'> }[], o: ParallelOptions): Promise<void> {
  const plan = parallelPlan(evals.length, cpus().length, o.jobs);
  (o.log ?? console.log)(`  ${evals.length} evaluations, ${plan.jobs} at a time; logs in ${o.logDir}`);
  await runTasks(evals.map((e) => ({ name: e.name, spec: { kind: 'eval', options: e.options } })), plan.jobs, o, 'evaluations');
}

async function runTasks(tasks: readonly Task[], jobs: number, o: ParallelOptions, what: string): Promise<void> {
  const log = o.log ?? ((m: string) => console.log(m));
  mkdirSync(o.logDir, { recursive: true });
  const useBars = o.progress !== 'off' && process.stderr.isTTY === true && tasks.some((t) => t.progress);
  const bars = useBars ? new cliProgress.MultiBar({
    format: '  {name} |{bar}| {value}/{total} steps {state}', hideCursor: true, clearOnComplete: false, stream: process.stderr,
  }, cliProgress.Presets.shades_classic) : null;
  const bar = tasks.map((t) => bars?.create(t.progress?.steps ?? 1, 0, { name: t.name.padEnd(24), state: 'waiting' }));
  const state: string[] = tasks.map(() => 'waiting');
  const where = (t: Task, i: number): string =>
    t.progress && state[i] === 'running' ? `${lastLoggedStep(t.progress.runDir)}/${t.progress.steps}` : (state[i] as string);
  const poll = (): void => {
    tasks.forEach((t, i) => bar[i]?.update(t.progress ? Math.min(lastLoggedStep(t.progress.runDir), t.progress.steps) : 0, { state: state[i] }));
  };
  let lastLine = Date.now();
  const timer = setInterval(() => {
    if (bars) poll();
    else if (Date.now() - lastLine >= 30_000 && tasks.some((t) => t.progress)) {
      lastLine = Date.now();
      log(`  ${tasks.map((t, i) => `${t.name} ${where(t, i)}`).join(', ')}`);
    }
  }, 2000);

  const failures: string[] = [];
  let next = 0;
  const runOne = async (i: number): Promise<void> => {
    const t = tasks[i] as Task;
    const specPath = join(o.logDir, `${t.name}.spec.json`);
    writeFileSync(`${specPath}.tmp`, JSON.stringify(t.spec, null, 1) + '\n');
    renameSync(`${specPath}.tmp`, specPath);
    const logPath = join(o.logDir, `${t.name}.log`);
    const fd = openSync(logPath, 'a');
    state[i] = 'running';
    if (!bars) log(`  start ${t.name} (log: ${logPath})`);
    const t0 = Date.now();
    const code = await new Promise<number>((done) => {
      const child = spawn(process.execPath, [childScript(), specPath], { stdio: ['ignore', fd, fd] });
      child.on('error', (e) => { failures.push(`${t.name}: could not start: ${e.message}`); done(-1); });
      child.on('exit', (c, sig) => done(c ?? (sig ? 128 : 1)));
    });
    closeSync(fd);
    const secs = ((Date.now() - t0) / 1000).toFixed(0);
    if (code === 0) {
      state[i] = `done in ${secs} s`;
      if (!bars) log(`  ${t.name} finished in ${secs} s`);
    } else {
      state[i] = `FAILED (exit ${code})`;
      if (code !== -1) failures.push(`${t.name} failed (exit ${code}) after ${secs} s; log ${logPath}, last lines:\n${tail(logPath, 15)}`);
    }
  };
  const worker = async (): Promise<void> => {
    while (next < tasks.length) await runOne(next++);
  };
  try {
    await Promise.all(Array.from({ length: jobs }, worker));
  } finally {
    clearInterval(timer);
    if (bars) {
      poll();
      bars.stop();
    }
  }
  if (failures.length > 0) throw new Error(`${failures.length} of ${tasks.length} ${what} failed:\n${failures.join('\n')}`);
}
