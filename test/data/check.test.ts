// `data check` and `data split`: counts, readable output, exit behaviour through commander.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import sharp from 'sharp';
import { checkDataset, formatCheck } from '../../src/data/check.js';
import { register } from '../../src/cli/commands/data.js';

const HEADER = 'image_id,patient_id,camera,patient_age,diabetes_time_y,insuline,patient_sex,exam_eye,diabetes,DR_SDRG,DR_ICDR,iluminaton,quality';

/** A made-up v1.0.0-style BRSET folder: 5 rows, one invalid grade, one truncated JPEG, one missing image. */
async function makeFolder(): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'retalign-check-'));
  writeFileSync(join(dir, 'labels.csv'), '\uFEFF' + [
    HEADER,
    'img1,1,Canon CR,48.0,10,yes,1,1,yes,0,0,1,Adequate',
    'img2,1,Canon CR,48.0,Não,no,1,2,yes,3,2,1,Adequate',
    'img3,2,NIKON NF5050,,,,2,1,No,4,4,2,Inadequate',
    'img4,3,Canon CR,70.0,,,2,1,No,0,0,1,Adequate',
    'img5,4,Canon CR,60.0,,,2,1,No,x,0,1,Adequate',
    'img6,5,Canon CR,61.0,,,2,2,No,1,1,1,Adequate',
  ].join('\r\n') + '\r\n');
  mkdirSync(join(dir, 'images'));
  const W = 64, H = 48;
  const raw = Buffer.alloc(W * H * 3);
  let s = 7;
  for (let i = 0; i < raw.length; i++) { s = (Math.imul(s, 1103515245) + 12345) >>> 0; raw[i] = (s >>> 16) & 255; }
  const jpg = await sharp(raw, { raw: { width: W, height: H, channels: 3 } }).jpeg({ quality: 90 }).toBuffer();
  for (const id of ['img1', 'img2', 'img3', 'img5']) writeFileSync(join(dir, 'images', `${id}.jpg`), jpg);
  writeFileSync(join(dir, 'images', 'img6.jpg'), jpg.subarray(0, Math.floor(jpg.length * 0.7)));
  // img4.jpg is missing
  return dir;
}

async function runCli(args: string[]): Promise<{ out: string; code: number | string | undefined }> {
  const program = new Command().exitOverride();
  register(program);
  const lines: string[] = [];
  const orig = console.log;
  console.log = (...a: unknown[]) => { lines.push(a.map(String).join(' ')); };
  const before = process.exitCode;
  process.exitCode = undefined;
  try {
    await program.parseAsync(['data', ...args], { from: 'user' });
    return { out: lines.join('\n'), code: process.exitCode };
  } finally {
    console.log = orig;
    process.exitCode = before;
  }
}

test('checkDataset counts on a dirty made-up BRSET folder', async () => {
  const dir = await makeFolder();
  const r = await checkDataset(dir);
  assert.equal(r.usable, true);
  assert.equal(r.format, 'brset');
  assert.equal(r.rowsRead, 6);
  assert.equal(r.rowsKept, 3);
  assert.equal(r.patients, 2);
  assert.deepEqual(r.icdr, { counts: [1, 0, 1, 0, 1], missing: 0 });
  assert.deepEqual(r.sdrg, { counts: [1, 0, 0, 1, 1], missing: 0 });
  assert.equal(r.referable, 2);
  assert.deepEqual(r.images, { mode: 'decode', checked: 5, usable: 3, found: 4, missing: 1, unreadable: 0, notImage: 0, corrupt: 1, tooLarge: 0 });
  assert.deepEqual(r.dirty, { DR_SDRG: { x: 1 }, diabetes_time_y: { 'Não': 1 } });
  assert.equal(r.missing['patient_age'], 1);
  assert.equal(r.missing['diabetes_time_y'], 2);
  assert.deepEqual(r.skipped.map((s) => [s.row, s.imageId]), [[5, 'img4'], [6, 'img5'], [7, 'img6']]);
  const text = formatCheck(r);
  assert.match(text, /Dataset: .* \(brset\)/);
  assert.match(text, /rows usable\s+3/);
  assert.match(text, /ICDR\s+1\s+0\s+1\s+0\s+1\s+0/);
  assert.match(text, /SDRG\s+1\s+0\s+0\s+1\s+1\s+0/);
  assert.match(text, /referable \(ICDR >= 2\): 2 of 3 graded \(66\.7%\)/);
  assert.match(text, /diabetes_time_y: "Não" x1/);
  assert.match(text, /row 6\s+img5\s+invalid DR_SDRG "x" \(expected 0\.\.4\)/);
  assert.match(text, /row 7\s+img6\s+image corrupt: .*(premature end|truncated or corrupt)/);
  assert.match(text, /patient_age\s+1\s+33\.3%/);
  assert.match(text, /OK: usable \(3 rows, 2 patients\)/);
});

test('CLI data check: exit 0 when usable, 1 with a precise message when not', async () => {
  const dir = await makeFolder();
  const ok = await runCli(['check', dir]);
  assert.equal(ok.code, undefined);
  assert.match(ok.out, /OK: usable/);

  const json = await runCli(['check', dir, '--json', '--image-check', 'none']);
  assert.equal(JSON.parse(json.out).rowsKept, 5);

  const empty = mkdtempSync(join(tmpdir(), 'retalign-check-empty-'));
  writeFileSync(join(empty, 'notes.txt'), 'x');
  const none = await runCli(['check', empty]);
  assert.equal(none.code, 1);
  assert.match(none.out, /NOT USABLE:\n.*Looked for BRSET labels \(labels_brset\.csv, labels\.csv\).*Folder holds: notes\.txt/);

  const noId = mkdtempSync(join(tmpdir(), 'retalign-check-noid-'));
  writeFileSync(join(noId, 'labels_brset.csv'), 'id,patient_id,DR_ICDR\na,1,0\n');
  const r2 = await runCli(['check', noId]);
  assert.equal(r2.code, 1);
  assert.match(r2.out, /no image_id column .*header seen: id, patient_id, DR_ICDR/);

  const noImages = mkdtempSync(join(tmpdir(), 'retalign-check-noimg-'));
  writeFileSync(join(noImages, 'labels_brset.csv'), 'image_id,patient_id,DR_ICDR,DR_SDRG\na,1,0,0\nb,2,9,0\n');
  const r3 = await runCli(['check', noImages]);
  assert.equal(r3.code, 1);
  assert.match(r3.out, /0 usable rows: 2 read from .*labels_brset\.csv, skipped: 1 x image missing; 1 x invalid DR_ICDR "\.\.\." \(expected 0\.\.4\)/);

  await assert.rejects(runCli(['check', dir, '--image-check', 'full']), /--image-check full: expected one of none, sniff, decode/);
});

test('CLI data split writes a patient-level split, then verifies and reuses it', async () => {
  const dir = await makeFolder();
  const out = join(dir, 'split.json');
  const r = await runCli(['split', dir, '--out', out, '--train', '0.5', '--val', '0.25', '--test', '0.25', '--seed', '3', '--image-check', 'decode']);
  assert.match(r.out, /^wrote .*split\.json \(mode patient, seed 3\)/);
  const split = JSON.parse(readFileSync(out, 'utf8'));
  assert.deepEqual(Object.keys(split.assignment).sort(), ['img1', 'img2', 'img3']);
  assert.equal(split.assignment.img1, split.assignment.img2); // same patient
  const again = await runCli(['split', dir, '--out', out, '--train', '0.5', '--val', '0.25', '--test', '0.25', '--seed', '3', '--image-check', 'decode']);
  assert.match(again.out, /^verified existing/);
  // With no image check, img4..img6 rows are usable too: the saved split no longer matches.
  await assert.rejects(
    runCli(['split', dir, '--out', out, '--train', '0.5', '--val', '0.25', '--test', '0.25', '--seed', '3', '--image-check', 'none']),
    /2 records have no split: img4, img6/,
  );
});
