import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bootstrapCI, quantile } from '../../src/eval/metrics/bootstrap.js';
import { Rng } from '../../src/data/rng.js';

interface Item { pid: string; idx: number; v: number }

test('quantile interpolates linearly (numpy default)', () => {
  assert.equal(quantile([1, 2, 3, 4], 0.5), 2.5);
  assert.equal(quantile([1, 2, 3, 4], 0), 1);
  assert.equal(quantile([1, 2, 3, 4], 1), 4);
  assert.equal(quantile([10, 20], 0.025), 10.25);
  assert.ok(Number.isNaN(quantile([], 0.5)));
});

test('resamples patients: all items of a drawn patient come along, as often as the patient is drawn', () => {
  // Patient A has 3 items, B 1, C 2. In every resample each patient's items appear equally often,
  // and the sample size is a sum of patient sizes drawn 3 times.
  const items: Item[] = [
    { pid: 'A', idx: 0, v: 1 }, { pid: 'B', idx: 1, v: 0 }, { pid: 'A', idx: 2, v: 1 },
    { pid: 'C', idx: 3, v: 0 }, { pid: 'A', idx: 4, v: 1 }, { pid: 'C', idx: 5, v: 1 },
  ];
  const sizes: Record<string, number> = { A: 3, B: 1, C: 2 };
  let draws = 0;
  const r = bootstrapCI(items, items.map((i) => i.pid), (s) => {
    draws++;
    const perItem = new Map<number, number>();
    for (const x of s) perItem.set(x.idx, (perItem.get(x.idx) ?? 0) + 1);
    for (const [pid] of Object.entries(sizes)) {
      const counts = items.filter((i) => i.pid === pid).map((i) => perItem.get(i.idx) ?? 0);
      assert.ok(counts.every((c) => c === counts[0]), `patient ${pid} split: ${counts.join(',')}`);
    }
    const patientDraws = Object.entries(sizes).reduce((a, [pid, n]) => a + (perItem.get(items.find((i) => i.pid === pid)!.idx) ?? 0), 0);
    assert.equal(patientDraws, 3);
    return s.reduce((a, x) => a + x.v, 0) / s.length;
  }, { iterations: 50, seed: 1 });
  assert.equal(draws, 51); // 50 resamples + the point estimate
  assert.equal(r.nPatients, 3);
  assert.equal(r.estimate, 4 / 6);
  assert.ok(r.lo <= r.estimate && r.estimate <= r.hi);
});

test('deterministic per seed, different across seeds', () => {
  const rng = new Rng(2);
  const items = Array.from({ length: 80 }, (_, i) => ({ pid: `p${i >> 1}`, v: rng.normal() }));
  const mean = (s: { v: number }[]): number => s.reduce((a, x) => a + x.v, 0) / s.length;
  const a = bootstrapCI(items, items.map((i) => i.pid), mean, { iterations: 200, seed: 7 });
  const b = bootstrapCI(items, items.map((i) => i.pid), mean, { iterations: 200, seed: 7 });
  const c = bootstrapCI(items, items.map((i) => i.pid), mean, { iterations: 200, seed: 8 });
  assert.deepEqual(a, b);
  assert.notDeepEqual([a.lo, a.hi], [c.lo, c.hi]);
});

test('width matches the normal approximation for a proportion; undefined resamples are counted', () => {
  const rng = new Rng(4);
  const items = Array.from({ length: 200 }, (_, i) => ({ pid: i, v: rng.bernoulli(0.5) ? 1 : 0 }));
  const mean = (s: { v: number }[]): number => s.reduce((a, x) => a + x.v, 0) / s.length;
  const r = bootstrapCI(items, items.map((i) => i.pid), mean, { iterations: 400, seed: 3 });
  const width = r.hi - r.lo; // ~ 2 * 1.96 * sqrt(.25 / 200) = 0.139
  assert.ok(width > 0.11 && width < 0.17, `width ${width}`);
  assert.equal(r.valid, 400);
  const nanSometimes = bootstrapCI(items, items.map((i) => i.pid), (s) => (s[0]!.v === 1 ? NaN : mean(s)), { iterations: 100, seed: 3 });
  assert.ok(nanSometimes.valid > 0 && nanSometimes.valid < 100);
  assert.throws(() => bootstrapCI(items, [1, 2], mean), /200 items but 2 patient ids/);
});
