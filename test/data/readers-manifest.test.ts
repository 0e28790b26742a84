// Generic manifest reader (CSV and JSONL) and format detection, on made-up rows.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { readManifest } from '../../src/data/readers/manifest.js';
import { detectFormat, readDataset } from '../../src/data/readers/index.js';

test('CSV manifest: paths relative to the manifest, typed columns, labels kept out of fields', () => {
  const dir = mkdtempSync(join(tmpdir(), 'retalign-man-'));
  writeFileSync(join(dir, 'manifest.csv'), [
    'Image,patient_id,note,ICDR,sdrg,macular_edema,drusens,age,site,smoker',
    'imgs/a.png,p1,"mild NPDR, left eye",1,1,0,1,61,north,yes',
    '/abs/b.jpg,p1,,2,,1,0,Não,south,no',
    'imgs/c.png,,  ,,,,,70.5,,',
    'imgs/d.png,p3,x,9,0,0,0,40,north,no',
  ].join('\r\n'));
  const { records, report, columnTypes } = readManifest(join(dir, 'manifest.csv'));
  assert.deepEqual(columnTypes, { age: 'numeric', site: 'text', smoker: 'text' });
  assert.deepEqual(records.map((r) => r.imageId), ['imgs/a.png', '/abs/b.jpg', 'imgs/c.png']);
  const [a, b, c] = records;
  assert.ok(a && b && c);
  assert.equal(a.imagePath, join(dir, 'imgs/a.png'));
  assert.equal(b.imagePath, '/abs/b.jpg');
  assert.equal(a.note, 'mild NPDR, left eye');
  assert.equal(b.note, undefined);
  assert.deepEqual(a.fields, { age: 61, site: 'north', smoker: 'yes' });
  assert.deepEqual(b.fields, { age: null, site: 'south', smoker: 'no' });
  assert.deepEqual(c.fields, { age: 70.5, site: null, smoker: null });
  assert.deepEqual(a.labels, { icdr: 1, sdrg: 1, diabeticRetinopathy: null, macularEdema: false, flags: { drusen: true } });
  assert.deepEqual([b.labels.icdr, b.labels.sdrg, b.labels.macularEdema], [2, null, true]);
  assert.equal(c.patientId, 'imgs/c.png');
  assert.equal(b.patientId, 'p1');
  assert.deepEqual(report.dirty, { age: { 'Não': 1 }, ICDR: { '9': 1 } });
  assert.deepEqual(report.skipped.map((s) => [s.row, s.imageId, s.reason]), [[5, 'imgs/d.png', 'invalid ICDR "9" (expected 0..4 or empty)']]);
  assert.ok(report.notes.some((n) => /1 rows without patient_id/.test(n)));
});

test('JSONL manifest: image_path + image_id, native JSON types, bad lines skipped', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'retalign-man-jsonl-'));
  mkdirSync(join(dir, 'imgs'));
  const png = await sharp({ create: { width: 8, height: 8, channels: 4, background: { r: 1, g: 2, b: 3, alpha: 0.2 } } }).png().toBuffer();
  writeFileSync(join(dir, 'imgs', 'x.png'), png);
  writeFileSync(join(dir, 'manifest.jsonl'), [
    JSON.stringify({ image_id: 'x', image_path: 'imgs/x.png', patient_id: 7, icdr: 3, insulin: true, hba1c: 8.1, camera: 'A' }),
    '',
    '{not json',
    JSON.stringify({ image_id: 'y', image_path: 'imgs/y.png', icdr: null, insulin: false, hba1c: '7.5', camera: 3 }),
    JSON.stringify([1, 2]),
    JSON.stringify({ image_id: 'z', image_path: 'imgs/x.png', insulin: null, hba1c: { v: 1 } }),
  ].join('\n'));
  const { records, report, columnTypes } = readManifest(join(dir, 'manifest.jsonl'));
  assert.deepEqual(columnTypes, { insulin: 'boolean', hba1c: 'numeric', camera: 'text' });
  assert.equal(report.rowsRead, 5);
  assert.deepEqual(report.skipped.map((s) => s.row), [3, 5]);
  assert.deepEqual(records.map((r) => [r.imageId, r.patientId, r.labels.icdr]), [['x', '7', 3], ['y', 'y', null], ['z', 'z', null]]);
  assert.deepEqual(records[0]?.fields, { insulin: true, hba1c: 8.1, camera: 'A' });
  assert.deepEqual(records[1]?.fields, { insulin: false, hba1c: 7.5, camera: '3' });
  assert.deepEqual(records[2]?.fields, { insulin: null, hba1c: null, camera: null });
  assert.deepEqual(report.dirty, { hba1c: { '{"v":1}': 1 } });
  // Folder detection finds manifest.jsonl; the decode check keeps the PNG with alpha, drops the missing one.
  const read = await readDataset(dir, { checkImages: 'decode' });
  assert.equal(read.format, 'manifest');
  assert.deepEqual(read.records.map((r) => r.imageId), ['x', 'z']);
  assert.deepEqual(read.report.skipped.filter((s) => s.image).map((s) => [s.row, s.imageId, s.image]), [[4, 'y', 'missing']]);
});

test('detectFormat: files and folders; no image column is a precise error', () => {
  const dir = mkdtempSync(join(tmpdir(), 'retalign-detect-'));
  writeFileSync(join(dir, 'brset_like.csv'), 'image_id,patient_id,DR_ICDR\n');
  writeFileSync(join(dir, 'list.csv'), 'image_path,note\n');
  writeFileSync(join(dir, 'other.csv'), 'file,grade\n');
  writeFileSync(join(dir, 'x.json'), '[]');
  assert.deepEqual(detectFormat(join(dir, 'brset_like.csv')).format, 'brset');
  assert.deepEqual(detectFormat(join(dir, 'list.csv')).format, 'manifest');
  assert.deepEqual(detectFormat(join(dir, 'x.json')).format, 'deepeyenet');
  assert.throws(() => detectFormat(join(dir, 'other.csv')), /header seen: file, grade/);
  assert.throws(() => detectFormat(join(dir, 'nope')), /no such file or folder/);
  assert.throws(() => readManifest(join(dir, 'other.csv')), /no image path column \(expected one of image, image_path\); columns seen: file, grade/);
  assert.throws(() => detectFormat(dir), /no dataset found.*Folder holds: brset_like\.csv, list\.csv, other\.csv, x\.json/);
});
