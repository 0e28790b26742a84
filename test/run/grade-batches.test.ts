/** Grade-homogeneous batches (train.gradeBatchShare): the epoch order stays a permutation, about the asked share of windows holds one grade. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gradeBatchOrder } from '../../src/run/grade-batches.js';
import { Rng } from '../../src/data/rng.js';

const homogeneous = (o: number[], grades: number[], size: number): number => {
  let n = 0;
  for (let w = 0; w + size <= o.length; w += size) {
    const g = o.slice(w, w + size).map((i) => grades[i] as number);
    if (g.every((x) => x === g[0] && x >= 0)) n++;
  }
  return n;
};

test('share 0 keeps the shuffled order; any share gives a permutation of it, the same for the same generator', () => {
  const grades = Array.from({ length: 403 }, (_, i) => (i % 11 === 0 ? -1 : i % 5));
  const order = new Rng(4).shuffle([...grades.keys()]);
  assert.deepEqual(gradeBatchOrder(order, grades, 16, 0, new Rng(1)), order);
  for (const share of [0.3, 0.5, 1]) {
    const o = gradeBatchOrder(order, grades, 16, share, new Rng(7));
    assert.deepEqual([...o].sort((a, b) => a - b), [...grades.keys()]);
    assert.deepEqual(o, gradeBatchOrder(order, grades, 16, share, new Rng(7)));
  }
});

test('about `share` of the windows hold one grade; mixed shuffles almost never do', () => {
  const grades = Array.from({ length: 4000 }, (_, i) => (i % 23 === 0 ? -1 : i % 5));
  const order = new Rng(9).shuffle([...grades.keys()]);
  const windows = Math.floor(grades.length / 8);
  assert.equal(homogeneous(order, grades, 8), 0, 'a plain shuffle of five grades: (1/5)^7 per window');
  const half = gradeBatchOrder(order, grades, 8, 0.5, new Rng(3));
  const h = homogeneous(half, grades, 8);
  assert.ok(h > windows * 0.42 && h < windows * 0.58, `${h} of ${windows} windows of one grade`);
  const all = gradeBatchOrder(order, grades, 8, 1, new Rng(3));
  // Every window that can be of one grade is: all but the windows the unknown-grade items and the last leftovers fill.
  assert.ok(homogeneous(all, grades, 8) > windows * 0.9, `${homogeneous(all, grades, 8)} of ${windows}`);
});

test('items of unknown grade never make a window of one grade: all unknown, the order is kept even at share 1', () => {
  const grades = Array.from({ length: 64 }, () => -1);
  const order = new Rng(2).shuffle([...grades.keys()]);
  assert.deepEqual(gradeBatchOrder(order, grades, 8, 1, new Rng(5)), order);
});
