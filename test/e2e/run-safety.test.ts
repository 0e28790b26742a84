// A run's folder is its own (issue 11, items 2-4), through bin/retalign.js as a user would run it:
// - `train` on a finished run is refused before anything is written (byte-identical folder);
// - a live training's lock (train.lock: PID, host, start) refuses a second one, naming the lock and
//   the PID; a stale lock (dead PID) is taken over with a message;
// - nothing is written into the parent of --out (no split-honest.json beside the run), so two runs
//   on different datasets in one parent both work; a shared split is used only when named, and a
//   mismatch names the file;
// - eval refuses a run whose split.json is missing, naming it, instead of making a new split.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../../src/data/assets.js';
import { cli, snapshot } from './cli-child.js';

const smoke = join(packageRoot(), 'configs', 'runs', 'smoke.json');
let root: string;
let twin1: string;
let twin2: string;

const train = (data: string, out: string, ...extra: string[]): string[] =>
  ['train', '--config', smoke, '--set', `data.source="${data}"`, '--set', 'train.steps=2', '--set', 'train.evalEvery=2', '--no-progress', '--out', out, ...extra];

before(() => {
  root = mkdtempSync(join(tmpdir(), 'retalign-run-safety-'));
  twin1 = join(root, 'twin1');
  twin2 = join(root, 'twin2');
  assert.equal(cli(['synth', '--out', twin1, '--patients', '14', '--size', '40', '--seed', '3'], root).code, 0);
  assert.equal(cli(['synth', '--out', twin2, '--patients', '14', '--size', '40', '--seed', '4'], root).code, 0);
});
after(() => rmSync(root, { recursive: true, force: true }));

test('two runs on different datasets in one parent: nothing written beside them; train on a finished run changes nothing', () => {
  const runs = join(root, 'runs');
  const a = cli(train(twin1, join(runs, 'a')), root);
  assert.equal(a.code, 0, a.all);
  const b = cli(train(twin2, join(runs, 'b')), root);
  assert.equal(b.code, 0, b.all);
  assert.deepEqual(readdirSync(runs).sort(), ['a', 'b'], 'no split-honest.json (or anything else) in the parent of --out');
  assert.ok(existsSync(join(runs, 'a', 'split.json')));
  assert.ok(!existsSync(join(runs, 'a', 'train.lock')), 'the lock is released at the end');

  const before = snapshot(join(runs, 'a'));
  const again = cli(train(twin1, join(runs, 'a'), '--set', 'train.steps=3'), root);
  assert.equal(again.code, 1, again.all);
  assert.match(again.stderr, /runs\/a already holds a run .*resume it with --resume or choose another output folder \(nothing was written\)/);
  assert.deepEqual(snapshot(join(runs, 'a')), before, 'run-config.json, split.json and the rest are byte-identical');

  // A resume that would change the data is refused before anything is written, too.
  const other = cli(train(twin2, join(runs, 'a'), '--resume'), root);
  assert.equal(other.code, 1, other.all);
  assert.match(other.stderr, /train --resume: the run config differs .* in data\.source \(run ".*twin1", now ".*twin2"\)/);
  assert.deepEqual(snapshot(join(runs, 'a')), before);
});

test('a shared split is used only when named; a split made for other data is refused, naming the file', () => {
  const shared = join(root, 'shared-split.json');
  const one = cli(train(twin1, join(root, 'shared-a'), '--set', `data.splitFile="${shared}"`), root);
  assert.equal(one.code, 0, one.all);
  assert.ok(existsSync(shared), 'the named split file is made on first use');
  assert.equal(readFileSync(join(root, 'shared-a', 'split.json'), 'utf8'), readFileSync(shared, 'utf8'), 'the run keeps a copy');
  const two = cli(train(twin2, join(root, 'shared-b'), '--set', `data.splitFile="${shared}"`), root);
  assert.equal(two.code, 1, two.all);
  assert.match(two.stderr, /split file .*shared-split\.json: split does not match the records: \d+ image ids in the split are not in the records/);
  assert.ok(!existsSync(join(root, 'shared-b')), 'a fresh run folder that failed to start is not left behind');
});

test('a live training\'s lock refuses a second one (naming lock and PID); a stale lock is taken over with a message', () => {
  const run = join(root, 'locked');
  mkdirSync(run);
  const lock = join(run, 'train.lock');
  writeFileSync(lock, JSON.stringify({ pid: process.pid, host: hostname(), started: '2026-01-01T00:00:00.000Z' }) + '\n');
  const busy = cli(train(twin1, run), root);
  assert.equal(busy.code, 1, busy.all);
  assert.match(busy.stderr, new RegExp(`in use by another training \\(PID ${process.pid} on host .*; lock file .*locked/train\\.lock\\)`));
  assert.deepEqual(readdirSync(run), ['train.lock'], 'nothing else written');

  const dead = spawnSync(process.execPath, ['-e', '']).pid as number; // a PID that no longer runs
  writeFileSync(lock, JSON.stringify({ pid: dead, host: hostname(), started: '2026-01-01T00:00:00.000Z' }) + '\n');
  const stale = cli(train(twin1, run), root);
  assert.equal(stale.code, 0, stale.all);
  assert.match(stale.stdout, new RegExp(`taking over the stale lock .*train\\.lock \\(PID ${dead} on host .*that process no longer runs\\)`));
  assert.ok(!existsSync(lock), 'released at the end');
  assert.ok(existsSync(join(run, 'last', 'state.json')));
});

test('eval with the run\'s split.json missing refuses, naming the file (no silent new split)', () => {
  const run = join(root, 'runs', 'a');
  rmSync(join(run, 'split.json'));
  const r = cli(['eval', '--checkpoint', run, '--bootstrap', '5'], root);
  assert.equal(r.code, 1, r.all);
  assert.match(r.stderr, /the run's split file .*runs\/a\/split\.json is missing: refusing to make a new split/);
  assert.ok(!existsSync(join(run, 'split.json')), 'no new split written');
  assert.ok(!readdirSync(run).some((f) => f.startsWith('eval')), 'no eval output');
});
