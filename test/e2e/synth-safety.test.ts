// `retalign synth --out DIR` never writes over a file it did not create: a non-empty folder is
// refused (with or without --force) unless it holds an earlier synth output, and --force replaces
// only that output (issue 11, item 1). Through bin/retalign.js, as a user would run it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli, snapshot } from './cli-child.js';

const small = ['--patients', '3', '--size', '32', '--seed', '2'];

test('synth refuses a folder holding a user\'s dataset, with or without --force, and leaves it byte-identical', () => {
  const root = mkdtempSync(join(tmpdir(), 'retalign-synth-safety-'));
  try {
    const ds = join(root, 'brset');
    mkdirSync(join(ds, 'fundus_photos'), { recursive: true });
    writeFileSync(join(ds, 'labels.csv'), 'image_id,patient_id,DR_ICDR\nimg00001,1,0\n');
    writeFileSync(join(ds, 'fundus_photos', 'img00001.jpg'), Buffer.from([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3]));
    const before = snapshot(ds);
    for (const extra of [[], ['--force']]) {
      const r = cli(['synth', '--out', ds, ...small, ...extra], root);
      assert.equal(r.code, 1, r.all);
      assert.match(r.stderr, /brset is not empty \(it holds fundus_photos, labels\.csv\) and was not written by retalign synth/);
      if (extra.length > 0) assert.match(r.stderr, /even with --force \(--force only replaces an earlier synth output\)/);
      assert.deepEqual(snapshot(ds), before, 'the dataset is untouched');
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('synth into its own earlier output: refused without --force; --force replaces it, never a file it did not write', () => {
  const root = mkdtempSync(join(tmpdir(), 'retalign-synth-safety-'));
  try {
    const out = join(root, 'twin');
    assert.equal(cli(['synth', '--out', out, ...small, '--patients', '4'], root).code, 0);
    const first = snapshot(out);
    assert.ok('.retalign-synth.json' in first, 'synth marks its folder');

    const again = cli(['synth', '--out', out, ...small], root);
    assert.equal(again.code, 1, again.all);
    assert.match(again.stderr, /already holds a synthetic dataset .*\.retalign-synth\.json\): pass --force to replace it/);
    assert.deepEqual(snapshot(out), first);

    // A file someone added where the new output would write: refused by name, nothing written.
    const theirs = join(out, 'fundus_photos', 'img00099.jpg');
    writeFileSync(theirs, 'not synth');
    writeFileSync(join(out, 'notes.txt'), 'mine');
    const withTheirs = snapshot(out);
    const forced = cli(['synth', '--out', out, '--patients', '60', '--size', '32', '--seed', '2', '--force'], root);
    assert.equal(forced.code, 1, forced.all);
    assert.match(forced.stderr, /synth --force: .*img00099\.jpg exists but was not written by retalign synth .*refusing to overwrite it/);
    assert.deepEqual(snapshot(out), withTheirs, 'nothing written before the refusal');

    // --force into a folder holding only synth's files plus an unrelated one: replaced; the unrelated file is kept.
    rmSync(theirs);
    const ok = cli(['synth', '--out', out, ...small, '--force'], root);
    assert.equal(ok.code, 0, ok.all);
    assert.equal(readFileSync(join(out, 'notes.txt'), 'utf8'), 'mine');
    const marker = JSON.parse(readFileSync(join(out, '.retalign-synth.json'), 'utf8')) as { files: string[] };
    const images = readdirSync(join(out, 'fundus_photos')).map((f) => `fundus_photos/${f}`).sort();
    assert.deepEqual(images, marker.files.filter((f) => f.startsWith('fundus_photos/')), 'only the new output\'s images remain');
    assert.ok(!marker.files.includes('notes.txt'));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('synth --out under a file, or naming a file, says so in words (no raw ENOTDIR/EEXIST)', () => {
  const root = mkdtempSync(join(tmpdir(), 'retalign-synth-safety-'));
  try {
    writeFileSync(join(root, 'afile'), 'x');
    const under = cli(['synth', '--out', join(root, 'afile', 'twin'), ...small], root);
    assert.equal(under.code, 1);
    assert.match(under.stderr, /synth: --out .*afile\/twin: .*afile is a file, so no folder can be made under it/);
    const onto = cli(['synth', '--out', join(root, 'afile'), ...small], root);
    assert.equal(onto.code, 1);
    assert.match(onto.stderr, /synth: --out .*afile is a file, not a folder/);
    assert.doesNotMatch(under.all + onto.all, /ENOTDIR|EEXIST/);
    assert.equal(readFileSync(join(root, 'afile'), 'utf8'), 'x');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('synth --contact-sheet never overwrites an existing file that is not a PNG', () => {
  const root = mkdtempSync(join(tmpdir(), 'retalign-synth-safety-'));
  try {
    const sheet = join(root, 'labels.csv');
    writeFileSync(sheet, 'precious');
    const r = cli(['synth', '--out', join(root, 'twin'), ...small, '--contact-sheet', sheet], root);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /--contact-sheet .*labels\.csv exists: pass --force to replace it/);
    const f = cli(['synth', '--out', join(root, 'twin'), ...small, '--contact-sheet', sheet, '--force'], root);
    assert.equal(f.code, 1);
    assert.match(f.stderr, /exists and is not a PNG image: refusing to overwrite it/);
    assert.equal(readFileSync(sheet, 'utf8'), 'precious');
    assert.ok(!existsSync(join(root, 'twin')), 'nothing written before the refusal');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
