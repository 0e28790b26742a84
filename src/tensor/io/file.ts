/**
 * Whole-file reads past Node's 2 GiB readFileSync limit, and atomic writes (temp file, fsync,
 * rename), shared by the tensor file formats.
 */
import { closeSync, fstatSync, fsyncSync, openSync, readSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { constants } from 'node:buffer';

const CHUNK = 1 << 30;

/**
 * Reads a whole file into one Uint8Array, in 1 GiB chunks (readFileSync refuses files over 2 GiB).
 * @example const bytes = readWholeFile('pytorch_model.bin');
 */
export function readWholeFile(path: string): Uint8Array {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    if (size > constants.MAX_LENGTH) {
      throw new Error(`${path}: file is ${size} bytes, more than the ${constants.MAX_LENGTH} bytes one buffer can hold`);
    }
    const out = new Uint8Array(size);
    readExactly(fd, out, 0, path);
    return out;
  } finally {
    closeSync(fd);
  }
}

/** Fills `into` from file position `position`; throws if the file ends first. */
export function readExactly(fd: number, into: Uint8Array, position: number, path: string): void {
  let done = 0;
  while (done < into.length) {
    const n = readSync(fd, into, done, Math.min(CHUNK, into.length - done), position + done);
    if (n === 0) throw new Error(`${path}: file ended after ${position + done} bytes, wanted ${position + into.length}`);
    done += n;
  }
}

let tmpCounter = 0;

/**
 * Writes `parts` one after another to `path` atomically: a temp file beside it is written,
 * fsynced, then renamed over `path`, so readers never see a half-written file. On failure the
 * temp file is removed and any old `path` is left as it was.
 * @example writeAtomic('model.safetensors', [header, data]);
 */
export function writeAtomic(path: string, parts: Uint8Array[]): void {
  const tmp = `${path}.tmp-${process.pid}-${++tmpCounter}`;
  let fd: number | null = null;
  try {
    fd = openSync(tmp, 'w');
    for (const p of parts) {
      let written = 0;
      while (written < p.length) written += writeSync(fd, p, written, Math.min(CHUNK, p.length - written));
    }
    fsyncSync(fd);
    closeSync(fd);
    fd = null;
    renameSync(tmp, path);
  } catch (e) {
    if (fd !== null) closeSync(fd);
    try {
      unlinkSync(tmp);
    } catch {
      // the temp file may never have been created
    }
    throw new Error(`${path}: write failed: ${(e as Error).message}`);
  }
}
