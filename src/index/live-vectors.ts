/**
 * The in-memory side of the index: every committed row of vectors.f32 in ONE tensor (capacity, d)
 * on the search device, plus per-filter additive masks (0 = searchable, -inf = deleted or wrong
 * kind). Loaded lazily on the first search and brought up to date before each search: new rows
 * are read from the file into spare capacity; when they do not fit, the store is dropped and
 * re-read at 1.25x the size (one copy of the vectors in memory, plus a 16 MB read buffer);
 * deletes only rebuild the (n) masks.
 *
 * Tensors held here are long-lived and released by dispose() (or reset()).
 *
 * @example
 *   const lv = new LiveVectors(256, 'cpu');
 *   lv.sync(vectorFile, metaDb, committedRows);
 *   cosineTopk(lv.matrix(), lv.rows, q, 10, { bias: lv.bias('image') });
 */
import { Tensor, keep, noGrad, tidy, type Device } from '../tensor/index.js';
import type { MetaDb } from './meta-db.js';
import type { ItemKind } from './types.js';
import type { VectorFile } from './vector-file.js';

/** Which rows a search may return: all live rows, or live rows of one kind. */
export type RowFilter = ItemKind | 'any';

const KIND_CODE: Record<ItemKind, number> = { image: 0, note: 1 };

export class LiveVectors {
  private store: Tensor | null = null;
  /** Rows of `store` filled from the file. */
  private loaded = 0;
  /** Per committed row: kind code, and 1 when deleted. null until first needed. */
  private kinds: Uint8Array | null = null;
  private dead: Uint8Array | null = null;
  /** Rows described by kinds/dead. */
  private known = 0;
  private readonly masks = new Map<RowFilter, Tensor | null>();

  constructor(readonly dim: number, readonly device: Device) {}

  /** Rows currently searchable through matrix() (live or masked). */
  get rows(): number {
    return this.loaded;
  }

  /** The (capacity, d) store; only rows [0, rows) are meaningful. Call sync() first. */
  matrix(): Tensor {
    if (this.store === null) throw new Error('LiveVectors: matrix() before sync()');
    return this.store;
  }

  /** Loads rows [loaded, committed) from the file and the kinds/deleted flags from SQLite when missing. */
  sync(vf: VectorFile, db: MetaDb, committed: number): void {
    if (committed < this.loaded) this.reset(); // the file shrank under us: start over
    if (this.kinds === null || this.known !== committed) this.loadFlags(db, committed);
    if (this.store !== null && this.loaded === committed) return;
    const cap = this.store === null ? 0 : (this.store.shape[0] as number);
    if (this.store === null || committed > cap) {
      // Exact size on first load (a read-mostly index); 25% headroom when an add outgrows it. The
      // old store is dropped and every row re-read from the file: one copy in memory, never two.
      const newCap = this.store === null ? Math.max(committed, 1) : Math.max(committed, Math.ceil(cap * 1.25));
      this.store?.dispose();
      this.store = null;
      this.loaded = 0;
      this.store = keep(noGrad(() => tidy(() => Tensor.zeros([newCap, this.dim], 'float32', this.device))));
    }
    const store = this.store;
    // File rows [loaded, committed) -> store, through a ~16 MB block buffer.
    vf.forEachBlock(this.loaded, committed, (first, rows) => noGrad(() => tidy(() => {
      const n = rows.length / this.dim;
      const t = Tensor.from(rows, [n, this.dim]); // (n, d) host copy
      store.narrow(0, first, n).copy_(this.device === 'cpu' ? t : t.to(this.device));
    })));
    this.loaded = committed;
    this.clearMasks(); // masks are (loaded) long
  }

  private loadFlags(db: MetaDb, committed: number): void {
    const kinds = new Uint8Array(committed);
    const dead = new Uint8Array(committed);
    db.scan((row, kind, deleted) => {
      if (row >= committed) return; // an uncommitted row cannot be in SQLite; guard anyway
      kinds[row] = KIND_CODE[kind];
      dead[row] = deleted ? 1 : 0;
    });
    this.kinds = kinds;
    this.dead = dead;
    this.known = committed;
    this.clearMasks();
  }

  /**
   * Records a committed add without rescanning SQLite: rows [start, start + kinds.length) are new
   * with these kinds; `retired` rows were replaced. Vectors are read lazily by the next sync().
   */
  noteAdded(start: number, kinds: readonly ItemKind[], retired: readonly number[]): void {
    if (this.kinds === null || this.dead === null || this.known !== start) {
      this.forgetFlags();
      return;
    }
    const n = start + kinds.length;
    const k2 = new Uint8Array(n);
    const d2 = new Uint8Array(n);
    k2.set(this.kinds);
    d2.set(this.dead);
    kinds.forEach((k, i) => (k2[start + i] = KIND_CODE[k]));
    for (const r of retired) d2[r] = 1;
    this.kinds = k2;
    this.dead = d2;
    this.known = n;
    this.clearMasks();
  }

  /** Records committed deletes. */
  noteDeleted(rows: readonly number[]): void {
    if (this.dead === null) return;
    for (const r of rows) this.dead[r] = 1;
    if (rows.length > 0) this.clearMasks();
  }

  /** The (rows) additive mask for a filter, or null when every row passes. Call sync() first. */
  bias(filter: RowFilter): Tensor | null {
    if (this.masks.has(filter)) return this.masks.get(filter) as Tensor | null;
    const kinds = this.kinds as Uint8Array;
    const dead = this.dead as Uint8Array;
    const n = this.loaded;
    const want = filter === 'any' ? -1 : KIND_CODE[filter];
    const m = new Float32Array(n);
    let masked = 0;
    for (let r = 0; r < n; r++) {
      if (dead[r] === 1 || (want >= 0 && kinds[r] !== want)) {
        m[r] = -Infinity;
        masked++;
      }
    }
    const t = masked === 0 ? null : keep(tidy(() => {
      const host = Tensor.from(m, [n]);
      return this.device === 'cpu' ? host : host.to(this.device);
    }));
    this.masks.set(filter, t);
    return t;
  }

  private clearMasks(): void {
    for (const t of this.masks.values()) t?.dispose();
    this.masks.clear();
  }

  /** Forgets the kinds/deleted flags (another process changed them); the vectors stay. */
  forgetFlags(): void {
    this.kinds = null;
    this.dead = null;
    this.known = 0;
    this.clearMasks();
  }

  /** Drops everything (after a compaction or a change by another process). */
  reset(): void {
    this.store?.dispose();
    this.store = null;
    this.loaded = 0;
    this.forgetFlags();
  }

  dispose(): void {
    this.reset();
  }
}
