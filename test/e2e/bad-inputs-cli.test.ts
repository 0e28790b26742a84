// Careless input to the command line said in words (issue 11, item 13), through bin/retalign.js:
// a dataset path that is a file, --out under a file, a read-only output folder (no raw ENOTDIR,
// EEXIST, ENOENT or EACCES), a non-integer step count refused before any data is read, and a batch
// size larger than the training split warned about.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../../src/data/assets.js';
import { cli } from './cli-child.js';

const smoke = join(packageRoot(), 'configs', 'runs', 'smoke.json');
const RAW = /ENOTDIR|EEXIST|ENOENT|EACCES/;

test('a dataset path that is a file, and --out under a file, are said in words', () => {
  const root = mkdtempSync(join(tmpdir(), 'retalign-bad-cli-'));
  try {
    const file = join(root, 'notes.txt');
    writeFileSync(file, 'hello');
    const check = cli(['data', 'check', file], root);
    assert.equal(check.code, 1);
    assert.match(check.stdout, /notes\.txt is a file, not a dataset: expected a dataset folder \(BRSET, DeepEyeNet\) or a labels\/manifest file ending in \.csv, \.json or \.jsonl/);
    const train = cli(['train', '--config', smoke, '--set', `data.source="${root}"`, '--out', join(file, 'run'), '--no-progress'], root);
    assert.equal(train.code, 1);
    assert.match(train.stderr, /train: --out .*notes\.txt\/run: .*notes\.txt is a file, so no folder can be made under it/);
    const onto = cli(['train', '--config', smoke, '--set', `data.source="${root}"`, '--out', file, '--no-progress'], root);
    assert.match(onto.stderr, /train: --out .*notes\.txt is a file, not a folder/);
    const evalUnder = cli(['eval', '--checkpoint', root, '--out', join(file, 'e')], root);
    assert.match(evalUnder.stderr, /not a checkpoint/, 'eval names the missing checkpoint first');
    for (const r of [check, train, onto]) assert.doesNotMatch(r.all, RAW);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('a read-only output folder is said in words before anything is written', () => {
  const root = mkdtempSync(join(tmpdir(), 'retalign-bad-cli-'));
  try {
    chmodSync(root, 0o755);
    const ro = join(root, 'ro');
    mkdirSync(ro);
    chmodSync(ro, 0o555);
    // root ignores mode bits: act as an unprivileged user then (the check itself asks the kernel, access(2)).
    const as = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};
    const synth = cli(['synth', '--out', join(ro, 'twin'), '--patients', '2', '--size', '32'], root, as);
    assert.equal(synth.code, 1, synth.all);
    assert.match(synth.stderr, /synth: --out .*ro\/twin does not exist and cannot be made: .*ro is read-only for this user \(no permission to write in it\)/);
    const into = cli(['synth', '--out', ro, '--patients', '2', '--size', '32'], root, as);
    assert.match(into.stderr, /synth: --out .*ro: the folder is read-only for this user/);
    assert.doesNotMatch(synth.all + into.all, RAW);
    assert.deepEqual(readdirSync(ro), []);
  } finally {
    chmodSync(join(root, 'ro'), 0o755);
    rmSync(root, { recursive: true, force: true });
  }
});

test('train.steps=2.5 is refused before any data is read; a batch larger than the training split is warned about', () => {
  const root = mkdtempSync(join(tmpdir(), 'retalign-bad-cli-'));
  try {
    const steps = cli(['train', '--config', smoke, '--set', 'train.steps=2.5', '--out', join(root, 'run'), '--no-progress'], root);
    assert.equal(steps.code, 1);
    assert.match(steps.stderr, /--set train\.steps=2\.5: 'train\.steps' must be an integer >= 1, got 2\.5/);
    assert.doesNotMatch(steps.all, /synthesizing|read brset dataset/);
    assert.ok(!existsSync(join(root, 'run')));

    const twin = join(root, 'twin');
    assert.equal(cli(['synth', '--out', twin, '--patients', '10', '--size', '40', '--seed', '3'], root).code, 0);
    const big = cli(['train', '--config', smoke, '--set', `data.source="${twin}"`, '--set', 'train.batchSize=64', '--set', 'train.steps=1',
      '--set', 'train.evalEvery=1', '--out', join(root, 'big'), '--no-progress'], root);
    assert.equal(big.code, 0, big.all);
    assert.match(big.stdout, /warning: train\.batchSize 64 is larger than the training split \(\d+ exams\): every batch holds all \d+, one optimizer step per epoch/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
