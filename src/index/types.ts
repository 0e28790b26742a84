/**
 * Plain types of the embedding index and the checks every write goes through (ids, identity,
 * metadata). Tensor-free and SQLite-free, so the server and the CLI can share them.
 *
 * @example
 *   validateId('img00001', 'add'); // ok
 *   validateId('../etc', 'add');   // throws: not a safe id
 */

/** Which encoder an item's vector comes from: a fundus photo or a clinical note. */
export type ItemKind = 'image' | 'note';
export const ITEM_KINDS: readonly ItemKind[] = ['image', 'note'];

/** A JSON value (the `extras` column). */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** The model whose embeddings the index holds; fixed at creation. */
export interface IndexIdentity {
  /** Any string naming the checkpoint (e.g. a content hash); opening with another one is refused. */
  checkpointId: string;
  /** Human-readable model name (e.g. 'retalign-small'). */
  modelName: string;
  /** Vector width d. */
  dim: number;
  /** Which embedding the vectors are, e.g. 'projection-pre-fusion' (the retrieval embeddings: per-modality projections before fusion). */
  embeddingSpace: string;
}

/** Metadata stored with an item; every field optional on input. */
export interface ItemMeta {
  patientId?: string | null;
  /** Image file path relative to the data folder (never absolute, never '..'). */
  imagePath?: string | null;
  note?: string | null;
  /** ICDR grade 0..4. */
  icdr?: number | null;
  /** SDRG grade 0..4. */
  sdrg?: number | null;
  /** Anything else worth showing (eye, camera, ...), stored as JSON. */
  extras?: { [key: string]: JsonValue };
}

/** Metadata as read back: every field present (null when missing). */
export interface StoredMeta {
  patientId: string | null;
  imagePath: string | null;
  note: string | null;
  icdr: number | null;
  sdrg: number | null;
  extras: { [key: string]: JsonValue };
}

/** One item to add. `vector` has length dim; it is L2-normalized before it is stored. */
export interface NewItem {
  /** The exam's imageId; an image and its note share it and differ by kind. */
  id: string;
  kind: ItemKind;
  vector: Float32Array;
  meta?: ItemMeta;
}

/** A stored item. */
export interface IndexItem {
  id: string;
  kind: ItemKind;
  /** Position in vectors.f32 (changes on compact). */
  row: number;
  /** The stored (unit-norm) vector. */
  vector: Float32Array;
  meta: StoredMeta;
}

/** One search result, best first. */
export interface SearchHit {
  id: string;
  kind: ItemKind;
  /** Cosine similarity in [-1, 1]. */
  score: number;
  meta: StoredMeta;
}

/** Ids are used in URLs and file names downstream: letters, digits, '.', '_', '-'; no leading '.' or '-'. */
const ID_RE = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,199}$/;

/** Throws unless `id` is a safe id. `where` names the caller in the message. */
export function validateId(id: unknown, where: string): asserts id is string {
  if (typeof id !== 'string' || !ID_RE.test(id)) {
    throw new Error(`${where}: id ${JSON.stringify(id)} is not a safe id: expected 1-200 characters from ` +
      `[A-Za-z0-9._-], not starting with '.' or '-' (no path separators, spaces or '..')`);
  }
}

/** Throws unless `kind` is 'image' or 'note'. */
export function validateKind(kind: unknown, where: string): asserts kind is ItemKind {
  if (kind !== 'image' && kind !== 'note') {
    throw new Error(`${where}: kind ${JSON.stringify(kind)} is not valid: expected one of ${ITEM_KINDS.join(', ')}`);
  }
}

/** Throws unless every identity field is present and well-formed. */
export function validateIdentity(x: IndexIdentity, where: string): void {
  for (const key of ['checkpointId', 'modelName', 'embeddingSpace'] as const) {
    if (typeof x[key] !== 'string' || x[key].length === 0) {
      throw new Error(`${where}: identity.${key} must be a non-empty string, got ${JSON.stringify(x[key])}`);
    }
  }
  if (!Number.isInteger(x.dim) || x.dim < 1 || x.dim > 65536) {
    throw new Error(`${where}: identity.dim must be an integer in 1..65536, got ${JSON.stringify(x.dim)}`);
  }
  const known = new Set(['checkpointId', 'modelName', 'dim', 'embeddingSpace']);
  const extra = Object.keys(x).filter((k) => !known.has(k));
  if (extra.length > 0) {
    throw new Error(`${where}: identity has unknown key(s) ${extra.join(', ')}; valid: ${[...known].join(', ')}`);
  }
}

function checkGrade(v: unknown, field: string, where: string): number | null {
  if (v === undefined || v === null) return null;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 4) {
    throw new Error(`${where}: meta.${field} ${JSON.stringify(v)} is not a grade: expected an integer 0..4 or null`);
  }
  return v;
}

function checkString(v: unknown, field: string, where: string): string | null {
  if (v === undefined || v === null) return null;
  if (typeof v !== 'string') throw new Error(`${where}: meta.${field} must be a string or null, got ${JSON.stringify(v)}`);
  return v;
}

/** Checks an item's metadata and fills missing fields with null; `where` names item and caller. */
export function normalizeMeta(m: ItemMeta | undefined, where: string): StoredMeta {
  const meta = m ?? {};
  const known = new Set(['patientId', 'imagePath', 'note', 'icdr', 'sdrg', 'extras']);
  const extra = Object.keys(meta).filter((k) => !known.has(k));
  if (extra.length > 0) {
    throw new Error(`${where}: meta has unknown key(s) ${extra.join(', ')}; valid: ${[...known].join(', ')} ` +
      `(put anything else under meta.extras)`);
  }
  const imagePath = checkString(meta.imagePath, 'imagePath', where);
  if (imagePath !== null) {
    const parts = imagePath.split(/[\\/]/);
    if (imagePath.length === 0 || /^([\\/]|[A-Za-z]:)/.test(imagePath) || parts.includes('..')) {
      throw new Error(`${where}: meta.imagePath ${JSON.stringify(imagePath)} must be a non-empty path relative to ` +
        `the data folder (not absolute, no '..' segments)`);
    }
  }
  const extras = meta.extras ?? {};
  if (typeof extras !== 'object' || extras === null || Array.isArray(extras)) {
    throw new Error(`${where}: meta.extras must be a plain object, got ${JSON.stringify(extras)}`);
  }
  return {
    patientId: checkString(meta.patientId, 'patientId', where),
    imagePath,
    note: checkString(meta.note, 'note', where),
    icdr: checkGrade(meta.icdr, 'icdr', where),
    sdrg: checkGrade(meta.sdrg, 'sdrg', where),
    extras,
  };
}

/**
 * The unit-norm float32 copy of `v` (norm computed in float64), written into `out` at `offset`
 * when given (no allocation), else into a new array. Throws on a wrong length, a non-finite value
 * or a zero vector, naming `where`.
 * @example unitVector(new Float32Array([3, 4]), 2, 'x') // Float32Array [0.6, 0.8]
 */
export function unitVector(v: Float32Array, dim: number, where: string, out?: Float32Array, offset = 0): Float32Array {
  if (!(v instanceof Float32Array)) throw new Error(`${where}: vector must be a Float32Array`);
  if (v.length !== dim) throw new Error(`${where}: vector has length ${v.length}, the index width is ${dim}`);
  let ss = 0;
  for (let i = 0; i < dim; i++) {
    const x = v[i] as number;
    if (!Number.isFinite(x)) throw new Error(`${where}: vector[${i}] is ${x}; expected a finite number`);
    ss += x * x;
  }
  if (ss === 0) throw new Error(`${where}: vector is all zeros; cosine similarity is undefined for it`);
  const inv = 1 / Math.sqrt(ss);
  const dst = out ?? new Float32Array(dim);
  for (let i = 0; i < dim; i++) dst[offset + i] = (v[i] as number) * inv;
  return dst;
}
