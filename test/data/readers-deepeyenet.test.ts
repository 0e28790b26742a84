// DeepEyeNet reader on hand-written entries of the documented shape (never real data).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readDeepEyeNet } from '../../src/data/readers/deepeyenet.js';
import { readDataset } from '../../src/data/readers/index.js';

function makeDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'retalign-den-'));
  writeFileSync(join(dir, 'DeepEyeNet_train.json'), JSON.stringify([
    { 'eyenet0420/train_set/a.jpg': { keywords: 'diabetic retinopathy, microaneurysms', 'clinical-description': ' 55-year-old man with NPDR. ' } },
    // Several keys in one object, renamed fields, empty keywords.
    {
      'eyenet0420/train_set/b.jpg': { Keywords: '', clinical_description: 'normal fundus' },
      'eyenet0420/train_set/c.jpg': { keywords: ' drusen ,, amd ', 'Clinical Description': '' },
    },
  ]));
  writeFileSync(join(dir, 'DeepEyeNet_valid.json'), '\uFEFF' + JSON.stringify([
    { 'eyenet0420/val_set/d.jpg': { keywords: 'pdr', 'clinical-description': 'proliferative diabetic retinopathy' } },
  ]));
  writeFileSync(join(dir, 'DeepEyeNet_test.json'), JSON.stringify([
    { 'eyenet0420/test_set/e.jpg': { keywords: 'cotton wool spots', 'clinical-description': 'cws' } },
    { 'eyenet0420/test_set/f.jpg': 'not an object' },
    42,
    { 'eyenet0420/train_set/a.jpg': { keywords: 'dup', 'clinical-description': 'dup' } },
  ]));
  return dir;
}

test('reads all three files, both object shapes, field-name variants, empty keywords', () => {
  const dir = makeDir();
  const { records, report, givenSplit } = readDeepEyeNet(dir);
  assert.deepEqual(records.map((r) => r.imageId), [
    'eyenet0420/train_set/a.jpg', 'eyenet0420/train_set/b.jpg', 'eyenet0420/train_set/c.jpg',
    'eyenet0420/val_set/d.jpg', 'eyenet0420/test_set/e.jpg',
  ]);
  const [a, b, c] = records;
  assert.ok(a && b && c);
  assert.equal(a.patientId, a.imageId);
  assert.equal(a.imagePath, join(dir, 'eyenet0420/train_set/a.jpg'));
  assert.equal(a.note, '55-year-old man with NPDR.');
  assert.deepEqual(a.keywords, ['diabetic retinopathy', 'microaneurysms']);
  assert.deepEqual(a.fields, {});
  assert.equal(a.eye, 'unknown');
  assert.deepEqual(a.labels, { icdr: null, sdrg: null, diabeticRetinopathy: null, macularEdema: null, flags: {} });
  assert.deepEqual(b.keywords, []);
  assert.equal(b.note, 'normal fundus');
  assert.deepEqual(c.keywords, ['drusen', 'amd']);
  assert.equal(c.note, undefined);
  assert.equal(report.rowsRead, 8);
  assert.deepEqual(report.skipped.map((s) => [s.row, s.imageId]), [[2, 'eyenet0420/test_set/f.jpg'], [3, null], [4, 'eyenet0420/train_set/a.jpg']]);
  assert.match(report.skipped[2]?.reason ?? '', /duplicate image path \(first at entry 1 of .*DeepEyeNet_train\.json\)/);
  assert.ok(report.notes.some((n) => /no patient ids/.test(n)));
  assert.equal(givenSplit.get('eyenet0420/val_set/d.jpg'), 'val');
  assert.equal(givenSplit.get('eyenet0420/test_set/e.jpg'), 'test');
});

test('one split or one file; readDataset detects the format and counts missing notes/keywords', async () => {
  const dir = makeDir();
  const t = readDeepEyeNet(dir, { splits: ['val'] });
  assert.deepEqual(t.records.map((r) => r.imageId), ['eyenet0420/val_set/d.jpg']);
  const f = readDeepEyeNet(join(dir, 'DeepEyeNet_valid.json'), { imagesDir: '/imgs' });
  assert.equal(f.records[0]?.imagePath, '/imgs/eyenet0420/val_set/d.jpg');
  const all = await readDataset(dir);
  assert.equal(all.format, 'deepeyenet');
  assert.equal(all.report.missing['note'], 1);
  assert.equal(all.report.missing['keywords'], 1);
  assert.equal(all.report.missing['label:icdr'], 5);
  assert.equal(all.givenSplit?.['eyenet0420/train_set/a.jpg'], 'train');
  // Images do not exist in the fixture: a sniff check drops all of them, givenSplit follows.
  const checked = await readDataset(dir, { checkImages: 'sniff' });
  assert.equal(checked.records.length, 0);
  assert.deepEqual(checked.givenSplit, {});
  assert.equal(checked.report.images?.missing, 5);
});

test('bad JSON and wrong top-level type are precise errors', () => {
  const dir = mkdtempSync(join(tmpdir(), 'retalign-den-bad-'));
  writeFileSync(join(dir, 'DeepEyeNet_test.json'), '[{"a.jpg": {"keywords": "x"}');
  assert.throws(() => readDeepEyeNet(dir), /DeepEyeNet_test\.json: not valid JSON/);
  writeFileSync(join(dir, 'DeepEyeNet_test.json'), '"hello"');
  assert.throws(() => readDeepEyeNet(dir), /expected a JSON array/);
  assert.throws(() => readDeepEyeNet(dir, { splits: ['train'] }), /no DeepEyeNet files .* for splits train/);
});
