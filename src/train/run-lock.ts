/**
 * One training per run folder: a lock file, `<run>/train.lock`, held for the life of a run.
 *
 * Two trainings writing the same folder interleave their metrics.jsonl lines and overwrite each
 * other's checkpoints. The lock holds the owner's PID, host and start time (JSON), is created with
 * O_EXCL (so of two processes starting together exactly one gets it), and is removed when the run
 * ends, whether it finished or failed. A lock left by a process that died (kill -9, a power cut) is
 * stale: on the same host, when its PID no longer runs, the next run takes it over and says so. A
 * lock from another host cannot be checked from here and is never taken over (the message says
 * how to remove it by hand).
 *
 * @example
 *   const lock = acquireRunLock('runs/a', { log: console.log });
 *   try { ...train... } finally { lock.release(); }
 */
import { closeSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';

/** The lock file's name inside the run folder. */
export const RUN_LOCK_FILE = 'train.lock';

export interface RunLockInfo {
  pid: number;
  host: string;
  /** ISO time the run started. */
  started: string;
}

export interface RunLock {
  path: string;
  info: RunLockInfo;
  /** Removes the lock file if it is still ours (idempotent). */
  release(): void;
}

/** Is `pid` a running process on this host? (EPERM: it runs, as another user.) */
function processRuns(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The lock's content, or null when the file is empty or not a lock (a writer killed between create and write). */
function readLock(path: string): RunLockInfo | null {
  try {
    const v = JSON.parse(readFileSync(path, 'utf8')) as Partial<RunLockInfo>;
    if (typeof v.pid === 'number' && Number.isInteger(v.pid) && v.pid > 0 && typeof v.host === 'string' && typeof v.started === 'string') {
      return { pid: v.pid, host: v.host, started: v.started };
    }
  } catch {
    // unreadable or half-written: treated as stale below
  }
  return null;
}

/** "PID 123 on host h, started 2026-..." */
function describe(i: RunLockInfo): string {
  return `PID ${i.pid} on host ${i.host}, started ${i.started}`;
}

/**
 * Why `runDir` is in use by another live training (naming the lock file and its owner), or null
 * when it is free or its lock is stale. Reads only.
 */
export function runLockHolder(runDir: string): string | null {
  const path = join(runDir, RUN_LOCK_FILE);
  let info: RunLockInfo | null;
  try {
    readFileSync(path);
    info = readLock(path);
  } catch {
    return null; // no lock file
  }
  if (info === null) return null;
  if (info.host !== hostname()) {
    return `${runDir} is locked by a training on another host (${describe(info)}; lock file ${path}). ` +
      'If no training runs there any more, delete the lock file and try again.';
  }
  if (!processRuns(info.pid)) return null;
  return `${runDir} is in use by another training (${describe(info)}; lock file ${path}): wait for it to end or stop it; ` +
    'two trainings in one folder would interleave their logs and overwrite each other\'s checkpoints';
}

/**
 * Takes the run folder's lock (the folder must exist). Throws naming the lock file and the owner's
 * PID when another live training holds it; takes over a stale lock with a message through `log`.
 */
export function acquireRunLock(runDir: string, o: { log?: (msg: string) => void } = {}): RunLock {
  const path = join(runDir, RUN_LOCK_FILE);
  const info: RunLockInfo = { pid: process.pid, host: hostname(), started: new Date().toISOString() };
  for (let attempt = 0; attempt < 2; attempt++) {
    let fd: number;
    try {
      fd = openSync(path, 'wx');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const busy = runLockHolder(runDir);
      if (busy !== null) throw new Error(busy);
      const old = readLock(path);
      o.log?.(`taking over the stale lock ${path} (${old === null ? 'empty or unreadable' : `${describe(old)}: that process no longer runs`})`);
      rmSync(path, { force: true });
      continue;
    }
    try {
      writeSync(fd, JSON.stringify(info) + '\n');
    } finally {
      closeSync(fd);
    }
    let released = false;
    return {
      path,
      info,
      release(): void {
        if (released) return;
        released = true;
        const now = readLock(path);
        if (now !== null && now.pid === info.pid && now.host === info.host && now.started === info.started) rmSync(path, { force: true });
      },
    };
  }
  throw new Error(`could not take the lock ${path}: another process took it at the same moment; try again`);
}
