/**
 * 2-D projection of embeddings for the scatter chart: UMAP (umap-js) with a seeded random source,
 * or PCA for tiny sets where UMAP's neighbour graph is meaningless (fewer than `minUmapPoints`).
 * Output: (n, 2) row-major Float64Array.
 */
import { UMAP } from 'umap-js';
import { Rng } from '../../data/rng.js';

/** Options of {@link embed2d}. */
export interface Embed2dOptions {
  /** UMAP neighbourhood size; capped at n - 1. Default 15. */
  nNeighbors?: number;
  /** UMAP minimum distance between embedded points. Default 0.1. */
  minDist?: number;
  /** UMAP optimisation epochs; default: umap-js's choice (500 below 10k points, else 200). */
  nEpochs?: number;
  /** Below this many points PCA is used instead of UMAP. Default 15. */
  minUmapPoints?: number;
}

/**
 * Projects n vectors of width `dim` to 2-D, deterministically per seed.
 *
 * @example
 *   const xy = embed2d(imageEmb, 256, 7); // imageEmb: (n, 256) Float32Array -> xy: (n, 2)
 *   await embeddingScatterChart(xy, grades, { scaleName: 'ICDR grade' });
 */
export function embed2d(vectors: ArrayLike<number>, dim: number, seed: number, opts: Embed2dOptions = {}): Float64Array {
  if (!Number.isInteger(dim) || dim < 1) throw new Error(`embed2d: dim=${dim}, expected a positive integer`);
  if (vectors.length % dim !== 0) throw new Error(`embed2d: ${vectors.length} values is not a multiple of dim=${dim}`);
  const n = vectors.length / dim;
  for (let i = 0; i < vectors.length; i++) {
    if (!Number.isFinite(vectors[i])) throw new Error(`embed2d: value ${vectors[i]} at vector ${Math.floor(i / dim)}, component ${i % dim} (expected finite numbers)`);
  }
  if (n < (opts.minUmapPoints ?? 15)) return pca2d(vectors, dim);
  const rng = new Rng(seed);
  const umap = new UMAP({
    nComponents: 2,
    nNeighbors: Math.min(opts.nNeighbors ?? 15, n - 1),
    minDist: opts.minDist ?? 0.1,
    ...(opts.nEpochs !== undefined ? { nEpochs: opts.nEpochs } : {}),
    random: () => rng.uniform(),
  });
  const rows: number[][] = Array.from({ length: n }, (_, i) => Array.from({ length: dim }, (_, k) => vectors[i * dim + k] as number));
  const out = umap.fit(rows);
  const xy = new Float64Array(n * 2);
  out.forEach((p, i) => { xy[2 * i] = p[0] ?? 0; xy[2 * i + 1] = p[1] ?? 0; });
  return xy;
}

/**
 * First two principal components (scores), by power iteration with deflation on the smaller of the
 * (n, n) Gram matrix and the (d, d) covariance. Signs fixed so each component's largest-magnitude
 * score is positive (PCA is defined only up to sign). n = 0 -> empty; n = 1 -> origin.
 *
 * @example pca2d(new Float32Array([0, 0, 1, 1, 2, 2]), 2) // points on a line -> second column ~0
 */
export function pca2d(vectors: ArrayLike<number>, dim: number): Float64Array {
  const n = vectors.length / dim;
  const x = new Float64Array(n * dim); // centred copy (n, d)
  for (let k = 0; k < dim; k++) {
    let mean = 0;
    for (let i = 0; i < n; i++) mean += vectors[i * dim + k] as number;
    mean /= Math.max(n, 1);
    for (let i = 0; i < n; i++) x[i * dim + k] = (vectors[i * dim + k] as number) - mean;
  }
  const out = new Float64Array(n * 2);
  if (n < 2) return out;
  const useGram = n <= dim;
  const m = useGram ? n : dim;
  const a = new Float64Array(m * m); // Gram X X^T (n, n) or scatter X^T X (d, d)
  for (let i = 0; i < m; i++) for (let j = i; j < m; j++) {
    let s = 0;
    if (useGram) for (let k = 0; k < dim; k++) s += x[i * dim + k]! * x[j * dim + k]!;
    else for (let r = 0; r < n; r++) s += x[r * dim + i]! * x[r * dim + j]!;
    a[i * m + j] = s;
    a[j * m + i] = s;
  }
  let firstVal = 0;
  for (let c = 0; c < 2; c++) {
    const { vec, val } = topEigen(a, m, c);
    if (c === 0) firstVal = val;
    // A component with ~no variance (rank-1 data) is rounding noise: report exact zeros instead.
    if (val <= 1e-12 * firstVal) break;
    // scores: Gram eigenvector u with eigenvalue l gives scores u * sqrt(l); covariance eigenvector v gives X v
    const scores = new Float64Array(n);
    if (useGram) for (let i = 0; i < n; i++) scores[i] = vec[i]! * Math.sqrt(Math.max(val, 0));
    else for (let i = 0; i < n; i++) { let s = 0; for (let k = 0; k < dim; k++) s += x[i * dim + k]! * vec[k]!; scores[i] = s; }
    let big = 0;
    for (let i = 0; i < n; i++) if (Math.abs(scores[i]!) > Math.abs(scores[big]!)) big = i;
    const sign = scores[big]! < 0 ? -1 : 1;
    for (let i = 0; i < n; i++) out[2 * i + c] = sign * scores[i]! + 0; // + 0 turns -0 into 0
    // deflate: a -= val * vec vec^T
    for (let i = 0; i < m; i++) for (let j = 0; j < m; j++) a[i * m + j]! -= val * vec[i]! * vec[j]!;
  }
  return out;
}

/** Dominant eigenpair of a symmetric PSD (m, m) matrix by power iteration from a fixed start. */
function topEigen(a: Float64Array, m: number, salt: number): { vec: Float64Array; val: number } {
  let v = new Float64Array(m);
  for (let i = 0; i < m; i++) v[i] = 1 + ((i * 7 + salt * 13) % 11) / 11; // deterministic, not orthogonal to typical eigvecs
  let val = 0;
  for (let it = 0; it < 500; it++) {
    const w = new Float64Array(m);
    for (let i = 0; i < m; i++) { let s = 0; for (let j = 0; j < m; j++) s += a[i * m + j]! * v[j]!; w[i] = s; }
    const norm = Math.hypot(...w);
    if (norm === 0) return { vec: new Float64Array(m), val: 0 };
    for (let i = 0; i < m; i++) w[i]! /= norm;
    let diff = 0;
    for (let i = 0; i < m; i++) diff = Math.max(diff, Math.abs(w[i]! - v[i]!));
    v = w;
    val = norm;
    if (diff < 1e-12) break;
  }
  return { vec: v, val };
}
