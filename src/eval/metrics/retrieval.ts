/**
 * Retrieval metrics (Recall@K, median and mean rank) on plain typed arrays, computed in chunks of
 * queries so a large gallery never needs the full (nq, ng) score matrix in memory.
 *
 * Two protocols, always both labelled:
 * - 'strict': only the paired gallery item counts as a hit.
 * - 'duplicate-aware': the paired item, or any gallery item whose duplicate group (e.g. the note
 *   text or a note id) equals the query's group, counts as a hit. Templated notes repeat, so strict
 *   Recall@1 over a full gallery is partly a coin toss between identical notes.
 *
 * Rank of a query = 1-based rank of the FIRST correct gallery item.
 * Tie rule (pessimistic): a wrong item whose score is >= the best correct item's score ranks ahead
 * of it, i.e. rank = 1 + #{wrong items g : score(g) >= max over correct items of score}. A model that
 * gives every item the same score therefore gets rank ng - (#correct) + 1, never a lucky rank 1.
 */

/**
 * Scores one chunk of queries against the whole gallery.
 * q: (nq, d) row-major, g: (ng, d) row-major -> (nq, ng) row-major scores, higher = more similar.
 * Pluggable so the lead can compute scores with the tensor engine; the default is plain dot products.
 */
export type ScoreFn = (
  q: Float32Array,
  nq: number,
  g: Float32Array,
  ng: number,
  d: number,
) => Float32Array | Float64Array;

/** Inputs of {@link retrievalMetrics}. Embeddings are L2-normalized by the caller (cosine = dot). */
export interface RetrievalInput {
  /** (nq, dim) row-major query embeddings. */
  queries: Float32Array;
  /** (ng, dim) row-major gallery embeddings. */
  gallery: Float32Array;
  /** Embedding width d. */
  dim: number;
  /** Length nq: index in the gallery of each query's paired item. */
  target: ArrayLike<number>;
  /**
   * Optional duplicate groups: queryGroups (length nq) and galleryGroups (length ng). A gallery item
   * whose group equals the query's group is also a hit under 'duplicate-aware'. Give both or neither.
   */
  queryGroups?: ArrayLike<string | number>;
  galleryGroups?: ArrayLike<string | number>;
}

/** Options of {@link retrievalMetrics}. */
export interface RetrievalOptions {
  /** Cut-offs for Recall@K (positive integers). Default [1, 5, 10]. */
  ks?: readonly number[];
  /** Queries scored per chunk; memory is chunkSize * ng scores. Default 256. */
  chunkSize?: number;
  /** Scoring function; default {@link dotScores}. */
  score?: ScoreFn;
}

/** One protocol's numbers. recallAt[k] is a fraction in [0, 1]. */
export interface RetrievalResult {
  protocol: 'strict' | 'duplicate-aware';
  recallAt: Record<number, number>;
  medianRank: number;
  meanRank: number;
  /** Number of queries. */
  n: number;
  /** Gallery size (so a reader knows what "full gallery" meant). */
  galleryN: number;
}

/** Both protocols; duplicateAware is null when no groups were given. */
export interface RetrievalReport {
  strict: RetrievalResult;
  duplicateAware: RetrievalResult | null;
  /** Per-query 1-based ranks (strict), for bootstrap or error analysis. */
  strictRanks: Int32Array;
  /** Per-query 1-based ranks (duplicate-aware), or null without groups. */
  duplicateAwareRanks: Int32Array | null;
}

/**
 * Default scorer: float64-accumulated dot products.
 *
 * @example
 *   dotScores(new Float32Array([1, 0]), 1, new Float32Array([1, 0, 0, 1]), 2, 2) // -> [1, 0]
 */
export function dotScores(q: Float32Array, nq: number, g: Float32Array, ng: number, d: number): Float64Array {
  const out = new Float64Array(nq * ng);
  for (let i = 0; i < nq; i++) {
    const qo = i * d;
    for (let j = 0; j < ng; j++) {
      const go = j * d;
      let s = 0;
      for (let k = 0; k < d; k++) s += (q[qo + k] as number) * (g[go + k] as number);
      out[i * ng + j] = s;
    }
  }
  return out;
}

/**
 * Recall@K, median and mean rank, strict and (with groups) duplicate-aware.
 *
 * @example
 *   const r = retrievalMetrics({ queries: Q, gallery: G, dim: 64, target: [0, 1, 2],
 *     queryGroups: noteIds, galleryGroups: noteIds }, { ks: [1, 5] });
 *   r.strict.recallAt[1]; r.duplicateAware?.medianRank;
 */
export function retrievalMetrics(input: RetrievalInput, opts: RetrievalOptions = {}): RetrievalReport {
  const { queries, gallery, dim: d, target } = input;
  const ks = opts.ks ?? [1, 5, 10];
  const chunkSize = opts.chunkSize ?? 256;
  const score = opts.score ?? dotScores;
  validate(input, ks, chunkSize);
  const nq = queries.length / d;
  const ng = gallery.length / d;
  const hasGroups = input.queryGroups !== undefined;
  const strictRanks = new Int32Array(nq);
  const dupRanks = hasGroups ? new Int32Array(nq) : null;

  for (let start = 0; start < nq; start += chunkSize) {
    const m = Math.min(chunkSize, nq - start);
    const qChunk = queries.subarray(start * d, (start + m) * d); // (m, d)
    const s = score(qChunk, m, gallery, ng, d); // (m, ng)
    if (s.length !== m * ng) {
      throw new Error(`retrievalMetrics: score function returned ${s.length} scores for a chunk of ${m} queries x ${ng} gallery items (expected ${m * ng})`);
    }
    for (let i = 0; i < m; i++) {
      const qi = start + i;
      const row = s.subarray(i * ng, (i + 1) * ng);
      const t = target[qi] as number;
      strictRanks[qi] = rankOf(row, (j) => j === t, qi);
      if (dupRanks) {
        const qg = (input.queryGroups as ArrayLike<string | number>)[qi];
        const gg = input.galleryGroups as ArrayLike<string | number>;
        dupRanks[qi] = rankOf(row, (j) => j === t || gg[j] === qg, qi);
      }
    }
  }
  return {
    strict: summarizeRanks(strictRanks, ks, 'strict', ng),
    duplicateAware: dupRanks ? summarizeRanks(dupRanks, ks, 'duplicate-aware', ng) : null,
    strictRanks,
    duplicateAwareRanks: dupRanks,
  };
}

/**
 * Rank of the first correct item in one score row under the pessimistic tie rule.
 * Two passes over the row: best correct score, then count wrong items at or above it.
 */
function rankOf(row: Float32Array | Float64Array, isCorrect: (j: number) => boolean, qi: number): number {
  let best = -Infinity;
  for (let j = 0; j < row.length; j++) {
    const v = row[j] as number;
    if (Number.isNaN(v)) throw new Error(`retrievalMetrics: score for query ${qi}, gallery item ${j} is NaN (expected a finite number; check the embeddings)`);
    if (isCorrect(j) && v > best) best = v;
  }
  let ahead = 0;
  for (let j = 0; j < row.length; j++) if (!isCorrect(j) && (row[j] as number) >= best) ahead++;
  return ahead + 1;
}

/**
 * Recall@K / median / mean from 1-based ranks. Median of an even count is the mean of the two middle
 * ranks (so it can be x.5).
 *
 * @example
 *   summarizeRanks(Int32Array.from([1, 3, 2, 10]), [1, 5], 'strict', 10)
 *   // -> recallAt {1: 0.25, 5: 0.75}, medianRank 2.5, meanRank 4
 */
export function summarizeRanks(
  ranks: ArrayLike<number>,
  ks: readonly number[],
  protocol: RetrievalResult['protocol'],
  galleryN: number,
): RetrievalResult {
  const n = ranks.length;
  const recallAt: Record<number, number> = {};
  for (const k of ks) {
    let hits = 0;
    for (let i = 0; i < n; i++) if ((ranks[i] as number) <= k) hits++;
    recallAt[k] = n === 0 ? NaN : hits / n;
  }
  const sorted = Float64Array.from(ranks).sort();
  let sum = 0;
  for (let i = 0; i < n; i++) sum += sorted[i] as number;
  const mid = n >> 1;
  const medianRank = n === 0 ? NaN : n % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
  return { protocol, recallAt, medianRank, meanRank: n === 0 ? NaN : sum / n, n, galleryN };
}

function validate(input: RetrievalInput, ks: readonly number[], chunkSize: number): void {
  const { queries, gallery, dim: d, target } = input;
  if (!Number.isInteger(d) || d <= 0) throw new Error(`retrievalMetrics: dim=${d}, expected a positive integer`);
  if (queries.length % d !== 0) throw new Error(`retrievalMetrics: queries has ${queries.length} values, not a multiple of dim=${d}`);
  if (gallery.length % d !== 0) throw new Error(`retrievalMetrics: gallery has ${gallery.length} values, not a multiple of dim=${d}`);
  const nq = queries.length / d;
  const ng = gallery.length / d;
  if (ng === 0) throw new Error('retrievalMetrics: empty gallery');
  if (target.length !== nq) throw new Error(`retrievalMetrics: target has length ${target.length}, expected nq=${nq}`);
  for (let i = 0; i < nq; i++) {
    const t = target[i] as number;
    if (!Number.isInteger(t) || t < 0 || t >= ng) throw new Error(`retrievalMetrics: target[${i}]=${t}, expected an integer gallery index in [0, ${ng - 1}]`);
  }
  for (const k of ks) if (!Number.isInteger(k) || k < 1) throw new Error(`retrievalMetrics: K=${k} in ks, expected positive integers`);
  if (!Number.isInteger(chunkSize) || chunkSize < 1) throw new Error(`retrievalMetrics: chunkSize=${chunkSize}, expected a positive integer`);
  const qg = input.queryGroups;
  const gg = input.galleryGroups;
  if ((qg === undefined) !== (gg === undefined)) throw new Error('retrievalMetrics: give both queryGroups and galleryGroups, or neither');
  if (qg && qg.length !== nq) throw new Error(`retrievalMetrics: queryGroups has length ${qg.length}, expected nq=${nq}`);
  if (gg && gg.length !== ng) throw new Error(`retrievalMetrics: galleryGroups has length ${gg.length}, expected ng=${ng}`);
}

/**
 * Expected strict Recall@K of a retriever that knows every item's grade and nothing else: it ranks the
 * query's own grade first, in random order, then the rest. In a gallery holding n_g items of the
 * paired item's grade, P(rank <= k) = min(k, n_g) / n_g; an item of unknown grade (< 0) gets the
 * chance level min(k, size) / size. Recall at this level is retrieval by grade alone.
 *
 * `galleries` partitions the items (query i's paired gallery item is item i, in the same gallery).
 *
 * @example gradeOnlyRecall([0, 0, 1, 1], [[0, 1, 2, 3]], [1]) // { '1': 0.5 }
 */
export function gradeOnlyRecall(grades: ArrayLike<number>, galleries: readonly (readonly number[])[], ks: readonly number[]): Record<string, number> {
  const sums: Record<number, number> = Object.fromEntries(ks.map((k) => [k, 0]));
  let n = 0;
  for (const gal of galleries) {
    const count = new Map<number, number>();
    for (const i of gal) {
      const g = grades[i] as number;
      if (g >= 0) count.set(g, (count.get(g) ?? 0) + 1);
    }
    for (const i of gal) {
      const g = grades[i] as number;
      const same = g >= 0 ? (count.get(g) as number) : gal.length;
      for (const k of ks) sums[k] = (sums[k] as number) + Math.min(k, same) / same;
      n++;
    }
  }
  return Object.fromEntries(ks.map((k) => [String(k), n === 0 ? NaN : (sums[k] as number) / n]));
}
