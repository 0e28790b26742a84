/**
 * Run output: metrics.jsonl (always; one JSON object per line: train lines every logEvery steps,
 * one line per validation, one on a non-finite loss) and a progress bar (cli-progress) with the
 * loss parts, samples/s and ETA when stdout is a TTY, plain lines otherwise.
 *
 * @example
 *   const log = new MetricsLog('runs/a/metrics.jsonl'); log.write({ type: 'train', step: 10, loss: 2.3 });
 */
import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import cliProgress from 'cli-progress';

export class MetricsLog {
  readonly path: string;

  /**
   * Opens (appending) `path`. With `keepUpToStep`, lines of a later step are dropped first: after a
   * resume, what an interrupted run logged past its last checkpoint is logged again; 0 starts an
   * empty log (a fresh run).
   */
  constructor(path: string, keepUpToStep?: number) {
    this.path = path;
    if (keepUpToStep === 0) writeFileSync(path, '');
    else if (keepUpToStep !== undefined && existsSync(path)) {
      const kept = readFileSync(path, 'utf8').split('\n').filter((line) => {
        if (line.trim() === '') return false;
        try {
          const o = JSON.parse(line) as { step?: unknown };
          return typeof o.step !== 'number' || o.step <= keepUpToStep;
        } catch {
          return false; // a torn last line from a crash
        }
      });
      writeFileSync(path, kept.map((l) => `${l}\n`).join(''));
    }
  }

  write(record: Record<string, unknown>): void {
    appendFileSync(this.path, `${JSON.stringify(record)}\n`);
  }
}

export interface ProgressUpdate {
  step: number;
  loss: number;
  parts: Record<string, number>;
  samplesPerSec: number;
  lr: number;
  /** Gradient norm per top-level module on the steps that log it (see moduleGradNorms). */
  gradNorms?: Record<string, number> | null;
}

/** A progress display; `update` is called every optimizer step, `stop` once. */
export interface Progress {
  update(u: ProgressUpdate): void;
  note(line: string): void;
  stop(): void;
}

const fmt = (x: number): string => (Math.abs(x) >= 100 || x === 0 ? x.toFixed(1) : x.toPrecision(4));
const partsText = (p: Record<string, number>): string => Object.entries(p).map(([k, v]) => `${k} ${fmt(v)}`).join(' ');

/**
 * 'off': nothing. 'auto' + TTY: a bar. 'auto' + not a TTY: a plain line every `every` steps.
 */
export function createProgress(mode: 'auto' | 'off', totalSteps: number, startStep: number, every: number): Progress {
  if (mode === 'off') return { update: () => undefined, note: () => undefined, stop: () => undefined };
  if (process.stdout.isTTY !== true) {
    return {
      update: (u) => {
        if (u.step % every === 0 || u.step === totalSteps) {
          const grads = u.gradNorms ? ` | grad ${partsText(u.gradNorms)}` : '';
          process.stdout.write(`step ${u.step}/${totalSteps} loss ${fmt(u.loss)} | ${partsText(u.parts)}${grads} | lr ${u.lr.toExponential(2)} | ${u.samplesPerSec.toFixed(1)} samples/s\n`);
        }
      },
      note: (line) => process.stdout.write(`${line}\n`),
      stop: () => undefined,
    };
  }
  const bar = new cliProgress.SingleBar({
    format: 'train {bar} {value}/{total} | loss {loss} | {parts} | {sps} samples/s | ETA {eta_formatted}',
    stream: process.stdout,
    hideCursor: true,
    etaBuffer: 50,
    forceRedraw: true, // notes clear the line: the bar must redraw even if its text did not change
  }, cliProgress.Presets.shades_classic);
  bar.start(totalSteps, startStep, { loss: '-', parts: '', sps: '-' });
  return {
    update: (u) => bar.update(u.step, { loss: fmt(u.loss), parts: partsText(u.parts), sps: u.samplesPerSec.toFixed(1) }),
    note: (line) => {
      // Clear the bar's line, print the note above it, and redraw the bar below.
      process.stdout.write(`\r\x1b[K${line}\n`);
      bar.render();
    },
    stop: () => bar.stop(),
  };
}
