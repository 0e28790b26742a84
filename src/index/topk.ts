/**
 * Exact cosine top-k of unit queries against the first n rows of a unit-vector store, in chunks of
 * rows so the score matrix stays bounded: per chunk, scores (m, c) = Q @ V_c^T (+ bias_c), top-k
 * of the chunk; then top-k of the concatenated chunk winners. The merge is exact: each global
 * top-k row is in its own chunk's top-k.
 *
 * Different chunk heights return the same rows; a score may differ in its last bit, because BLAS
 * sums a short chunk in another order than a tall one.
 *
 * `bias` (n) is added to every query's scores: 0 keeps a row, -inf removes it (deleted rows, the
 * wrong kind). Removed rows can still fill slots when fewer than k rows survive; they come back
 * with score -inf, which callers drop.
 *
 * @example
 *   const { k, scores, rows } = cosineTopk(store, n, queries, 10, { bias });
 *   // query i's j-th best: rows[i*k + j] with score scores[i*k + j]
 */
import { Tensor, cat, linear, noGrad, tidy } from '../tensor/index.js';

export interface TopkOptions {
  /** (n) additive mask on the store's rows, or null for none. */
  bias?: Tensor | null;
  /** Rows per chunk; default keeps m x chunk scores near 4M floats (16 MB). */
  chunkRows?: number;
}

export interface TopkResult {
  /** Results per query: min(k, n). */
  k: number;
  /** (m * k) scores, best first per query; -inf where a slot holds a masked row. */
  scores: Float32Array;
  /** (m * k) row numbers of the store. */
  rows: number[];
}

/** Default chunk height for m queries: ~4M scores per chunk, at least 4096 rows. */
export function defaultChunkRows(m: number): number {
  return Math.max(4096, Math.floor((1 << 22) / Math.max(1, m)));
}

/**
 * Top-k rows by dot product (cosine for unit vectors) of `queries` (m, d) against `store` rows
 * [0, n) (store is (>= n, d), same device). Returns plain arrays; every tensor it makes is freed.
 */
export function cosineTopk(store: Tensor, n: number, queries: Tensor, k: number, o: TopkOptions = {}): TopkResult {
  const [m, d] = queries.shape as [number, number];
  if (store.shape[1] !== d) throw new Error(`cosineTopk: queries have width ${d}, the store ${String(store.shape[1])}`);
  if (n > (store.shape[0] as number)) throw new Error(`cosineTopk: n=${n} exceeds the store's ${String(store.shape[0])} rows`);
  if (!Number.isInteger(k) || k < 1) throw new Error(`cosineTopk: k must be a positive integer, got ${k}`);
  const kk = Math.min(k, n);
  if (kk === 0 || m === 0) return { k: kk, scores: new Float32Array(0), rows: [] };
  const chunk = o.chunkRows ?? defaultChunkRows(m);
  if (!Number.isInteger(chunk) || chunk < 1) throw new Error(`cosineTopk: chunkRows must be a positive integer, got ${chunk}`);
  const bias = o.bias ?? null;

  return noGrad(() => tidy(() => {
    const queryVec = m === 1 ? queries.reshape([d]) : null; // (d)
    const vals: Tensor[] = [];
    const idx: Tensor[] = [];
    for (let s = 0; s < n; s += chunk) {
      const len = Math.min(chunk, n - s);
      // Own scope per chunk: the (m, len) score matrix is freed before the next chunk.
      const best = tidy(() => {
        // The whole store when one chunk covers it: a view of a big tensor costs a full V8 GC here
        // (the addon reports every handle's numel as external memory, views included).
        const whole = s === 0 && len === (store.shape[0] as number);
        const rows = whole ? store : store.narrow(0, s, len); // (len, d)
        // One query: matrix-vector product (gemv over contiguous rows), measured ~4x faster than
        // the (1, d) @ (d, len) gemm on a transposed view. Batches: linear = Q @ rows^T (gemm),
        // with the transpose inside libtorch (no view handle).
        let scores = m === 1 ? rows.matmul(queryVec as Tensor).unsqueeze(0) : linear(queries, rows); // (m, len)
        if (bias !== null) scores = scores.add(whole ? bias : bias.narrow(0, s, len)); // (len) broadcast over queries
        const t = scores.topk(Math.min(kk, len), 1); // (m, kc), sorted
        // int64 + a JS number would promote to float32 (inexact past 2^24): add an int64 scalar.
        const global = s === 0 ? t.indices : t.indices.add(Tensor.scalar(s, 'int64'));
        return { values: t.values, indices: global };
      });
      vals.push(best.values);
      idx.push(best.indices);
    }
    let values: Tensor;
    let indices: Tensor;
    if (vals.length === 1) {
      values = vals[0] as Tensor;
      indices = idx[0] as Tensor;
    } else {
      const allV = cat(vals, 1); // (m, sum kc)
      const allI = cat(idx, 1);
      const t = allV.topk(kk, 1); // (m, kk)
      values = t.values;
      indices = allI.gather(1, t.indices);
    }
    const scores = values.toArray() as Float32Array;
    const rows = Array.from(indices.toArray() as BigInt64Array, (v) => Number(v));
    return { k: kk, scores, rows };
  }));
}
