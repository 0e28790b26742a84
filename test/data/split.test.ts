// Patient-level and image-level splits: properties over several seeds, exact small cases,
// determinism, split-file round trip and verification.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rng } from '../../src/data/rng.js';
import type { ExamRecord } from '../../src/data/types.js';
import {
  applySplit, loadOrMakeSplit, makeSplit, readSplit, resolveSplitConfig, verifySplit, writeSplit,
  type SplitFile, type SplitName,
} from '../../src/data/split.js';

function rec(imageId: string, patientId: string, icdr: number | null): ExamRecord {
  return {
    imageId, patientId, imagePath: `/x/${imageId}.jpg`, eye: 'unknown', fields: {},
    labels: { icdr, sdrg: icdr, diabeticRetinopathy: null, macularEdema: null, flags: {} },
  };
}

/** 400 made-up patients, 1-4 images each, grades skewed like BRSET (mostly 0, few referable). */
function cohort(seed: number): ExamRecord[] {
  const r = new Rng(seed);
  const out: ExamRecord[] = [];
  for (let p = 0; p < 400; p++) {
    const g = r.weighted([85, 3, 6, 2, 4]);
    const n = r.int(1, 4);
    for (let i = 0; i < n; i++) out.push(rec(`img${p}_${i}`, `p${p}`, i === 0 ? g : Math.min(g, r.int(0, 4))));
  }
  return out;
}

test('config validation names the problem', () => {
  assert.throws(() => resolveSplitConfig({ train: 0.8, val: 0.1, test: 0.2 }), /train \+ val \+ test = 1\.1/);
  assert.throws(() => resolveSplitConfig({ train: -0.1, val: 0.6, test: 0.5 }), /train = -0\.1/);
  assert.throws(() => resolveSplitConfig({ seed: 1.5 }), /seed = 1\.5/);
  assert.throws(() => resolveSplitConfig({ tran: 0.7 } as never), /unknown key "tran" \(valid: train, val, test, seed, mode\)/);
  assert.deepEqual(resolveSplitConfig({ seed: 3, mode: undefined }), { train: 0.7, val: 0.15, test: 0.15, seed: 3, mode: 'patient' });
});

test('exact counts: largest remainder with the at-least-one rule', () => {
  // 10 single-image patients, one stratum: 7 / 1.5 / 1.5 -> 7 / 2 / 1 (tie goes to val).
  const ten = Array.from({ length: 10 }, (_, i) => rec(`a${i}`, `p${i}`, 0));
  assert.deepEqual(makeSplit(ten, { seed: 1 }).counts, { train: { images: 7, patients: 7 }, val: { images: 2, patients: 2 }, test: { images: 1, patients: 1 } });
  // 3 patients: 2.1 / 0.45 / 0.45 -> 2 / 1 / 0 -> every split gets one: 1 / 1 / 1.
  const three = Array.from({ length: 3 }, (_, i) => rec(`b${i}`, `q${i}`, 4));
  assert.deepEqual(makeSplit(three, { seed: 1 }).counts, { train: { images: 1, patients: 1 }, val: { images: 1, patients: 1 }, test: { images: 1, patients: 1 } });
  // Two strata (grade 0 x10, grade 4 x3): counts add up per stratum.
  assert.deepEqual(makeSplit([...ten, ...three], { seed: 5 }).counts.test, { images: 2, patients: 2 });
});

test('patient split properties over several seeds', () => {
  const records = cohort(11);
  const patients = new Set(records.map((r) => r.patientId)).size;
  for (let seed = 0; seed < 8; seed++) {
    const split = makeSplit(records, { train: 0.7, val: 0.15, test: 0.15, seed });
    verifySplit(split, records); // includes: no patient straddles splits
    const where = new Map<string, SplitName>();
    for (const r of records) {
      const s = split.assignment[r.imageId];
      assert.ok(s !== undefined);
      const w = where.get(r.patientId);
      if (w !== undefined) assert.equal(w, s, `patient ${r.patientId} straddles`);
      where.set(r.patientId, s);
    }
    // Ratios on patients within 2 points; images within 5 points (patients have 1-4 images).
    const nImages = records.length;
    for (const [name, ratio] of [['train', 0.7], ['val', 0.15], ['test', 0.15]] as const) {
      assert.ok(Math.abs(split.counts[name].patients / patients - ratio) < 0.02, `${name} patients seed ${seed}`);
      assert.ok(Math.abs(split.counts[name].images / nImages - ratio) < 0.05, `${name} images seed ${seed}`);
    }
    // Stratification: referable (ICDR >= 2) patients, and each referable grade, in every split.
    const parts = applySplit(records, split);
    for (const name of ['train', 'val', 'test'] as const) {
      for (const g of [2, 3, 4]) assert.ok(parts[name].some((r) => r.labels.icdr === g), `grade ${g} in ${name}, seed ${seed}`);
    }
  }
});

test('deterministic: same seed same split whatever the record order; other seed differs', () => {
  const records = cohort(3);
  const a = makeSplit(records, { seed: 9 });
  const shuffled = new Rng(1).shuffle([...records]);
  assert.deepEqual(makeSplit(shuffled, { seed: 9 }), a);
  assert.notDeepEqual(makeSplit(records, { seed: 10 }).assignment, a.assignment);
});

test('image mode (paper variant) ignores patients', () => {
  const records = cohort(4);
  const split = makeSplit(records, { seed: 2, mode: 'image' });
  assert.equal(split.mode, 'image');
  verifySplit(split, records); // no straddle check for image mode
  let straddle = 0;
  const where = new Map<string, SplitName>();
  for (const r of records) {
    const s = split.assignment[r.imageId] as SplitName;
    const w = where.get(r.patientId);
    if (w !== undefined && w !== s) straddle++;
    where.set(r.patientId, s);
  }
  assert.ok(straddle > 0, 'an image-level split of multi-image patients straddles');
  assert.ok(Math.abs(split.counts.train.images / records.length - 0.7) < 0.02);
  // The same assignment read as a patient split fails verification, naming a patient.
  assert.throws(() => verifySplit({ ...split, mode: 'patient' }, records), /patients straddle splits: p\d+/);
});

test('split file round trip, verification errors, reuse', () => {
  const dir = mkdtempSync(join(tmpdir(), 'retalign-split-'));
  const records = cohort(5);
  const split = makeSplit(records, { seed: 1 });
  const path = join(dir, 'split.json');
  writeSplit(path, split);
  assert.deepEqual(readSplit(path), split);

  const fewer = records.filter((r) => r.imageId !== 'img0_0');
  const more = [...records, rec('new1', 'pnew', 0)];
  assert.throws(() => verifySplit(split, fewer), /1 image ids in the split are not in the records: img0_0/);
  assert.throws(() => verifySplit(split, more), /1 records have no split: new1/);

  const again = loadOrMakeSplit(path, records, { seed: 1 });
  assert.equal(again.created, false);
  assert.deepEqual(again.split, split);
  assert.throws(() => loadOrMakeSplit(path, records, { seed: 2 }), /was made with .*"seed":1.*delete the file/);
  const fresh = loadOrMakeSplit(join(dir, 'b.json'), records, { seed: 1 });
  assert.equal(fresh.created, true);
  assert.deepEqual(readSplit(join(dir, 'b.json')), split);

  const bad: SplitFile = { ...split, assignment: { ...split.assignment, img0_0: 'dev' as SplitName } };
  writeSplit(path, bad);
  assert.throws(() => readSplit(path), /image img0_0 assigned to "dev" \(expected train, val or test\)/);
});

/**
 * Asserts the patient split is stratified on each patient's maximum ICDR grade (null = its own
 * stratum): for every stratum and split, the number of the stratum's patients in the split is
 * within one patient of ratio x the stratum's size (largest-remainder rounding; the strata here
 * are large enough, >= 7 patients, that the at-least-one rule never moves a unit). Over a split of
 * p patients this keeps each grade's share within 1/p of its share in the whole.
 */
function assertStratified(records: readonly ExamRecord[], split: SplitFile, ratios: Record<SplitName, number>, what: string): void {
  const stratumOf = new Map<string, number>();
  for (const r of records) stratumOf.set(r.patientId, Math.max(stratumOf.get(r.patientId) ?? -1, r.labels.icdr ?? -1));
  const whole = new Map<number, number>();
  const per = new Map<string, number>(); // `${split}/${stratum}` -> patients
  const splitOf = new Map<string, SplitName>();
  for (const r of records) splitOf.set(r.patientId, split.assignment[r.imageId] as SplitName);
  for (const [p, g] of stratumOf) {
    whole.set(g, (whole.get(g) ?? 0) + 1);
    const key = `${splitOf.get(p)}/${g}`;
    per.set(key, (per.get(key) ?? 0) + 1);
  }
  for (const [g, n] of whole) {
    assert.ok(n >= 7, `${what}: stratum ${g} has ${n} patients; this check needs >= 7`);
    for (const name of ['train', 'val', 'test'] as const) {
      const got = per.get(`${name}/${g}`) ?? 0;
      const want = ratios[name] * n;
      assert.ok(Math.abs(got - want) < 1,
        `${what}: ${name} holds ${got} of the ${n} patients of stratum ${g} (max ICDR; -1 = ungraded), ` +
        `expected ${want.toFixed(2)} +- 1 (share ${(got / split.counts[name].patients).toFixed(3)} vs ${(n / stratumOf.size).toFixed(3)} in the whole)`);
    }
  }
}

test('stratification: single-grade patients; each split\'s grade distribution matches the whole within one patient per grade', () => {
  // 300 patients, 1-3 images each, every image of a patient has the patient's grade; strata sizes
  // 180/30/45/15/30. Without stratification a shuffle puts e.g. 45 +- 3 grade-0 patients into test,
  // so some grade misses its quota by more than one patient for every seed tried here.
  const sizes = [180, 30, 45, 15, 30];
  const records: ExamRecord[] = [];
  const r = new Rng(21);
  let p = 0;
  sizes.forEach((n, g) => {
    for (let i = 0; i < n; i++, p++) {
      for (let j = 0, m = r.int(1, 3); j < m; j++) records.push(rec(`s${p}_${j}`, `sp${p}`, g));
    }
  });
  for (const [ratios, seeds] of [[{ train: 0.7, val: 0.15, test: 0.15 }, [0, 1, 2, 3]], [{ train: 0.6, val: 0.2, test: 0.2 }, [7]]] as const) {
    for (const seed of seeds) {
      const split = makeSplit(records, { ...ratios, seed });
      verifySplit(split, records);
      assertStratified(records, split, ratios, `seed ${seed}, ${JSON.stringify(ratios)}`);
    }
  }
});

test('stratification: mixed-grade patients go by their maximum grade; ungraded patients form their own stratum', () => {
  // Each graded patient has one image at its grade g and others at grades <= g or ungraded, so a
  // split stratified by the minimum or by the first image would miss the quotas; 20 patients have
  // no grade at all.
  const sizes = [120, 20, 30, 10, 20];
  const records: ExamRecord[] = [];
  const r = new Rng(5);
  let p = 0;
  sizes.forEach((n, g) => {
    for (let i = 0; i < n; i++, p++) {
      const m = r.int(2, 4);
      const at = r.int(0, m - 1);
      for (let j = 0; j < m; j++) records.push(rec(`m${p}_${j}`, `mp${p}`, j === at ? g : r.bernoulli(0.2) ? null : r.int(0, g)));
    }
  });
  for (let i = 0; i < 20; i++, p++) records.push(rec(`m${p}_0`, `mp${p}`, null), rec(`m${p}_1`, `mp${p}`, null));
  for (const seed of [0, 1, 2]) {
    const split = makeSplit(records, { seed });
    assertStratified(records, split, { train: 0.7, val: 0.15, test: 0.15 }, `mixed cohort, seed ${seed}`);
  }
});
