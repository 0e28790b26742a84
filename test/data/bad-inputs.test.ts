// Careless and hostile inputs to the data layer (issue 11, items 10-14), each with the message the
// user sees: semicolon/tab-separated and Latin-1 labels files, an image over the pixel limit, files
// outside the dataset folder (never echoing a file's bytes), GIF refused by one rule.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { readCsv, detectDelimiter } from '../../src/data/readers/csv.js';
import { checkDataset, formatCheck } from '../../src/data/check.js';
import { readDataset } from '../../src/data/readers/index.js';
import { imageTypeProblem, sniffImageType } from '../../src/data/images/formats.js';
import { cropFundus } from '../../src/data/images/preprocess.js';
import { resolveImageConfig } from '../../src/data/images/config.js';

const tmp = (): string => mkdtempSync(join(tmpdir(), 'retalign-bad-'));
const jpeg = (w = 48, h = 40): Promise<Buffer> =>
  sharp({ create: { width: w, height: h, channels: 3, background: { r: 120, g: 40, b: 20 } } }).jpeg().toBuffer();
// The 6-byte header and logical screen of a GIF89a, then a trailer: enough for every sniff.
const GIF = Buffer.from('474946383961010001008000000000ffffff21f90401000000002c00000000010001000002024401003b', 'hex');

test('a semicolon- or tab-separated labels file is read with its delimiter, and the report says so', () => {
  const dir = tmp();
  try {
    const semi = join(dir, 'semi.csv');
    writeFileSync(semi, 'image_id;patient_id;DR_ICDR\nimg1;1;0\nimg2;"2;b";3\n');
    const t = readCsv(semi);
    assert.equal(t.delimiter, ';');
    assert.deepEqual(t.header, ['image_id', 'patient_id', 'DR_ICDR']);
    assert.deepEqual(t.rows.map((r) => r.cells), [['img1', '1', '0'], ['img2', '2;b', '3']]);
    assert.deepEqual(t.notes, [`${semi}: the header has no comma but semicolons: read as semicolon-separated`]);
    const tab = join(dir, 'tab.csv');
    writeFileSync(tab, 'image_id\tpatient_id\nimg1\t1\n');
    assert.equal(readCsv(tab).delimiter, '\t');
    assert.match(readCsv(tab).notes[0] ?? '', /no comma but tabs: read as tab-separated/);
    assert.equal(detectDelimiter('"a;b",c\n'), ',', 'a quoted semicolon does not count');
    assert.deepEqual(readCsv(join(dir, 'semi.csv')).ragged, []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('non-UTF-8 bytes in a labels file: read as Latin-1, naming the row and the column of the first one', async () => {
  const dir = tmp();
  try {
    mkdirSync(join(dir, 'fundus_photos'));
    const img = await jpeg();
    for (const id of ['img1', 'img2']) writeFileSync(join(dir, 'fundus_photos', `${id}.jpg`), img);
    // "São Paulo" written by a Latin-1 export: 0xe3 is 'ã'.
    const text = Buffer.concat([
      Buffer.from('image_id,patient_id,nationality,DR_ICDR,DR_SDRG\nimg1,1,Brazil,0,0\nimg2,2,S', 'latin1'),
      Buffer.from([0xe3]), Buffer.from('o Paulo,1,1\n', 'latin1'),
    ]);
    writeFileSync(join(dir, 'labels.csv'), text);
    const r = await checkDataset(dir, { checkImages: 'sniff' });
    assert.ok(r.usable);
    const note = r.notes.find((n) => n.includes('not UTF-8'));
    assert.equal(note, `${join(dir, 'labels.csv')} is not UTF-8: byte 0xe3 at row 3, column 3 (nationality); read as Latin-1 (ISO-8859-1): ` +
      'check accented values, or save the file as UTF-8');
    const read = await readDataset(dir);
    assert.equal(read.records.find((x) => x.imageId === 'img2')?.fields['nationality'], 'São Paulo', 'decoded, not replaced by U+FFFD');
    assert.match(formatCheck(r), /Notes:\n(.*\n)*  - .*is not UTF-8: byte 0xe3 at row 3, column 3 \(nationality\)/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('data check on an image over the pixel limit gives its dimensions and the limit, as training does', async () => {
  const dir = tmp();
  try {
    mkdirSync(join(dir, 'fundus_photos'));
    writeFileSync(join(dir, 'labels.csv'), 'image_id,patient_id,DR_ICDR,DR_SDRG\nimg1,1,0,0\nimg2,2,1,1\n');
    const ok = await jpeg();
    writeFileSync(join(dir, 'fundus_photos', 'img1.jpg'), ok);
    // The same JPEG with its frame header claiming 10000 x 9000 (90 MP): the check must read the header, not decode it.
    const big = Buffer.from(ok);
    const sof = big.indexOf(Buffer.from([0xff, 0xc0]));
    assert.ok(sof > 0);
    big.writeUInt16BE(9000, sof + 5);
    big.writeUInt16BE(10000, sof + 7);
    writeFileSync(join(dir, 'fundus_photos', 'img2.jpg'), big);
    const r = await checkDataset(dir);
    assert.equal(r.images?.tooLarge, 1);
    const s = r.skipped.find((x) => x.imageId === 'img2');
    assert.equal(s?.image, 'too-large');
    assert.match(s?.reason ?? '', /img2\.jpg: 10000x9000 = 90000000 pixels exceeds the limit of 50000000 pixels \(50 MP; decompression-bomb guard/);
    assert.match(formatCheck(r), /too large\s+1/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('images outside the dataset folder (absolute, ../, symlinks) are refused unless allowed; no file bytes are ever echoed', async () => {
  const base = tmp();
  try {
    const dir = join(base, 'ds');
    mkdirSync(join(dir, 'img'), { recursive: true });
    const ok = await jpeg();
    writeFileSync(join(dir, 'img', 'a.jpg'), ok);
    writeFileSync(join(base, 'outside.jpg'), ok);
    const secret = join(base, 'secret.txt');
    writeFileSync(secret, 'root:x:0:0:root:/root:/bin/bash\n');
    symlinkSync(join(base, 'outside.jpg'), join(dir, 'img', 'link.jpg'));
    symlinkSync(join(dir, 'img', 'a.jpg'), join(dir, 'img', 'inner-link.jpg'));
    writeFileSync(join(dir, 'manifest.csv'), ['image,image_id,icdr', 'img/a.jpg,a,0', `${secret},abs,1`, '../outside.jpg,up,2',
      'img/link.jpg,link,3', 'img/inner-link.jpg,inner,4'].join('\n') + '\n');
    const r = await checkDataset(dir, { checkImages: 'decode' });
    assert.deepEqual(r.skipped.map((s) => s.imageId), ['abs', 'up', 'link']);
    for (const s of r.skipped) assert.match(s.reason, /lies outside the dataset folder .*ds.*: refused \(--allow-outside reads it\)/);
    assert.match(r.skipped[2]?.reason ?? '', /through a symlink, to .*outside\.jpg/);
    assert.equal(r.rowsKept, 2, 'a link inside the folder to a file inside it is fine');
    assert.ok(r.notes.some((n) => /3 images outside the dataset folder .* were refused; --allow-outside reads them/.test(n)));

    const allowed = await checkDataset(dir, { checkImages: 'decode', allowOutside: true });
    assert.equal(allowed.rowsKept, 4);
    const text = allowed.skipped.find((s) => s.imageId === 'abs');
    assert.equal(text?.reason, `image not-an-image: ${secret}: text, not a JPEG, PNG, WebP or TIFF image`);
    const all = formatCheck(r) + formatCheck(allowed) + JSON.stringify(allowed);
    assert.ok(!all.includes('726f6f74') && !all.includes('root:x'), 'the file\'s first bytes are not echoed, as text or hex');
    assert.ok(readFileSync(secret, 'utf8').startsWith('root:x'));
  } finally {
    rmSync(base, { recursive: true, force: true });
  }
});

test('GIF: one rule: data check refuses it and the image pipeline (training, grade, server) refuses it, in the same words', async () => {
  const dir = tmp();
  try {
    assert.equal(sniffImageType(GIF), 'gif');
    const words = imageTypeProblem(GIF);
    assert.equal(words, 'a GIF image: GIF is not accepted (at most 256 colours; save the photo as JPEG, PNG, WebP or TIFF)');
    mkdirSync(join(dir, 'fundus_photos'));
    writeFileSync(join(dir, 'labels.csv'), 'image_id,patient_id,DR_ICDR,DR_SDRG\nimg1,1,0,0\nimg2,2,1,1\n');
    writeFileSync(join(dir, 'fundus_photos', 'img1.jpg'), await jpeg());
    writeFileSync(join(dir, 'fundus_photos', 'img2.jpg'), GIF);
    const r = await checkDataset(dir, { checkImages: 'sniff' });
    assert.equal(r.skipped[0]?.reason, `image not-an-image: ${join(dir, 'fundus_photos', 'img2.jpg')}: ${words}`);
    await assert.rejects(cropFundus(join(dir, 'fundus_photos', 'img2.jpg'), resolveImageConfig({ size: 32 })),
      (e: Error) => e.message === `${join(dir, 'fundus_photos', 'img2.jpg')}: ${words}`);
    await assert.rejects(cropFundus(GIF, resolveImageConfig({ size: 32 }), 'upload'), (e: Error) => e.message === `upload: ${words}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
