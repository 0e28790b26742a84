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

export interface ParallelRun {
  cfg: RunConfig;
  /** The run folder (as `retalign train --out`). */
  out: string;
  /** Continue from `<out>/last`. */
  resume?: boolean;
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

/** What a child process is given (written to a JSON file next to its log). */
export interface ChildSpec {
  cfg: RunConfig;
  out: string;
  dataRoot?: string;
  resume: boolean;
}

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

/**
 * Trains every run, `jobs` at a time, each in its own process. Runs whose `cfg.train.threads` is 0
 * (automatic) get cores / jobs threads. Resolves when all have finished; rejects after all have
 * ended when any failed.
 */
export async function trainInParallel(runs: readonly ParallelRun[], o: ParallelOptions): Promise<void> {
  const log = o.log ?? ((m: string) => console.log(m));
  const plan = parallelPlan(runs.length, cpus().length, o.jobs);
  mkdirSync(o.logDir, { recursive: true });
  const names = runs.map((r) => basename(resolve(r.out)));
  log(`  ${runs.length} trainings, ${plan.jobs} at a time, ${plan.threads} libtorch thread(s) each; logs in ${o.logDir}`);

  const useBars = o.progress !== 'off' && process.stderr.isTTY === true;
  const bars = useBars ? new cliProgress.MultiBar({
    format: '  {name} |{bar}| {value}/{total} steps {state}', hideCursor: true, clearOnComplete: false, stream: process.stderr,
  }, cliProgress.Presets.shades_classic) : null;
  const bar = runs.map((r, i) => bars?.create(r.cfg.train.steps, 0, { name: (names[i] as string).padEnd(24), state: 'waiting' }));
  const state: string[] = runs.map(() => 'waiting');
  const poll = (): void => {
    runs.forEach((r, i) => bar[i]?.update(Math.min(lastLoggedStep(r.out), r.cfg.train.steps), { state: state[i] }));
  };
  let lastLine = Date.now();
  const timer = setInterval(() => {
    if (bars) poll();
    else if (Date.now() - lastLine >= 30_000) {
      lastLine = Date.now();
      log(`  training: ${runs.map((r, i) => `${names[i]} ${state[i] === 'running' ? `${lastLoggedStep(r.out)}/${r.cfg.train.steps}` : state[i]}`).join(', ')}`);
    }
  }, 2000);

  const failures: string[] = [];
  let next = 0;
  const runOne = async (i: number): Promise<void> => {
    const r = runs[i] as ParallelRun;
    const name = names[i] as string;
    const cfg: RunConfig = r.cfg.train.threads > 0 ? r.cfg : { ...r.cfg, train: { ...r.cfg.train, threads: plan.threads } };
    const spec: ChildSpec = { cfg, out: resolve(r.out), dataRoot: o.dataRoot === undefined ? undefined : resolve(o.dataRoot), resume: r.resume ?? false };
    const specPath = join(o.logDir, `${name}.spec.json`);
    writeFileSync(`${specPath}.tmp`, JSON.stringify(spec, null, 1) + '\n');
    renameSync(`${specPath}.tmp`, specPath);
    const logPath = join(o.logDir, `${name}.log`);
    const fd = openSync(logPath, 'a');
    state[i] = 'running';
    if (!bars) log(`  start ${name} (log: ${logPath})`);
    const t0 = Date.now();
    const code = await new Promise<number>((done) => {
      const child = spawn(process.execPath, [childScript(), specPath], { stdio: ['ignore', fd, fd] });
      child.on('error', (e) => { failures.push(`${name}: could not start: ${e.message}`); done(-1); });
      child.on('exit', (c, sig) => done(c ?? (sig ? 128 : 1)));
    });
    closeSync(fd);
    const secs = ((Date.now() - t0) / 1000).toFixed(0);
    if (code === 0) {
      state[i] = `done in ${secs} s`;
      if (!bars) log(`  ${name} finished in ${secs} s`);
    } else {
      state[i] = `FAILED (exit ${code})`;
      if (code !== -1) failures.push(`${name} failed (exit ${code}) after ${secs} s; log ${logPath}, last lines:\n${tail(logPath, 15)}`);
    }
  };
  const worker = async (): Promise<void> => {
    while (next < runs.length) await runOne(next++);
  };
  try {
    await Promise.all(Array.from({ length: plan.jobs }, worker));
  } finally {
    clearInterval(timer);
    if (bars) {
      poll();
      bars.stop();
    }
  }
  if (failures.length > 0) throw new Error(`${failures.length} of ${runs.length} trainings failed:\n${failures.join('\n')}`);
}
