// Runs the installed command line (bin/retalign.js) in a child process, as a user would, and
// returns its exit code and output. The tests of hostile and careless input go through it.
import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../src/data/assets.js';

export const BIN = join(packageRoot(), 'bin', 'retalign.js');

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
  /** stdout and stderr together. */
  all: string;
}

/** `retalign <args>` in `cwd`; `o` may set uid/gid (a test running as root acts as another user). */
export function cli(args: string[], cwd: string, o: Pick<SpawnSyncOptions, 'uid' | 'gid' | 'env'> = {}): CliRun {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd, encoding: 'utf8', timeout: 120_000, ...o });
  if (r.error) throw r.error;
  const stdout = r.stdout;
  const stderr = r.stderr;
  return { code: r.status, stdout, stderr, all: `${stdout}\n${stderr}` };
}

/** Every file under `dir` (relative path -> bytes as hex), to compare a folder before and after. */
export function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string, rel: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const r = rel === '' ? e.name : `${rel}/${e.name}`;
      if (e.isDirectory()) walk(join(d, e.name), r);
      else out[r] = readFileSync(join(d, e.name)).toString('hex');
    }
  };
  walk(dir, '');
  return out;
}
