/**
 * EmbeddingIndex: a model's embeddings (images and notes) in one folder, searched by exact cosine
 * top-k on the tensor engine.
 *
 *   <dir>/vectors.f32   unit float32 rows (vector-file.ts)
 *   <dir>/meta.sqlite   one row per vector: id, kind, metadata, deleted; the model identity; the
 *                       committed row count (meta-db.ts). (-wal/-shm files appear while open.)
 *
 * Crash safety: add() takes SQLite's write lock, writes the new rows past the committed count
 * and fsyncs them, then commits metadata + the new count in one transaction; rows past the
 * committed count are ignored on open and overwritten by the next add. compact() writes
 * vectors.compact.f32, commits the renumbered rows and a new generation, then renames; open()
 * finishes or discards an interrupted compaction by comparing generations.
 *
 * Items are keyed by (kind, id): an exam's image and its note share the imageId. Re-adding a key
 * appends the new vector and marks the old row deleted.
 *
 * @example
 *   const ix = EmbeddingIndex.create('/data/ix', { checkpointId: 'ck-1', modelName: 'small', dim: 256, embeddingSpace: 'projection' });
 *   ix.add([{ id: 'img001', kind: 'image', vector, meta: { patientId: 'p1', imagePath: 'fundus/img001.jpg', icdr: 2 } }]);
 *   ix.search(queryVector, { k: 10, kind: 'image' }); // [{ id, kind, score, meta }, ...]
 *   ix.close();
 */
import { existsSync, mkdirSync, openSync, closeSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { Tensor, type Device } from '../tensor/index.js';
import { LiveVectors, type RowFilter } from './live-vectors.js';
import { MetaDb } from './meta-db.js';
import { cosineTopk, type TopkResult } from './topk.js';
import {
  normalizeMeta, unitVector, validateId, validateIdentity, validateKind,
  type IndexIdentity, type IndexItem, type ItemKind, type NewItem, type SearchHit, type StoredMeta,
} from './types.js';
import { VectorFile, createVectorFile, readHeader, replaceFile, writeCompacted } from './vector-file.js';

export const VECTORS_FILE = 'vectors.f32';
export const META_FILE = 'meta.sqlite';
export const COMPACT_FILE = 'vectors.compact.f32';

export interface IndexOptions {
  /** Where the search tensor lives (default 'cpu'). */
  device?: Device;
  /** Rows per search chunk (default: ~4M scores per chunk, see topk.ts). */
  chunkRows?: number;
}

export interface OpenOptions extends IndexOptions {
  /** Refuse to open an index built from another checkpoint. */
  expectCheckpointId?: string;
  /** Write nothing, so a read-only folder can be searched (the server); add, delete and compact then throw. */
  readOnly?: boolean;
}

export interface SearchOptions {
  /** Results per query (fewer when fewer items match). */
  k: number;
  /** Only items of this kind (default: both). */
  kind?: ItemKind;
}

export class EmbeddingIndex {
  private vf: VectorFile;
  private committed: number;
  private seenVersion: number;
  private readonly live: LiveVectors;
  private closed = false;

  private constructor(readonly dir: string, readonly identity: IndexIdentity, private readonly db: MetaDb, vf: VectorFile,
    private readonly opts: OpenOptions) {
    this.vf = vf;
    this.committed = db.rowCount();
    this.seenVersion = db.dataVersion();
    this.live = new LiveVectors(identity.dim, opts.device ?? 'cpu');
  }

  /**
   * Creates an empty index in `dir` (created if missing) for the model `identity`.
   * Refuses a folder that already holds an index.
   */
  static create(dir: string, identity: IndexIdentity, opts: IndexOptions = {}): EmbeddingIndex {
    validateIdentity(identity, `EmbeddingIndex.create(${dir})`);
    mkdirSync(dir, { recursive: true });
    const metaPath = join(dir, META_FILE);
    if (existsSync(metaPath)) {
      throw new Error(`EmbeddingIndex.create: ${dir} already holds an index (${META_FILE}); open it, or choose an empty folder`);
    }
    // Vectors first: a crash before meta.sqlite exists leaves a folder that create() accepts again.
    createVectorFile(join(dir, VECTORS_FILE), identity.dim, 0);
    const db = MetaDb.create(metaPath, { ...identity });
    return new EmbeddingIndex(dir, db.identity(), db, VectorFile.open(join(dir, VECTORS_FILE), identity.dim, 0), opts);
  }

  /**
   * Opens the index in `dir`. With `expectCheckpointId`, an index built from another checkpoint is
   * refused (its vectors live in another embedding space).
   */
  static open(dir: string, opts: OpenOptions = {}): EmbeddingIndex {
    const metaPath = join(dir, META_FILE);
    if (!existsSync(metaPath)) {
      throw new Error(`EmbeddingIndex.open: ${dir} holds no ${META_FILE}: not an index (make one with EmbeddingIndex.create)`);
    }
    const readOnly = opts.readOnly === true;
    const db = MetaDb.open(metaPath, { readOnly });
    try {
      const identity = db.identity();
      if (opts.expectCheckpointId !== undefined && opts.expectCheckpointId !== identity.checkpointId) {
        throw new Error(`EmbeddingIndex.open: the index in ${dir} was built from checkpoint '${identity.checkpointId}', ` +
          `but checkpoint '${opts.expectCheckpointId}' was given; its vectors are in another embedding space: ` +
          `rebuild the index with this checkpoint, or use checkpoint '${identity.checkpointId}'`);
      }
      const generation = db.generation();
      if (!readOnly) recoverCompaction(dir, generation); // read-only: a stale vectors file fails the generation check below
      const vf = VectorFile.open(join(dir, VECTORS_FILE), identity.dim, generation, readOnly ? 'r' : 'r+');
      const onDisk = vf.rowsOnDisk();
      const committed = db.rowCount();
      if (onDisk < committed) {
        vf.close();
        throw new Error(`EmbeddingIndex.open: ${join(dir, VECTORS_FILE)} holds ${onDisk} whole rows but ${META_FILE} ` +
          `committed ${committed}: the vectors file was truncated; the index is damaged (rebuild it)`);
      }
      return new EmbeddingIndex(dir, identity, db, vf, opts);
    } catch (e) {
      db.close();
      throw e;
    }
  }

  /** Number of live (not deleted) items. */
  get size(): number {
    this.check();
    return this.db.liveCount();
  }

  /**
   * Adds items (one transaction). Vectors are L2-normalized on the way in. An item whose
   * (kind, id) is already live replaces it. Throws before writing anything if any item is invalid.
   * @example ix.add([{ id: 'img1', kind: 'image', vector: new Float32Array(256).fill(1) }])
   */
  add(items: readonly NewItem[]): void {
    this.checkWritable();
    const d = this.identity.dim;
    const data = new Float32Array(items.length * d);
    const metas: StoredMeta[] = [];
    const seen = new Set<string>();
    items.forEach((it, i) => {
      const where = `EmbeddingIndex.add: item ${i}`;
      validateId(it.id, where);
      validateKind(it.kind, `${where} (id '${it.id}')`);
      const key = `${it.kind}/${it.id}`;
      if (seen.has(key)) throw new Error(`${where}: ${it.kind} '${it.id}' appears twice in one add; keep one`);
      seen.add(key);
      unitVector(it.vector, d, `${where} (id '${it.id}')`, data, i * d);
      metas.push(normalizeMeta(it.meta, `${where} (id '${it.id}')`));
    });
    if (items.length === 0) return;
    let start = 0;
    const retired: number[] = [];
    this.db.immediate(() => {
      this.refreshIfChanged(); // under the write lock: our view of the row count is current
      start = this.db.rowCount();
      this.vf.writeRows(start, data); // past the committed count: invisible until the commit below
      items.forEach((it, i) => {
        retired.push(...this.db.retire(it.id, it.kind));
        this.db.insert(start + i, it.id, it.kind, metas[i] as StoredMeta);
      });
      this.db.setRowCount(start + items.length);
    });
    this.committed = start + items.length;
    this.live.noteAdded(start, items.map((it) => it.kind), retired);
  }

  /**
   * Marks items deleted (their rows stay in the files until compact()). Without `kind`, every
   * kind of each id goes. Returns how many items were deleted (unknown ids count 0).
   */
  delete(ids: readonly string[], kind?: ItemKind): number {
    this.checkWritable();
    ids.forEach((id, i) => validateId(id, `EmbeddingIndex.delete: ids[${i}]`));
    if (kind !== undefined) validateKind(kind, 'EmbeddingIndex.delete');
    const rows: number[] = [];
    this.db.immediate(() => {
      this.refreshIfChanged();
      for (const id of ids) rows.push(...this.db.retire(id, kind ?? null));
    });
    this.live.noteDeleted(rows);
    return rows.length;
  }

  /**
   * The live item (kind, id), or undefined. Without `kind`, the id's only item; throws if the id
   * has both an image and a note (pass the kind).
   */
  get(id: string, kind?: ItemKind): IndexItem | undefined {
    this.check();
    validateId(id, 'EmbeddingIndex.get');
    if (kind !== undefined) validateKind(kind, 'EmbeddingIndex.get');
    return this.db.read(() => {
      this.refreshIfChanged();
      const rows = this.db.liveById(id).filter((r) => kind === undefined || r.kind === kind);
      if (rows.length === 0) return undefined;
      if (rows.length > 1) {
        throw new Error(`EmbeddingIndex.get: id '${id}' has ${rows.map((r) => r.kind).join(' and ')} items; pass the kind`);
      }
      const r = rows[0]!;
      return { id: r.id, kind: r.kind, row: r.row, vector: this.vf.readRows(r.row, 1), meta: r.meta };
    });
  }

  /**
   * Exact cosine top-k for one query vector (any norm but zero).
   * @example ix.search(q, { k: 5, kind: 'note' }) // best first: [{ id, kind, score, meta }]
   */
  search(query: Float32Array, o: SearchOptions): SearchHit[] {
    return this.searchBatch(query, o)[0] ?? [];
  }

  /**
   * Exact cosine top-k for m queries: `queries` is m x d row-major (Float32Array of m*d) or a
   * (m, d) Tensor (read, not kept). Returns one best-first list per query.
   */
  searchBatch(queries: Float32Array | Tensor, o: SearchOptions): SearchHit[][] {
    this.check();
    const d = this.identity.dim;
    if (!Number.isInteger(o.k) || o.k < 1) throw new Error(`EmbeddingIndex.search: k must be a positive integer, got ${o.k}`);
    if (o.kind !== undefined) validateKind(o.kind, 'EmbeddingIndex.search');
    let flat: Float32Array;
    if (queries instanceof Tensor) {
      const shp = queries.shape;
      if (shp.length !== 2 || shp[1] !== d) throw new Error(`EmbeddingIndex.search: queries tensor has shape [${shp.join(', ')}], expected [m, ${d}]`);
      flat = queries.toFloat32();
    } else {
      flat = queries;
    }
    if (!(flat instanceof Float32Array) || flat.length === 0 || flat.length % d !== 0) {
      throw new Error(`EmbeddingIndex.search: queries must be a non-empty Float32Array of m*${d} values, got length ${String(flat?.length)}`);
    }
    const m = flat.length / d;
    const unit = new Float32Array(m * d);
    for (let i = 0; i < m; i++) unitVector(flat.subarray(i * d, (i + 1) * d), d, `EmbeddingIndex.search: query ${i}`, unit, i * d);

    // One read snapshot from the row count to the metadata of the hits: a compaction committed by
    // another process meanwhile cannot shift rows under us (our file handle keeps the old file).
    return this.db.read(() => {
      this.refreshIfChanged();
      if (this.committed === 0) return Array.from({ length: m }, () => []);
      this.live.sync(this.vf, this.db, this.committed);
      const filter: RowFilter = o.kind ?? 'any';
      const bias = this.live.bias(filter);
      const q = Tensor.from(unit, [m, d]);
      let res: TopkResult;
      try {
        const qd = this.live.device === 'cpu' ? q : q.to(this.live.device);
        try {
          res = cosineTopk(this.live.matrix(), this.live.rows, qd, o.k, { bias, chunkRows: this.opts.chunkRows });
        } finally {
          if (qd !== q) qd.dispose();
        }
      } finally {
        q.dispose();
      }
      const out: SearchHit[][] = [];
      for (let i = 0; i < m; i++) {
        const hits: SearchHit[] = [];
        for (let j = 0; j < res.k; j++) {
          const score = res.scores[i * res.k + j] as number;
          if (score === -Infinity) break; // masked rows sort last
          const r = this.db.byRow(res.rows[i * res.k + j] as number);
          hits.push({ id: r.id, kind: r.kind, score, meta: r.meta });
        }
        out.push(hits);
      }
      return out;
    });
  }

  /**
   * Rewrites both files without deleted rows (row numbers change; ids do not). Crash-safe: an
   * interrupted compaction is finished or discarded by the next open().
   */
  compact(): void {
    this.checkWritable();
    const compactPath = join(this.dir, COMPACT_FILE);
    let generation = 0;
    let rows = 0;
    try {
      this.db.immediate(() => {
        this.refreshIfChanged();
        generation = this.db.generation() + 1;
        writeCompacted(this.vf, this.db.liveRows(), compactPath, generation);
        rows = this.db.compactRows(generation);
      });
    } catch (e) {
      if (existsSync(compactPath)) unlinkSync(compactPath);
      throw e;
    }
    // Committed. A crash from here to the rename is finished by recoverCompaction on open.
    this.vf.close();
    replaceFile(compactPath, join(this.dir, VECTORS_FILE));
    this.vf = VectorFile.open(join(this.dir, VECTORS_FILE), this.identity.dim, generation);
    this.committed = rows;
    this.live.reset();
  }

  /** Releases the tensors, the file and the database. The index cannot be used afterwards. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.live.dispose();
    this.vf.close();
    this.db.close();
  }

  private check(): void {
    if (this.closed) throw new Error(`EmbeddingIndex: the index in ${this.dir} is closed`);
  }

  private checkWritable(): void {
    this.check();
    if (this.opts.readOnly === true) throw new Error(`EmbeddingIndex: the index in ${this.dir} was opened read-only; open it without readOnly to change it`);
  }

  /** Another connection committed since we last looked: re-read the count, maybe the file, and drop caches. */
  private refreshIfChanged(): void {
    const v = this.db.dataVersion();
    if (v === this.seenVersion) return;
    this.seenVersion = v;
    const generation = this.db.generation();
    if (generation !== this.vf.generation) {
      // Compacted elsewhere: every row moved. Between its commit and its rename, the new rows are
      // still in vectors.compact.f32 (the same file, about to be renamed).
      let vf: VectorFile;
      try {
        vf = VectorFile.open(join(this.dir, VECTORS_FILE), this.identity.dim, generation, this.opts.readOnly === true ? 'r' : 'r+');
      } catch (e) {
        if (!existsSync(join(this.dir, COMPACT_FILE))) throw e;
        vf = VectorFile.open(join(this.dir, COMPACT_FILE), this.identity.dim, generation, this.opts.readOnly === true ? 'r' : 'r+');
      }
      this.vf.close();
      this.vf = vf;
      this.live.reset();
    } else {
      // Appends and deletes elsewhere: loaded rows are still valid; flags are not.
      this.live.forgetFlags();
    }
    this.committed = this.db.rowCount();
  }
}

/**
 * Finishes or discards a compaction interrupted by a crash: if vectors.compact.f32 carries the
 * generation meta.sqlite committed (and vectors.f32 does not), the commit happened and only the
 * rename is missing; otherwise the compaction never committed and the file is garbage.
 */
function recoverCompaction(dir: string, committedGeneration: number): void {
  const compactPath = join(dir, COMPACT_FILE);
  if (!existsSync(compactPath)) return;
  const vectorsPath = join(dir, VECTORS_FILE);
  const generationOf = (path: string): number | null => {
    if (!existsSync(path)) return null;
    const fd = openSync(path, 'r');
    try {
      return readHeader(fd, path).generation;
    } catch {
      return null; // a header torn by the crash
    } finally {
      closeSync(fd);
    }
  };
  if (generationOf(compactPath) === committedGeneration && generationOf(vectorsPath) !== committedGeneration) {
    replaceFile(compactPath, vectorsPath);
  } else {
    unlinkSync(compactPath);
  }
}
