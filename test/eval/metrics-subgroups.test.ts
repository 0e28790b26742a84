import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ageBand, standardSubgroups, subgroupMetrics, subgroupReport } from '../../src/eval/metrics/subgroups.js';
import type { ExamRecord } from '../../src/data/types.js';

test('age bands at their edges', () => {
  assert.deepEqual([39.9, 40, 59.99, 60, 74, 75, 90].map(ageBand), ['<40', '40-59', '40-59', '60-74', '60-74', '>=75', '>=75']);
  assert.deepEqual([null, undefined, NaN, 'x'].map(ageBand), ['missing', 'missing', 'missing', 'missing']);
});

test('standardSubgroups reads sex, age and camera fields of a record', () => {
  const r: ExamRecord = {
    imageId: 'img1', patientId: 'p1', imagePath: '/x.jpg', eye: 'left',
    fields: { patient_sex: 'female', patient_age: 61, camera: null },
    labels: { icdr: 0, sdrg: 0, diabeticRetinopathy: false, macularEdema: false, flags: {} },
  };
  assert.deepEqual(standardSubgroups(r), { sex: 'female', ageBand: '60-74', camera: 'missing' });
});

test('per-group metrics, largest gap, and skipped small groups', () => {
  // group a: 4 items, 3 correct (0.75); b: 4 items, 1 correct (0.25); c: 1 item (below minSize 2)
  const rows = [
    ...[1, 1, 1, 0].map((ok) => ({ g: 'a', ok })),
    ...[0, 1, 0, 0].map((ok) => ({ g: 'b', ok })),
    { g: 'c', ok: 1 },
  ];
  const acc = (s: { ok: number }[]): number => s.reduce((a, r) => a + r.ok, 0) / s.length;
  const r = subgroupMetrics(rows, 'site', (x) => x.g, { accuracy: acc, alwaysNaN: () => NaN }, { minSize: 2 });
  assert.deepEqual(r.groups.map((g) => [g.group, g.n, g.skipped, g.metrics.accuracy]), [['a', 4, false, 0.75], ['b', 4, false, 0.25], ['c', 1, true, undefined]]);
  assert.deepEqual(r.gaps.accuracy, { gap: 0.5, maxGroup: 'a', max: 0.75, minGroup: 'b', min: 0.25 });
  assert.equal(r.gaps.alwaysNaN, null);
  assert.deepEqual(r.skipped, [{ group: 'c', n: 1 }]);
  const all = subgroupReport(rows, { site: (x) => x.g, all: () => 'everyone' }, { accuracy: acc }, { minSize: 2 });
  assert.deepEqual(all.map((x) => x.attribute), ['site', 'all']);
  assert.equal(all[1]!.gaps.accuracy, null); // one group: no gap
});

test('minSize is inclusive: a group of exactly minSize is scored, one item fewer is skipped', () => {
  const rows = [{ g: 'a', ok: 1 }, { g: 'a', ok: 0 }, { g: 'a', ok: 1 }, { g: 'b', ok: 1 }, { g: 'b', ok: 1 }];
  const acc = (s: { ok: number }[]): number => s.reduce((a, r) => a + r.ok, 0) / s.length;
  const r = subgroupMetrics(rows, 'site', (x) => x.g, { accuracy: acc }, { minSize: 3 });
  assert.deepEqual(r.groups.map((g) => [g.group, g.n, g.skipped]), [['a', 3, false], ['b', 2, true]]);
  assert.equal(r.groups[0]!.metrics.accuracy, 2 / 3);
  assert.deepEqual(r.skipped, [{ group: 'b', n: 2 }]);
});
