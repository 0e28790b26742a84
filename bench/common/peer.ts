/**
 * What every bench shares: a long-lived Python peer spoken to one JSON line at a time (so that the
 * bench can interleave the sides: Python, ours, Python, ours, ...), the median both sides are
 * reduced with, the libtorch/torch version check, and the switch that forces a check to fail.
 *
 * @example
 *   const peer = await PythonPeer.start('bench/engine', python, [script, '2', 'cpu']);
 *   console.log(torchVersionLine('bench/engine', torchVersion(), peer.ready['torch'] as string, python));
 *   const round = await peer.ask({ cmd: 'round', steps: 3 }); // -> the peer's JSON reply
 *   await peer.close();
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export type Json = Record<string, unknown>;

/**
 * A Python process that prints one JSON line when ready, then answers each JSON line written to
 * its stdin with one JSON line (a reply with an `error` field is thrown here). EOF on stdin ends it.
 */
export class PythonPeer {
  private stderr = '';
  private constructor(
    private readonly bench: string,
    private readonly child: ChildProcessWithoutNullStreams,
    private readonly lines: AsyncIterator<string>,
    private readonly what: string,
  ) {
    child.stderr.on('data', (d: Buffer) => { this.stderr = (this.stderr + d.toString()).slice(-8000); });
  }

  /** The first line the peer printed (its versions, parameter lists, ...). */
  ready: Json = {};

  static async start(bench: string, python: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<PythonPeer> {
    const child = spawn(python, args, { stdio: ['pipe', 'pipe', 'pipe'], env });
    const peer = new PythonPeer(bench, child, createInterface({ input: child.stdout })[Symbol.asyncIterator](), `${python} ${args[0] ?? ''}`);
    peer.ready = await peer.next();
    return peer;
  }

  private async next(): Promise<Json> {
    const r = await this.lines.next();
    if (r.done === true) {
      const code = await new Promise<number | null>((res) => {
        if (this.child.exitCode !== null) res(this.child.exitCode);
        else this.child.once('close', (c) => res(c));
      });
      throw new Error(`${this.bench}: the Python peer (${this.what}) exited with code ${code}:\n${this.stderr.trim() || '(no stderr)'}`);
    }
    let out: Json;
    try {
      out = JSON.parse(r.value) as Json;
    } catch {
      throw new Error(`${this.bench}: the Python peer (${this.what}) printed a line that is not JSON: ${r.value.slice(0, 200)}`);
    }
    if (typeof out['error'] === 'string') throw new Error(`${this.bench}: the Python peer (${this.what}) failed: ${out['error']}`);
    return out;
  }

  /** Sends one command and waits for its reply. */
  async ask(cmd: Json): Promise<Json> {
    this.child.stdin.write(`${JSON.stringify(cmd)}\n`);
    return this.next();
  }

  /** Closes the peer's stdin and waits for it to exit. */
  async close(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const done = new Promise((res) => this.child.once('close', res));
    this.child.stdin.end();
    await done;
  }
}

/** The median (mean of the two middle values for an even count). */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) throw new Error('median of no values');
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

/**
 * The release a libtorch/torch version string names, major.minor.patch, with everything after it
 * dropped: '1.13.0a0' -> '1.13.0', '2.1.2+cpu' -> '2.1.2', '1.13.1+debian' -> '1.13.1'.
 * Null when the string does not start with three dot-separated numbers.
 */
export function torchRelease(version: string): string | null {
  const m = /^(\d+)\.(\d+)\.(\d+)/.exec(version.trim());
  return m === null ? null : `${Number(m[1])}.${Number(m[2])}.${Number(m[3])}`;
}

/**
 * The line a bench prints next to its ratio: both sides' libtorch/torch versions. Throws (the bench
 * fails) when their releases differ or one cannot be read: a ratio between two different libtorch
 * releases measures the releases, not our code. `RETALIGN_BENCH_FORCE=version` makes the peer's
 * version read as one minor release later, to see this failure.
 */
export function torchVersionLine(bench: string, ours: string, peer: string, peerWhat: string): string {
  const theirs = forced('version') ? bumpMinor(peer) : peer;
  const a = torchRelease(ours);
  const b = torchRelease(theirs);
  const rule = 'compared as major.minor.patch; suffixes such as a0, +cpu, +debian ignored';
  const line = `torch versions: retalign addon libtorch ${ours}, ${peerWhat} torch ${theirs}${forced('version') ? ' (forced by RETALIGN_BENCH_FORCE=version)' : ''}`;
  if (a === null || b === null || a !== b) {
    throw new Error(`${bench}: FAIL the two sides run different libtorch releases (${line}; ${rule}): ` +
      `${a ?? `unreadable '${ours}'`} vs ${b ?? `unreadable '${theirs}'`}; the ratio would compare the releases, not the code. ` +
      'Run the peer with a python whose torch matches the addon (PYTHON=...) or rebuild the addon against that libtorch');
  }
  return `${line}: same release ${a} (${rule})`;
}

function bumpMinor(v: string): string {
  const m = /^(\d+)\.(\d+)\.(\d+)(.*)$/.exec(v.trim());
  return m === null ? `${v}-forced` : `${m[1]}.${Number(m[2]) + 1}.${m[3]}${m[4]}`;
}

/** The checks a bench can be told to fail, to see that failing works (RETALIGN_BENCH_FORCE=version,same-work,top10). */
export type ForcedFailure = 'version' | 'same-work' | 'top10';
const FORCIBLE: readonly ForcedFailure[] = ['version', 'same-work', 'top10'];

/** True when RETALIGN_BENCH_FORCE (a comma list) names `what`; an unknown name is an error. */
export function forced(what: ForcedFailure): boolean {
  const raw = process.env['RETALIGN_BENCH_FORCE'] ?? '';
  const names = raw.split(',').map((s) => s.trim()).filter((s) => s !== '');
  for (const n of names) {
    if (!(FORCIBLE as readonly string[]).includes(n)) {
      throw new Error(`RETALIGN_BENCH_FORCE: '${n}' is not a check; expected a comma list of ${FORCIBLE.join(', ')}`);
    }
  }
  return names.includes(what);
}

/**
 * A Python script of bench/<dir>/: beside the running file when run from source (tsx), in the
 * source tree's bench/<dir>/ when compiled (dist/bench/<dir>/).
 */
export function peerScript(bench: string, importMetaUrl: string, dir: string, file: string): string {
  const here = dirname(fileURLToPath(importMetaUrl));
  const found = [join(here, file), join(here, '..', '..', '..', 'bench', dir, file)].find((p) => existsSync(p));
  if (found === undefined) throw new Error(`${bench}: ${file} not found beside ${here} or in bench/${dir}/`);
  return found;
}

/**
 * A positive-integer flag `--name N` (default `dflt`); names the flag and the value when wrong.
 */
export function intFlag(bench: string, name: string, dflt: number, min = 1): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return dflt;
  const s = process.argv[i + 1];
  const v = Number(s);
  if (s === undefined || s.startsWith('--') || !Number.isInteger(v) || v < min) {
    throw new Error(`${bench}: --${name} is '${s ?? ''}'; expected an integer >= ${min}`);
  }
  return v;
}
