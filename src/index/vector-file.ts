/**
 * vectors.f32: the index's vectors as float32 rows, row-major, little-endian, after a 32-byte header.
 *
 *   bytes 0..7    magic 'RTLGNVEC'
 *   bytes 8..11   u32 format version (1)
 *   bytes 12..15  u32 dim
 *   bytes 16..19  u32 generation (bumped by every compaction; meta.sqlite records the one it matches)
 *   bytes 20..23  u32 header size (32)
 *   bytes 24..31  reserved (0)
 *   row r         bytes [32 + r*dim*4, 32 + (r+1)*dim*4)
 *
 * The row count is NOT in the header: meta.sqlite's committed count is the only truth, so a crash
 * between appending rows here and committing the SQLite transaction leaves rows past that count,
 * which readers ignore and the next append overwrites.
 *
 * @example
 *   createVectorFile('/tmp/x/vectors.f32', 4, 0);
 *   const f = VectorFile.open('/tmp/x/vectors.f32', 4, 0);
 *   f.writeRows(0, new Float32Array([1, 0, 0, 0])); f.readRows(0, 1); // Float32Array [1, 0, 0, 0]
 */
import { closeSync, fstatSync, fsyncSync, openSync, readSync, renameSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { endianness } from 'node:os';

export const VECTOR_MAGIC = 'RTLGNVEC';
export const VECTOR_FORMAT_VERSION = 1;
export const HEADER_BYTES = 32;
/** Rows moved per read/write when copying (16k x 256 x 4 = 16 MB). */
const COPY_BLOCK_BYTES = 16 << 20;

if (endianness() !== 'LE') throw new Error('retalign index: vectors.f32 is little-endian; big-endian hosts are not supported');

export interface VectorHeader {
  version: number;
  dim: number;
  generation: number;
}

function headerBytes(dim: number, generation: number): Uint8Array {
  const b = new Uint8Array(HEADER_BYTES);
  b.set(new TextEncoder().encode(VECTOR_MAGIC), 0);
  const v = new DataView(b.buffer);
  v.setUint32(8, VECTOR_FORMAT_VERSION, true);
  v.setUint32(12, dim, true);
  v.setUint32(16, generation, true);
  v.setUint32(20, HEADER_BYTES, true);
  return b;
}

/** Reads and checks the header of an open file; `path` is for messages. */
export function readHeader(fd: number, path: string): VectorHeader {
  const b = new Uint8Array(HEADER_BYTES);
  const got = readSync(fd, b, 0, HEADER_BYTES, 0);
  if (got < HEADER_BYTES) throw new Error(`${path}: ${got} bytes, shorter than the ${HEADER_BYTES}-byte header`);
  const magic = new TextDecoder().decode(b.subarray(0, 8));
  if (magic !== VECTOR_MAGIC) throw new Error(`${path}: magic ${JSON.stringify(magic)}, expected '${VECTOR_MAGIC}': not a retalign vectors file`);
  const v = new DataView(b.buffer);
  const version = v.getUint32(8, true);
  if (version !== VECTOR_FORMAT_VERSION) throw new Error(`${path}: format version ${version}, this build reads ${VECTOR_FORMAT_VERSION}`);
  const hb = v.getUint32(20, true);
  if (hb !== HEADER_BYTES) throw new Error(`${path}: header size ${hb}, expected ${HEADER_BYTES}`);
  return { version, dim: v.getUint32(12, true), generation: v.getUint32(16, true) };
}

/** fsyncs a directory so that a create or rename in it is durable. */
export function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Writes a new, empty vectors file (replacing any file at `path`) and makes it durable. */
export function createVectorFile(path: string, dim: number, generation: number): void {
  const fd = openSync(path, 'w');
  try {
    writeSync(fd, headerBytes(dim, generation), 0, HEADER_BYTES, 0);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  fsyncDir(dirname(path));
}

/** An open vectors file. Row positions are absolute; callers track the committed count. */
export class VectorFile {
  private constructor(readonly path: string, private fd: number, readonly dim: number, readonly generation: number) {}

  /** Opens for reading and writing ('r': reading only); throws if the header's dim or generation differ from the expected. */
  static open(path: string, dim: number, generation: number, mode: 'r' | 'r+' = 'r+'): VectorFile {
    const fd = openSync(path, mode);
    try {
      const h = readHeader(fd, path);
      if (h.dim !== dim) throw new Error(`${path}: header says dim ${h.dim}, meta.sqlite says ${dim}`);
      if (h.generation !== generation) {
        throw new Error(`${path}: generation ${h.generation}, meta.sqlite expects ${generation}: the files are from different compactions`);
      }
      return new VectorFile(path, fd, dim, generation);
    } catch (e) {
      closeSync(fd);
      throw e;
    }
  }

  private get rowBytes(): number {
    return this.dim * 4;
  }

  /** Whole rows present on disk (committed or not). */
  rowsOnDisk(): number {
    return Math.floor((fstatSync(this.fd).size - HEADER_BYTES) / this.rowBytes);
  }

  /** Writes rows starting at row `start` (data.length a multiple of dim); fsyncs unless sync is false. */
  writeRows(start: number, data: Float32Array, sync = true): void {
    if (data.length % this.dim !== 0) throw new Error(`${this.path}: writeRows got ${data.length} floats, not a multiple of dim ${this.dim}`);
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    let off = 0;
    const pos = HEADER_BYTES + start * this.rowBytes;
    while (off < bytes.length) off += writeSync(this.fd, bytes, off, bytes.length - off, pos + off);
    if (sync) fsyncSync(this.fd);
  }

  /** Makes every write so far durable. */
  sync(): void {
    fsyncSync(this.fd);
  }

  /** Reads `count` rows from row `start` into `into` (default: a new array). */
  readRows(start: number, count: number, into?: Float32Array): Float32Array {
    const out = into ?? new Float32Array(count * this.dim);
    if (out.length < count * this.dim) throw new Error(`${this.path}: readRows target too small`);
    const bytes = new Uint8Array(out.buffer, out.byteOffset, count * this.rowBytes);
    const pos = HEADER_BYTES + start * this.rowBytes;
    let off = 0;
    while (off < bytes.length) {
      const n = readSync(this.fd, bytes, off, bytes.length - off, pos + off);
      if (n === 0) throw new Error(`${this.path}: rows ${start}..${start + count - 1} run past the end of the file`);
      off += n;
    }
    return out;
  }

  /**
   * Streams rows [from, to) to `fn` in blocks of at most ~16 MB: fn(firstRow, rows (n*dim)).
   * The block array is reused between calls: copy what you keep.
   */
  forEachBlock(from: number, to: number, fn: (first: number, rows: Float32Array) => void): void {
    const per = Math.max(1, Math.floor(COPY_BLOCK_BYTES / this.rowBytes));
    const buf = new Float32Array(Math.min(per, Math.max(to - from, 1)) * this.dim);
    for (let s = from; s < to; s += per) {
      const n = Math.min(per, to - s);
      fn(s, this.readRows(s, n, buf.subarray(0, n * this.dim)));
    }
  }

  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }
}

/**
 * Writes the rows `keep` (ascending row numbers of `src`) into a fresh file at `dest` with the given
 * generation, in order, and fsyncs it. Contiguous runs are copied in blocks.
 */
export function writeCompacted(src: VectorFile, keep: readonly number[], dest: string, generation: number): void {
  createVectorFile(dest, src.dim, generation);
  const out = VectorFile.open(dest, src.dim, generation);
  try {
    const per = Math.max(1, Math.floor(COPY_BLOCK_BYTES / (src.dim * 4)));
    const buf = new Float32Array(per * src.dim);
    let written = 0;
    let i = 0;
    while (i < keep.length) {
      // One run of consecutive source rows, at most `per` long.
      const first = keep[i] as number;
      let n = 1;
      while (i + n < keep.length && n < per && keep[i + n] === first + n) n++;
      const rows = src.readRows(first, n, buf.subarray(0, n * src.dim));
      out.writeRows(written, rows, false);
      written += n;
      i += n;
    }
    out.sync();
  } finally {
    out.close();
  }
}

/** Atomically replaces `dest` with `src` and makes the rename durable. */
export function replaceFile(src: string, dest: string): void {
  renameSync(src, dest);
  fsyncDir(dirname(dest));
}
