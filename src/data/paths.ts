/**
 * Output folders checked before anything is written, and file-system errors said in words.
 *
 * Node's errors name a syscall and a code ("ENOTDIR: not a directory, mkdir '/a/b/c'"); a user
 * needs to know which of the paths they gave is wrong and why. `checkOutputFolder` answers that
 * before a command writes its first byte (so a refused command leaves the disk as it was), and
 * `fsErrorInWords` rewrites the errors that can still happen later (a disk that fills up, a folder
 * made read-only while we run).
 *
 * @example
 *   checkOutputFolder('/tmp/notes.txt/run', '--out')
 *   // throws "--out /tmp/notes.txt/run: /tmp/notes.txt is a file, so no folder can be made under it"
 */
import { accessSync, constants, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

/** The kind of thing at `path`, or null when nothing is there (a dangling link counts as nothing). */
function kindOf(path: string): 'folder' | 'file' | null {
  try {
    return statSync(path).isDirectory() ? 'folder' : 'file';
  } catch {
    return null;
  }
}

/** Can this process create entries in `dir`? (root passes the mode bits; a read-only mount does not.) */
function writable(dir: string): boolean {
  try {
    accessSync(dir, constants.W_OK | constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Checks that `path` is, or can be made, a folder this process can write into: not a file, not
 * under a file, not in a read-only place. Writes nothing. `what` names the option in the message.
 * Returns the absolute path.
 *
 * @example checkOutputFolder('runs/a', '--out') // '/home/me/runs/a'
 */
export function checkOutputFolder(path: string, what: string): string {
  const p = resolve(path);
  const here = kindOf(p);
  if (here === 'file') throw new Error(`${what} ${p} is a file, not a folder`);
  if (here === 'folder') {
    if (!writable(p)) throw new Error(`${what} ${p}: the folder is read-only for this user (no permission to write in it)`);
    return p;
  }
  // Walk up to the first thing that exists: it must be a folder we can write in.
  let up = dirname(p);
  while (kindOf(up) === null && dirname(up) !== up) up = dirname(up);
  const k = kindOf(up);
  if (k === 'file') throw new Error(`${what} ${p}: ${up} is a file, so no folder can be made under it`);
  if (k === 'folder' && !writable(up)) {
    throw new Error(`${what} ${p} does not exist and cannot be made: ${up} is read-only for this user (no permission to write in it)`);
  }
  return p;
}

const IN_WORDS: Record<string, string> = {
  ENOTDIR: 'a part of the path is a file, not a folder',
  EEXIST: 'something is already there',
  ENOENT: 'no such file or folder',
  EACCES: 'permission denied (read-only for this user)',
  EPERM: 'operation not permitted',
  EROFS: 'the file system is read-only',
  ENOSPC: 'the disk is full',
  EDQUOT: 'the disk quota is used up',
  EISDIR: 'it is a folder, not a file',
  ENAMETOOLONG: 'the path is too long',
};

/**
 * A Node file-system error rewritten as "<path>: <what happened in words> (<CODE>)"; any other
 * error is returned unchanged.
 *
 * @example fsErrorInWords(e).message // "/ro/run/metrics.jsonl: permission denied (read-only for this user) (EACCES)"
 */
export function fsErrorInWords(e: unknown): unknown {
  const err = e as NodeJS.ErrnoException & { dest?: unknown };
  if (!(e instanceof Error) || typeof err.code !== 'string' || !(err.code in IN_WORDS)) return e;
  const path = typeof err.path === 'string' ? err.path : null;
  const dest = typeof err.dest === 'string' ? ` -> ${err.dest}` : '';
  const out = new Error(`${path === null ? err.syscall ?? 'file system' : path}${dest}: ${IN_WORDS[err.code]} (${err.code})`);
  return Object.assign(out, { code: err.code, cause: e });
}
