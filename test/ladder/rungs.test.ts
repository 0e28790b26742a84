// The protocol ladder's rungs on the resolved run config: each rung changes exactly the one setting it
// names; rung 1 is the honest protocol; the fused gallery is never a default; rungs 5-7 share rung 4's
// training; the rung and seed lists parse.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../src/data/assets.js';
import { DEFAULT_RUN_CONFIG, loadRunConfig, resolveRunConfig } from '../../src/run/index.js';
import { RUNGS, ladderConfigs, parseRungs, settingOf, trainedAt } from '../../src/job/ladder-rungs.js';
import { parseSeeds } from '../../src/cli/commands/ladder.js';

const runsDir = join(packageRoot(), 'configs', 'runs');
const demo = (name: string): Record<string, unknown> => JSON.parse(readFileSync(join(runsDir, name), 'utf8')) as Record<string, unknown>;

/** Dotted paths of the leaves where two configs differ. */
function differences(a: unknown, b: unknown, at = ''): string[] {
  const obj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
  if (obj(a) && obj(b)) return [...new Set([...Object.keys(a), ...Object.keys(b)])].flatMap((k) => differences(a[k], b[k], at === '' ? k : `${at}.${k}`));
  return JSON.stringify(a) === JSON.stringify(b) ? [] : [at];
}

test('rung 1 is the honest protocol of the base config', () => {
  for (const name of ['demo-kemt.json', 'demo-clip.json']) {
    const cfgs = ladderConfigs(demo(name), [], name);
    assert.equal(cfgs.length, RUNGS.length);
    assert.deepEqual(cfgs[0], loadRunConfig(join(runsDir, name), ['protocol="honest"']), name);
    assert.equal(cfgs[0]!.notes.includeGrade, false);
    assert.equal(cfgs[0]!.split.mode, 'patient');
    assert.equal(cfgs[0]!.notes.templateHoldout, true);
    assert.equal(cfgs[0]!.eval.gallery, 'image');
  }
});

// One test per rung: rung k differs from rung k-1 in exactly the setting it names, set to its value.
for (const rung of RUNGS.slice(1)) {
  test(`rung ${rung.n} (${rung.name}) changes exactly ${rung.setting}`, () => {
    for (const name of ['demo-kemt.json', 'demo-clip.json', 'smoke.json']) {
      const cfgs = ladderConfigs(demo(name), [], name);
      const before = cfgs[rung.n - 2]!;
      const after = cfgs[rung.n - 1]!;
      assert.deepEqual(differences(before, after), [rung.setting], `${name}: rung ${rung.n - 1} -> ${rung.n}`);
      assert.deepEqual(settingOf(after, rung.setting!), rung.value(cfgs[0]!), `${name}: the value rung ${rung.n} sets`);
    }
  });
}

test('the named values: the grade, the image split, the record, the fused gallery, one batch, the training split', () => {
  const cfgs = ladderConfigs(demo('demo-kemt.json'), [], 'demo-kemt.json');
  const last = cfgs[RUNGS.length - 1]!;
  assert.equal(last.notes.includeGrade, true);
  assert.equal(last.split.mode, 'image');
  assert.equal(last.notes.includeRecord, true);
  assert.equal(last.eval.gallery, 'fused');
  assert.equal(last.eval.gallerySize, last.train.batchSize);
  assert.equal(last.eval.split, 'train');
  assert.equal(last.protocol, 'honest', 'the protocol field itself never changes: each rung is one explicit setting');
});

test('a base config that already carries a rung\'s leakage is refused, naming the setting', () => {
  assert.throws(() => ladderConfigs(demo('demo-kemt.json'), ['notes.includeGrade=true'], 'demo-kemt.json'),
    /demo-kemt\.json: the base config already has notes\.includeGrade = true, which is rung 2's leakage/);
  assert.throws(() => ladderConfigs({ ...demo('smoke.json'), split: { train: 0.6, val: 0.2, test: 0.2, seed: 1, mode: 'image' } }, [], 'x.json'),
    /split\.mode = "image", which is rung 3's leakage/);
});

test('the fused gallery, batch galleries and the training split are never a default', () => {
  assert.equal(DEFAULT_RUN_CONFIG.eval.gallery, 'image');
  assert.equal(DEFAULT_RUN_CONFIG.eval.gallerySize, null);
  assert.equal(DEFAULT_RUN_CONFIG.eval.split, 'test');
  assert.equal(DEFAULT_RUN_CONFIG.notes.includeRecord, false);
  for (const name of readdirSync(runsDir).filter((n) => n.endsWith('.json'))) {
    for (const p of ['paper', 'honest']) {
      const c = loadRunConfig(join(runsDir, name), [`protocol="${p}"`]);
      assert.equal(c.eval.gallery, 'image', `${name} under ${p}`);
      assert.equal(c.eval.split, 'test', `${name} under ${p}`);
      assert.equal(c.notes.includeRecord, false, `${name} under ${p}`);
    }
  }
});

test('split.mode follows the protocol unless set: paper -> image, honest -> patient', () => {
  const q = (): void => {};
  assert.equal(resolveRunConfig({ protocol: 'paper' }, [], 'x', q).split.mode, 'image');
  assert.equal(resolveRunConfig({ protocol: 'honest' }, [], 'x', q).split.mode, 'patient');
  assert.equal(resolveRunConfig({ protocol: 'honest' }, ['split.mode="image"'], 'x', q).split.mode, 'image');
  assert.throws(() => resolveRunConfig({ split: { mode: 'eye' } }, [], 'x.json', q), /x\.json: 'split\.mode' must be 'patient' or 'image', got "eye"/);
});

test('rungs that change only the evaluation share the training of the rung before them', () => {
  const cfgs = ladderConfigs(demo('demo-kemt.json'), [], 'demo-kemt.json');
  assert.deepEqual(trainedAt(cfgs), [0, 1, 2, 3, 3, 3, 3]);
});

test('rung and seed lists', () => {
  assert.deepEqual(parseRungs('1-7'), [1, 2, 3, 4, 5, 6, 7]);
  assert.deepEqual(parseRungs('7,1-2'), [1, 2, 7]);
  assert.throws(() => parseRungs('0-3'), /--rungs: '0-3' is outside 1-7/);
  assert.throws(() => parseRungs('a'), /--rungs: 'a' is not a rung number/);
  assert.deepEqual(parseSeeds('1, 2,2'), [1, 2]);
  assert.throws(() => parseSeeds('1,x'), /--seeds: 'x' is not a non-negative integer/);
});
