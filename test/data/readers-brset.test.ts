// BRSET reader on made-up rows (never real data): header variants, BOM, CRLF, decoding, dirty values,
// invalid grades, and image checks (truncated JPEG, PNG with alpha, text named .jpg, missing file).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { canonicalBrsetColumn, readBrset } from '../../src/data/readers/brset.js';
import { readDataset } from '../../src/data/readers/index.js';
import { checkImageFile, sniffImageType } from '../../src/data/readers/images.js';

const HEADER_V101 = [
  'image_id', 'patient_id', 'camera', 'patient_age', 'comorbidities', 'diabetes_time_y', 'insuline', 'patient_sex',
  'exam_eye', 'diabetes', 'nationality', 'optic_disc', 'vessels', 'macula', 'DR_SDRG', 'DR_ICDR', 'focus', 'Illuminaton',
  'image_field', 'artifacts', 'diabetic_retinopathy', 'macular_edema', 'scar', 'nevus', 'amd', 'vascular_occlusion',
  'hypertensive_retinopathy', 'drusens', 'hemorrhage', 'retinal_detachment', 'myopic_fundus', 'increased_cup_disc',
  'other', 'quality',
];
const DEFAULT_ROW: Record<string, string> = Object.fromEntries(HEADER_V101.map((h) => [h, '0']));
Object.assign(DEFAULT_ROW, {
  camera: 'Canon CR', patient_age: '', comorbidities: '', diabetes_time_y: '', insuline: '', patient_sex: '2',
  exam_eye: '1', diabetes: 'No', nationality: 'Brazil', optic_disc: '1', vessels: '1', macula: '1', focus: '1',
  Illuminaton: '1', image_field: '1', artifacts: '1', quality: 'Adequate',
});

function csvLine(cells: string[]): string {
  return cells.map((c) => (/[",\r\n]/.test(c) ? `"${c.replace(/"/g, '""')}"` : c)).join(',');
}

/** Made-up BRSET rows; `over` keys use the v1.0.1 header names. */
function brsetCsv(header: string[], rows: Record<string, string>[], eol: string, bom: boolean): string {
  const lines = [csvLine(header)];
  for (const over of rows) {
    const r = { ...DEFAULT_ROW, ...over };
    lines.push(csvLine(HEADER_V101.map((h) => r[h] ?? '')));
  }
  return (bom ? '\uFEFF' : '') + lines.join(eol) + eol;
}

async function noiseJpeg(): Promise<Buffer> {
  const W = 96, H = 64;
  const raw = Buffer.alloc(W * H * 3);
  let s = 12345;
  for (let i = 0; i < raw.length; i++) { s = (Math.imul(s, 1103515245) + 12345) >>> 0; raw[i] = (s >>> 16) & 255; }
  return sharp(raw, { raw: { width: W, height: H, channels: 3 } }).jpeg({ quality: 90 }).toBuffer();
}

const ROWS: Record<string, string>[] = [
  { image_id: 'img00001', patient_id: '1', patient_age: '48.0', comorbidities: 'diabetes1, hypertension', diabetes_time_y: '10', insuline: 'yes', patient_sex: '1', exam_eye: '1', diabetes: 'yes', DR_ICDR: '0', DR_SDRG: '0', drusens: '1' },
  { image_id: 'img00002', patient_id: '1', patient_age: '48.0', diabetes_time_y: 'Não', insuline: 'no', exam_eye: '2', diabetes: 'No', optic_disc: 'bv', focus: '0', DR_ICDR: '2', DR_SDRG: '3', diabetic_retinopathy: '1', macula: '2', quality: 'Inadequate' },
  { image_id: 'img00003', patient_id: '2', DR_ICDR: '7', DR_SDRG: '0' },
  { image_id: 'img00004', patient_id: '3', DR_ICDR: '4', DR_SDRG: '4', macular_edema: '1', Illuminaton: '2' },
  { image_id: 'img00005', patient_id: '3', DR_ICDR: '0', DR_SDRG: '0', diabetes_time_y: 'Não' },
  { image_id: 'img00006', patient_id: '4', DR_ICDR: '1', DR_SDRG: '1' },
  { image_id: 'img00007', patient_id: '5.0', camera: 'NIKON NF5050', DR_ICDR: '3', DR_SDRG: '3', amd: 'x' },
];

async function makeBrset(opts: { header: string[]; labels: string; images: string; eol: string; bom: boolean }): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'retalign-brset-'));
  writeFileSync(join(dir, opts.labels), brsetCsv(opts.header, ROWS, opts.eol, opts.bom));
  const img = join(dir, opts.images);
  mkdirSync(img);
  const jpg = await noiseJpeg();
  writeFileSync(join(img, 'img00001.jpg'), jpg);
  writeFileSync(join(img, 'img00002.jpg'), jpg);
  writeFileSync(join(img, 'img00003.jpg'), jpg);
  writeFileSync(join(img, 'img00004.jpg'), jpg.subarray(0, Math.floor(jpg.length * 0.7))); // truncated
  writeFileSync(join(img, 'img00005.jpg'), 'this is a text file, not a photo\n');
  // img00006.jpg missing on purpose
  const png = await sharp({ create: { width: 20, height: 16, channels: 4, background: { r: 200, g: 60, b: 20, alpha: 0.5 } } }).png().toBuffer();
  writeFileSync(join(img, 'img00007.jpg'), png); // a PNG with alpha under a .jpg name is still a valid image
  return dir;
}

test('canonical column names cover every header variant', () => {
  for (const h of ['iluminaton', 'Illuminaton', 'ILLUMINATION', 'illumination']) assert.equal(canonicalBrsetColumn(h), 'illumination');
  assert.equal(canonicalBrsetColumn('insuline'), 'insulin');
  assert.equal(canonicalBrsetColumn('Insulin'), 'insulin');
  assert.equal(canonicalBrsetColumn('drusens'), 'drusen');
  assert.equal(canonicalBrsetColumn('dr_icdr'), 'DR_ICDR');
  assert.equal(canonicalBrsetColumn(' DR_SDRG '), 'DR_SDRG');
});

test('v1.0.1 (labels_brset.csv, BOM, CRLF, fundus_photos/): decoding, dirty values, invalid grade', async () => {
  const dir = await makeBrset({ header: HEADER_V101, labels: 'labels_brset.csv', images: 'fundus_photos', eol: '\r\n', bom: true });
  const { records, report } = readBrset(dir);
  assert.equal(report.rowsRead, 7);
  assert.equal(records.length, 6);
  assert.deepEqual(report.skipped, [
    { file: join(dir, 'labels_brset.csv'), row: 4, imageId: 'img00003', reason: 'invalid DR_ICDR "7" (expected 0..4)' },
  ]);
  const [r1, r2] = records;
  assert.ok(r1 && r2);
  assert.equal(r1.imageId, 'img00001');
  assert.equal(r1.patientId, '1');
  assert.equal(r1.imagePath, join(dir, 'fundus_photos', 'img00001.jpg'));
  assert.equal(r1.eye, 'right');
  assert.deepEqual(r1.fields, {
    camera: 'Canon CR', patient_age: 48, comorbidities: 'diabetes1, hypertension', diabetes_time_y: 10, insulin: true,
    patient_sex: 'male', exam_eye: 'right', diabetes: true, nationality: 'Brazil', optic_disc: 'normal', vessels: 'normal',
    macula: 'normal', focus: 'ok', illumination: 'ok', image_field: 'ok', artifacts: 'ok', quality: 'adequate',
  });
  assert.equal(r1.labels.icdr, 0);
  assert.equal(r1.labels.flags['drusen'], true);
  assert.equal(r1.labels.flags['amd'], false);
  assert.equal(Object.keys(r1.labels.flags).length, 11);
  // Labels never leak into fields.
  for (const k of ['DR_ICDR', 'DR_SDRG', 'diabetic_retinopathy', 'macular_edema', 'drusen', 'drusens', 'amd']) assert.ok(!(k in r1.fields), k);

  assert.equal(r2.eye, 'left');
  assert.equal(r2.fields['diabetes_time_y'], null);
  assert.equal(r2.fields['optic_disc'], null);
  assert.equal(r2.fields['focus'], null);
  assert.equal(r2.fields['diabetes'], false);
  assert.equal(r2.fields['insulin'], false);
  assert.equal(r2.fields['patient_sex'], 'female');
  assert.equal(r2.fields['macula'], 'abnormal');
  assert.equal(r2.fields['quality'], 'inadequate');
  assert.deepEqual([r2.labels.icdr, r2.labels.sdrg, r2.labels.diabeticRetinopathy], [2, 3, true]);
  const r7 = records.find((r) => r.imageId === 'img00007');
  assert.equal(r7?.patientId, '5'); // '5.0' normalized
  assert.equal(r7?.labels.flags['amd'], null); // 'x' is dirty, not guessed
  assert.equal(records.find((r) => r.imageId === 'img00004')?.fields['illumination'], 'problem');

  assert.deepEqual(report.dirty, {
    DR_ICDR: { '7': 1 },
    diabetes_time_y: { 'Não': 2 },
    optic_disc: { bv: 1 },
    focus: { '0': 1 },
    amd: { x: 1 },
  });
});

test('v1.0.0 (labels.csv, iluminaton/insuline/drusens, LF, images/) and v1.0.2 names read the same', async () => {
  const v100 = HEADER_V101.map((h) => (h === 'Illuminaton' ? 'iluminaton' : h));
  const v102 = HEADER_V101.map((h) => ({ Illuminaton: 'illumination', insuline: 'insulin', drusens: 'drusen' })[h] ?? h);
  const a = await makeBrset({ header: v100, labels: 'labels.csv', images: 'images', eol: '\n', bom: false });
  const b = await makeBrset({ header: v102, labels: 'labels.csv', images: 'images', eol: '\r\n', bom: true });
  const ra = readBrset(a);
  const rb = readBrset(b);
  assert.equal(ra.records[0]?.imagePath, join(a, 'images', 'img00001.jpg'));
  const strip = (rs: typeof ra.records): unknown => rs.map((r) => ({ ...r, imagePath: '' }));
  assert.deepEqual(strip(ra.records), strip(rb.records));
  assert.equal(ra.records[0]?.fields['insulin'], true);
  assert.equal(ra.records.find((r) => r.imageId === 'img00004')?.fields['illumination'], 'problem');
  assert.equal(ra.records[0]?.labels.flags['drusen'], true);
});

test('missing image_id column names the header; folder without labels lists what was looked for', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'retalign-brset-bad-'));
  await assert.rejects(readDataset(dir), /Looked for BRSET labels \(labels_brset\.csv, labels\.csv\)/);
  assert.throws(() => readBrset(dir), /no BRSET labels file \(looked for labels_brset\.csv, labels\.csv\)/);
  writeFileSync(join(dir, 'labels.csv'), 'img,patient_id,DR_ICDR\nimg1,1,0\n');
  assert.throws(() => readBrset(dir), /no image_id column; header seen: img, patient_id, DR_ICDR/);
  await assert.rejects(readDataset(dir), /no image_id column .*header seen: img, patient_id, DR_ICDR/);
});

test('ragged and duplicate rows are skipped with their row numbers', () => {
  const dir = mkdtempSync(join(tmpdir(), 'retalign-brset-rag-'));
  writeFileSync(join(dir, 'labels_brset.csv'), 'image_id,patient_id,DR_ICDR,DR_SDRG\na,1,0,0\nb,2,1\na,3,0,0\nc,,,1\n');
  const { records, report } = readBrset(dir);
  assert.deepEqual(records.map((r) => r.imageId), ['a']);
  assert.deepEqual(report.skipped.map((s) => [s.row, s.reason]), [
    [3, 'has 3 cells, header has 4'],
    [4, 'duplicate image_id a (first at row 2)'],
    [5, 'missing DR_ICDR "" (expected 0..4)'],
  ]);
});

test('image sniffing and decode checks', async () => {
  const dir = await makeBrset({ header: HEADER_V101, labels: 'labels_brset.csv', images: 'fundus_photos', eol: '\n', bom: false });
  const img = join(dir, 'fundus_photos');
  const jpg = await noiseJpeg();
  assert.equal(sniffImageType(jpg), 'jpeg');
  assert.equal(sniffImageType(new TextEncoder().encode('hello')), null);
  assert.equal(await checkImageFile(join(img, 'img00001.jpg')), null);
  assert.equal(await checkImageFile(join(img, 'img00007.jpg')), null); // PNG with alpha
  // sharp's header-only metadata passes the truncated file: only a real decode catches it.
  const meta = await sharp(join(img, 'img00004.jpg')).metadata();
  assert.equal(meta.width, 96);
  assert.equal(await checkImageFile(join(img, 'img00004.jpg'), 'sniff'), null);
  assert.equal((await checkImageFile(join(img, 'img00004.jpg'), 'decode'))?.problem, 'corrupt');
  assert.equal((await checkImageFile(join(img, 'img00005.jpg')))?.problem, 'not-an-image');
  assert.equal((await checkImageFile(join(img, 'img00006.jpg')))?.problem, 'missing');
  assert.equal((await checkImageFile(img))?.problem, 'unreadable'); // a folder
});

test('readDataset with decode checks: bad images skipped with row and reason, report complete', async () => {
  const dir = await makeBrset({ header: HEADER_V101, labels: 'labels_brset.csv', images: 'fundus_photos', eol: '\r\n', bom: true });
  const progress: number[] = [];
  const { format, records, report } = await readDataset(dir, { checkImages: 'decode', concurrency: 2, onProgress: (d) => progress.push(d) });
  assert.equal(format, 'brset');
  assert.deepEqual(records.map((r) => r.imageId), ['img00001', 'img00002', 'img00007']);
  assert.equal(progress.length, 6);
  const bad = report.skipped.filter((s) => s.image !== undefined).map((s) => [s.row, s.imageId, s.image]);
  assert.deepEqual(bad, [[5, 'img00004', 'corrupt'], [6, 'img00005', 'not-an-image'], [7, 'img00006', 'missing']]);
  assert.deepEqual(report.images, { mode: 'decode', checked: 6, usable: 3, found: 5, missing: 1, unreadable: 0, notImage: 1, corrupt: 1, tooLarge: 0 });
  assert.equal(report.rowsKept, 3);
  // Missingness over the 3 kept records: age missing in img00007 only; diabetes_time_y in 2 and 7.
  assert.equal(report.missing['patient_age'], 1);
  assert.equal(report.missing['diabetes_time_y'], 2);
  assert.equal(report.missing['label:icdr'], 0);
  assert.equal(report.missing['label:amd'], 1);
  // A caller-given image folder wins.
  const other = mkdtempSync(join(tmpdir(), 'retalign-brset-img-'));
  const r2 = await readDataset(dir, { imagesDir: other, checkImages: 'sniff' });
  assert.equal(r2.records.length, 0);
  assert.equal(r2.report.images?.missing, 6);
});
