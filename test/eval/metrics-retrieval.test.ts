import { test } from 'node:test';
import assert from 'node:assert/strict';
import { retrievalMetrics, summarizeRanks, dotScores, type ScoreFn } from '../../src/eval/metrics/retrieval.js';
import { Rng } from '../../src/data/rng.js';

// Hand-worked fixture (d = 2). Gallery: G0=(1,0) G1=(0,1) G2=(1,0) [same note as G0] G3=(0.6,0.8).
// Gallery groups: a b a c.
//   Q0=(1,0)        target 0, group a: scores 1, 0, 1, .6   strict: G2 ties G0 -> pessimistic rank 2; dup: {0,2} -> 1
//   Q1=(0,1)        target 1, group b: scores 0, 1, 0, .8   strict 1, dup 1
//   Q2=(.6,.8)      target 1, group b: scores .6,.8,.6, 1   G3 ahead -> strict 2, dup 2
//   Q3=(-.6,-.8)    target 1, group a: scores -.6,-.8,-.6,-1 G0,G2 ahead -> strict 3; dup {1,0,2} best -.6 -> 1
// strict ranks [2,1,2,3]: R@1 1/4, R@2 3/4, R@3 1, median 2, mean 2
// dup ranks    [1,1,2,1]: R@1 3/4, R@2 1,   R@3 1, median 1, mean 5/4
const G = new Float32Array([1, 0, 0, 1, 1, 0, 0.6, 0.8]);
const Q = new Float32Array([1, 0, 0, 1, 0.6, 0.8, -0.6, -0.8]);
const fixture = { queries: Q, gallery: G, dim: 2, target: [0, 1, 1, 1], queryGroups: ['a', 'b', 'b', 'a'], galleryGroups: ['a', 'b', 'a', 'c'] };

test('hand-worked strict and duplicate-aware ranks', () => {
  const r = retrievalMetrics(fixture, { ks: [1, 2, 3] });
  assert.deepEqual(Array.from(r.strictRanks), [2, 1, 2, 3]);
  assert.deepEqual(Array.from(r.duplicateAwareRanks ?? []), [1, 1, 2, 1]);
  assert.deepEqual(r.strict, { protocol: 'strict', recallAt: { 1: 0.25, 2: 0.75, 3: 1 }, medianRank: 2, meanRank: 2, n: 4, galleryN: 4 });
  assert.deepEqual(r.duplicateAware, { protocol: 'duplicate-aware', recallAt: { 1: 0.75, 2: 1, 3: 1 }, medianRank: 1, meanRank: 1.25, n: 4, galleryN: 4 });
});

test('without groups duplicateAware is null and ks default to 1/5/10', () => {
  const r = retrievalMetrics({ queries: Q, gallery: G, dim: 2, target: [0, 1, 1, 1] });
  assert.equal(r.duplicateAware, null);
  assert.deepEqual(Object.keys(r.strict.recallAt), ['1', '5', '10']);
  assert.equal(r.strict.recallAt[5], 1);
});

test('pessimistic tie rule: constant scores rank the correct item last', () => {
  const zeros = new Float32Array(3 * 4); // 3 gallery items, all scores 0
  const r = retrievalMetrics({ queries: new Float32Array(2 * 4), gallery: zeros, dim: 4, target: [0, 2], queryGroups: [1, 2], galleryGroups: [1, 1, 2] });
  assert.deepEqual(Array.from(r.strictRanks), [3, 3]);
  // dup-aware: query 0 has correct {0,1} -> 1 wrong item ahead -> rank 2; query 1 correct {2} -> rank 3
  assert.deepEqual(Array.from(r.duplicateAwareRanks ?? []), [2, 3]);
});

test('summarizeRanks: even-count median averages the middle pair', () => {
  const s = summarizeRanks(Int32Array.from([1, 3, 2, 10]), [1, 5], 'strict', 10);
  assert.deepEqual(s, { protocol: 'strict', recallAt: { 1: 0.25, 5: 0.75 }, medianRank: 2.5, meanRank: 4, n: 4, galleryN: 10 });
});

/** Naive reference: full score matrix, sort each row descending with wrong items first among ties. */
function naiveRanks(q: Float32Array, g: Float32Array, d: number, target: number[], correct: (qi: number, j: number) => boolean): number[] {
  const nq = q.length / d;
  const ng = g.length / d;
  const s = dotScores(q, nq, g, ng, d);
  const out: number[] = [];
  for (let i = 0; i < nq; i++) {
    const idx = Array.from({ length: ng }, (_, j) => j);
    idx.sort((a, b) => {
      const sa = s[i * ng + a]!;
      const sb = s[i * ng + b]!;
      if (sa !== sb) return sb - sa;
      return Number(correct(i, a)) - Number(correct(i, b)); // wrong (0) before correct (1)
    });
    out.push(idx.findIndex((j) => correct(i, j)) + 1);
  }
  void target;
  return out;
}

test('chunked equals naive full-matrix result (with ties and duplicate groups)', () => {
  const rng = new Rng(11);
  const d = 8;
  const ng = 53;
  const nq = 37;
  // Gallery built from 20 distinct unit vectors, so exact duplicates (and exact score ties) occur.
  const base: number[][] = Array.from({ length: 20 }, () => {
    const v = Array.from({ length: d }, () => rng.normal());
    const n = Math.hypot(...v);
    return v.map((x) => x / n);
  });
  const gIdx = Array.from({ length: ng }, () => rng.int(0, 19));
  const G2 = new Float32Array(gIdx.flatMap((k) => base[k]!));
  const target = Array.from({ length: nq }, () => rng.int(0, ng - 1));
  const Q2 = new Float32Array(target.flatMap((t) => base[gIdx[t]!]!.map((x) => x + 0.3 * rng.normal())));
  const galleryGroups = gIdx.map((k) => k % 7);
  const queryGroups = target.map((t) => galleryGroups[t]!);
  const input = { queries: Q2, gallery: G2, dim: d, target, queryGroups, galleryGroups };
  const full = retrievalMetrics(input, { chunkSize: nq, ks: [1, 5, 10] });
  const chunked = retrievalMetrics(input, { chunkSize: 5, ks: [1, 5, 10] });
  assert.deepEqual(chunked, full);
  assert.deepEqual(Array.from(full.strictRanks), naiveRanks(Q2, G2, d, target, (i, j) => j === target[i]));
  assert.deepEqual(
    Array.from(full.duplicateAwareRanks ?? []),
    naiveRanks(Q2, G2, d, target, (i, j) => j === target[i] || galleryGroups[j] === queryGroups[i]),
  );
  // Duplicates in the gallery make some strict ranks > 1 even for perfect matches.
  assert.ok(full.duplicateAware!.recallAt[1]! >= full.strict.recallAt[1]!);
});

test('pluggable score function is called once per chunk', () => {
  let calls = 0;
  const negL1: ScoreFn = (q, nq, g, ng, d) => {
    calls++;
    const out = new Float32Array(nq * ng);
    for (let i = 0; i < nq; i++) for (let j = 0; j < ng; j++) {
      let s = 0;
      for (let k = 0; k < d; k++) s -= Math.abs(q[i * d + k]! - g[j * d + k]!);
      out[i * ng + j] = s;
    }
    return out;
  };
  const r = retrievalMetrics(fixture, { ks: [1], chunkSize: 3, score: negL1 });
  assert.equal(calls, 2);
  // -L1 distances: Q0 ties G0/G2 at 0 -> rank 2; Q1 exact G1 -> 1; Q2 exact G3 (wrong) -> 2;
  // Q3=(-.6,-.8) to G0 2.4, G1 2.4, G2 2.4, G3 2.8 -> G0,G2 tie with G1 -> rank 3
  assert.deepEqual(Array.from(r.strictRanks), [2, 1, 2, 3]);
});

test('bad inputs give precise errors', () => {
  assert.throws(() => retrievalMetrics({ ...fixture, target: [0, 1, 9, 1] }), /target\[2\]=9, expected an integer gallery index in \[0, 3\]/);
  assert.throws(() => retrievalMetrics({ ...fixture, dim: 3 }), /not a multiple of dim=3/);
  assert.throws(() => retrievalMetrics({ ...fixture, galleryGroups: undefined }), /both queryGroups and galleryGroups/);
  assert.throws(() => retrievalMetrics(fixture, { ks: [0] }), /K=0/);
  assert.throws(() => retrievalMetrics({ ...fixture, queries: new Float32Array([NaN, 0, 0, 1, 0, 1, 0, 1]) }), /query 0, gallery item 0 is NaN/);
});

test('gradeOnlyRecall: hand-worked expected recall of a retriever that knows the grade and nothing else', async () => {
  const { gradeOnlyRecall } = await import('../../src/eval/metrics/retrieval.js');
  // One gallery: grades 0,0,0,1 (n_0 = 3, n_1 = 1). R@1 = (3 x 1/3 + 1)/4 = 0.5; R@2 = (3 x 2/3 + 1)/4 = 0.75; R@3 = 1.
  assert.deepEqual(gradeOnlyRecall([0, 0, 0, 1], [[0, 1, 2, 3]], [1, 2, 3]), { 1: 0.5, 2: 0.75, 3: 1 });
  // An unknown grade (-1) is at chance in its gallery: items 0,1 grade 2 (1/2 each at R@1), item 2 unknown (1/3). Mean = (1/2 + 1/2 + 1/3)/3.
  assert.ok(Math.abs((gradeOnlyRecall([2, 2, -1], [[0, 1, 2]], [1])['1'] as number) - (1 / 2 + 1 / 2 + 1 / 3) / 3) < 1e-12);
  // Galleries count separately: [0,1] and [2,3] all grade 0 -> 1/2 each at R@1; one gallery of four -> 1/4.
  assert.equal(gradeOnlyRecall([0, 0, 0, 0], [[0, 1], [2, 3]], [1])['1'], 0.5);
  assert.equal(gradeOnlyRecall([0, 0, 0, 0], [[0, 1, 2, 3]], [1])['1'], 0.25);
  // Five balanced grades of 24 (the demo's test gallery, about): R@1 1/24, R@10 10/24.
  const grades = Array.from({ length: 120 }, (_, i) => i % 5);
  const r = gradeOnlyRecall(grades, [grades.map((_, i) => i)], [1, 10, 30]);
  assert.ok(Math.abs((r['1'] as number) - 1 / 24) < 1e-12 && Math.abs((r['10'] as number) - 10 / 24) < 1e-12 && r['30'] === 1);
});
