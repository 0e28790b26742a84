// cosineTopk: hand-checked scores, chunked == unchunked == brute force, masks, int64 row offsets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tensor, liveTensors, tidy } from '../../src/tensor/index.js';
import { cosineTopk, defaultChunkRows } from '../../src/index/topk.js';
import { Rng } from '../../src/data/rng.js';

const close = (a: ArrayLike<number>, b: readonly number[], tol = 1e-6): void => {
  assert.equal(a.length, b.length);
  for (let i = 0; i < b.length; i++) assert.ok(Math.abs((a[i] as number) - (b[i] as number)) <= tol, `index ${i}: ${a[i]} vs ${b[i]}`);
};

/** n random unit rows of width d (float32, row-major), seeded. */
function unitRows(rng: Rng, n: number, d: number): Float32Array {
  const out = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    let ss = 0;
    for (let j = 0; j < d; j++) {
      const v = rng.normal();
      out[i * d + j] = v;
      ss += v * v;
    }
    for (let j = 0; j < d; j++) out[i * d + j] = (out[i * d + j] as number) / Math.sqrt(ss);
  }
  return out;
}

/** Brute force in float64: best-first rows of each query among rows where keep(r). */
function bruteForce(store: Float32Array, n: number, q: Float32Array, m: number, d: number, k: number,
  keep: (r: number) => boolean = () => true): { rows: number[]; scores: number[] }[] {
  const out = [];
  for (let i = 0; i < m; i++) {
    const s: [number, number][] = [];
    for (let r = 0; r < n; r++) {
      if (!keep(r)) continue;
      let dot = 0;
      for (let j = 0; j < d; j++) dot += (q[i * d + j] as number) * (store[r * d + j] as number);
      s.push([dot, r]);
    }
    s.sort((a, b) => b[0] - a[0]);
    const top = s.slice(0, k);
    out.push({ rows: top.map((x) => x[1]), scores: top.map((x) => x[0]) });
  }
  return out;
}

test('unit axes: exact scores and order, k larger than n', () => tidy(() => {
  // rows: e0, (0.8, 0.6, 0), e2, (0.6, 0.8, 0)
  const store = Tensor.from([1, 0, 0, 0.8, 0.6, 0, 0, 0, 1, 0.6, 0.8, 0], [4, 3]);
  // queries e0 and (0, 0.6, 0.8): scores [1, 0.8, 0, 0.6] and [0, 0.36, 0.8, 0.48]
  const q = Tensor.from([1, 0, 0, 0, 0.6, 0.8], [2, 3]);
  const r = cosineTopk(store, 4, q, 3);
  assert.equal(r.k, 3);
  assert.deepEqual(r.rows, [0, 1, 3, 2, 3, 1]);
  close(r.scores, [1, 0.8, 0.6, 0.8, 0.48, 0.36]);
  const all = cosineTopk(store, 4, q, 10);
  assert.equal(all.k, 4);
  assert.deepEqual(all.rows, [0, 1, 3, 2, 2, 3, 1, 0]);
  // only the first n rows of a bigger store count
  assert.deepEqual(cosineTopk(store, 2, q, 10).rows, [0, 1, 1, 0]);
  assert.equal(cosineTopk(store, 0, q, 10).k, 0);
  assert.throws(() => cosineTopk(store, 4, q, 0), /k must be a positive integer/);
  assert.throws(() => cosineTopk(store, 5, q, 1), /exceeds the store's 4 rows/);
}));

test('chunked search equals unchunked and brute force, for every chunk height', () => tidy(() => {
  const rng = new Rng(11);
  const n = 1000, d = 16, m = 5, k = 7;
  const host = unitRows(rng, n, d);
  const qHost = unitRows(rng, m, d);
  const store = Tensor.from(host, [n, d]);
  const q = Tensor.from(qHost, [m, d]);
  const whole = cosineTopk(store, n, q, k, { chunkRows: n });
  const bf = bruteForce(host, n, qHost, m, d, k);
  assert.deepEqual(whole.rows, bf.flatMap((b) => b.rows));
  bf.flatMap((b) => b.scores).forEach((s, i) => assert.ok(Math.abs(s - (whole.scores[i] as number)) < 1e-5));
  for (const chunkRows of [1, 3, 6, 7, 64, 333, 999, 5000]) {
    const c = cosineTopk(store, n, q, k, { chunkRows });
    assert.deepEqual(c.rows, whole.rows, `chunkRows ${chunkRows}`);
    // Same rows; scores may differ in the last bit (BLAS sums a 1-row chunk in another order).
    close(c.scores, Array.from(whole.scores), 1e-6);
  }
}));

test('a -inf bias removes rows exactly (no over-fetch); too few survivors leave -inf tails', () => tidy(() => {
  const rng = new Rng(5);
  const n = 300, d = 8, m = 3, k = 10;
  const host = unitRows(rng, n, d);
  const qHost = unitRows(rng, m, d);
  const keep = (r: number): boolean => r % 3 === 0; // 100 survivors
  const bias = Tensor.from(Array.from({ length: n }, (_, r) => (keep(r) ? 0 : -Infinity)), [n]);
  const bf = bruteForce(host, n, qHost, m, d, k, keep);
  for (const chunkRows of [n, 7, 50]) {
    const r = cosineTopk(Tensor.from(host, [n, d]), n, Tensor.from(qHost, [m, d]), k, { bias, chunkRows });
    assert.deepEqual(r.rows, bf.flatMap((b) => b.rows), `chunkRows ${chunkRows}`);
  }
  // only rows 0 and 150 survive: 2 real results, then -inf
  const two = Tensor.from(Array.from({ length: n }, (_, r) => (r === 0 || r === 150 ? 0 : -Infinity)), [n]);
  const r = cosineTopk(Tensor.from(host, [n, d]), n, Tensor.from(qHost, [m, d]), 4, { bias: two, chunkRows: 64 });
  for (let i = 0; i < m; i++) {
    const row = r.rows.slice(i * 4, i * 4 + 2).sort((a, b) => a - b);
    assert.deepEqual(row, [0, 150]);
    assert.equal(r.scores[i * 4 + 2], -Infinity);
    assert.equal(r.scores[i * 4 + 3], -Infinity);
  }
}));

test('row numbers past 2^24 stay exact across chunk offsets (int64, not float32)', () => tidy(() => {
  const n = (1 << 24) + 8;
  const target = (1 << 24) + 3; // float32 would round this to 2^24 + 4
  const store = Tensor.zeros([n, 1]);
  store.narrow(0, target, 1).fill_(1);
  store.narrow(0, 5, 1).fill_(0.5);
  const r = cosineTopk(store, n, Tensor.from([1], [1, 1]), 2, { chunkRows: 1 << 22 });
  assert.deepEqual(r.rows, [target, 5]);
}));

test('no tensors leak across searches', () => {
  const rng = new Rng(3);
  const store = Tensor.from(unitRows(rng, 200, 4), [200, 4]);
  const q = Tensor.from(unitRows(rng, 2, 4), [2, 4]);
  const bias = Tensor.zeros([200]);
  cosineTopk(store, 200, q, 5, { bias, chunkRows: 30 });
  const before = liveTensors();
  for (let i = 0; i < 5; i++) cosineTopk(store, 200, q, 5, { bias, chunkRows: 30 });
  assert.equal(liveTensors(), before);
  store.dispose(); q.dispose(); bias.dispose();
  assert.equal(defaultChunkRows(1), 1 << 22);
  assert.equal(defaultChunkRows(32), 1 << 17);
  assert.equal(defaultChunkRows(100000), 4096);
});
