// Run config: protocol defaults (what each protocol feeds the tabular encoder, and how a run overrides it),
// errors that name the layer, the key, the value and what was expected, renamed keys, the generated reference.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../src/data/assets.js';
import { BRSET_DEFAULT_FIELDS, GRADER_READING_FIELDS } from '../../src/data/tabular.js';
import { DEFAULT_RUN_CONFIG, HONEST_TABULAR_FIELDS, loadRunConfig, resolveRunConfig } from '../../src/run/config.js';
import { runConfigReference } from '../../src/run/config-reference.js';

test('honest protocol: the record without the grader reading of the photo; paper: the whole default list', () => {
  const honest = resolveRunConfig({ protocol: 'honest' });
  assert.deepEqual(honest.data.tabularFields, [...HONEST_TABULAR_FIELDS]);
  assert.equal(HONEST_TABULAR_FIELDS.length, BRSET_DEFAULT_FIELDS.length - GRADER_READING_FIELDS.length);
  for (const f of GRADER_READING_FIELDS) assert.ok(!HONEST_TABULAR_FIELDS.includes(f), `${f} is not an honest default`);
  for (const f of ['patient_age', 'diabetes_time_y', 'insulin', 'focus']) assert.ok(HONEST_TABULAR_FIELDS.includes(f), `${f} stays`);
  assert.equal(resolveRunConfig({ protocol: 'paper' }).data.tabularFields, null);
  assert.equal(resolveRunConfig({}, ['protocol="paper"']).data.tabularFields, null); // the protocol from a --set
  // a file or a --set overrides the protocol default, in that order
  assert.equal(resolveRunConfig({ protocol: 'honest', data: { tabularFields: null } }).data.tabularFields, null);
  assert.deepEqual(resolveRunConfig({ protocol: 'paper' }, ['data.tabularFields=["macula","hba1c:numeric"]']).data.tabularFields, ['macula', 'hba1c:numeric']);
  assert.throws(() => resolveRunConfig({}, ['data.tabularFields=["age"]']), /--set data\.tabularFields=\["age"\]|data\.tabularFields: "age" is not one of the default fields/);
  assert.throws(() => resolveRunConfig({}, ['data.tabularFields=[3]']), /'data\.tabularFields' must be null or a list of field names, got \[3\]/);
  // the resolved default is a copy: changing one run's list does not change the next run's
  (honest.data.tabularFields as string[]).pop();
  assert.deepEqual(resolveRunConfig({}).data.tabularFields, [...HONEST_TABULAR_FIELDS]);
});

test('errors name the layer that made them: the file or the --set, the key, the value and what was expected', () => {
  const quiet = (): void => {};
  assert.throws(() => resolveRunConfig({ train: { lr: -1 } }, [], 'configs/runs/x.json', quiet), /^Error: configs\/runs\/x\.json: 'train\.lr' must be a number > 0, got -1$/);
  assert.throws(() => resolveRunConfig({}, ['train.steps=0'], 'x.json', quiet), /^Error: --set train\.steps=0: 'train\.steps' must be an integer >= 1, got 0$/);
  assert.throws(() => resolveRunConfig({ trian: {} }, [], 'x.json', quiet), /x\.json: unknown key 'trian'; valid keys: name, description, protocol, model, data, split, notes, loss, train, eval$/);
  assert.throws(() => resolveRunConfig({ loss: { weights: { itc: 1 } } }, [], 'x.json', quiet), /unknown key 'loss\.weights\.itc'; valid keys of 'loss\.weights': imageText,/);
  assert.throws(() => resolveRunConfig({ train: { device: 'gpu' } }, [], 'x.json', quiet), /'train\.device' must be 'cpu', 'cuda' or 'cuda:N', got "gpu"/);
  assert.throws(() => resolveRunConfig({ train: { precision: 'bfloat16' } }, [], 'x.json', quiet), /'train\.precision' 'bfloat16' needs a CUDA device/);
  assert.throws(() => resolveRunConfig({ split: { train: 0.5 } }, [], 'x.json', quiet), /split ratios must be positive and sum to 1/);
  assert.throws(() => resolveRunConfig({ protocol: 'fair' }, [], 'x.json', quiet), /x\.json: 'protocol' must be 'paper' or 'honest', got "fair"/);
  // comment keys ('//...') are skipped at any depth
  assert.equal(resolveRunConfig({ '//': ['what it is'], train: { '// why': 'short', steps: 7 } }).train.steps, 7);
});

test('train.checkpointEvery: null (the default) means every train.evalEvery steps; a number is used as given', () => {
  assert.equal(DEFAULT_RUN_CONFIG.train.checkpointEvery, null);
  assert.equal(resolveRunConfig({}, ['train.checkpointEvery=25']).train.checkpointEvery, 25);
  assert.equal(resolveRunConfig({ train: { checkpointEvery: 0 } }).train.checkpointEvery, 0);
});

test('byProtocol: the layer of the run protocol applies after the file and before --set; the others are ignored; errors name it', () => {
  const file = { train: { steps: 300, lr: 5e-4 }, byProtocol: { paper: { train: { steps: 600 } }, honest: { train: { lr: 1e-4 } } } };
  const paper = resolveRunConfig(file, ['protocol="paper"'], 'f.json');
  assert.equal(paper.train.steps, 600);
  assert.equal(paper.train.lr, 5e-4);
  const honest = resolveRunConfig(file, [], 'f.json');
  assert.equal(honest.train.steps, 300);
  assert.equal(honest.train.lr, 1e-4);
  assert.equal(resolveRunConfig(file, ['protocol="paper"', 'train.steps=50'], 'f.json').train.steps, 50); // --set wins
  assert.equal('byProtocol' in paper, false); // not part of the resolved config
  assert.throws(() => resolveRunConfig({ byProtocol: { papr: {} } }, [], 'f.json'), /f\.json: byProtocol\.papr: not a protocol \(expected 'paper' or 'honest'\)/);
  assert.throws(() => resolveRunConfig({ byProtocol: { paper: { protocol: 'honest' } } }, [], 'f.json'), /byProtocol\.paper may not set 'protocol'/);
  assert.throws(() => resolveRunConfig({ byProtocol: [] }, [], 'f.json'), /'byProtocol' must be an object/);
  assert.throws(() => resolveRunConfig({ byProtocol: { paper: { train: { stepz: 1 } } } }, ['protocol="paper"'], 'f.json'), /f\.json: byProtocol\.paper/);
});

test('renamed keys: train.clipNorm and train.bf16 are read as train.clipGradNorm and train.precision, with a warning', () => {
  const warnings: string[] = [];
  const c = resolveRunConfig({ train: { clipNorm: 0.5, bf16: false } }, ['train.bf16=false'], 'old.json', (m) => warnings.push(m));
  assert.equal(c.train.clipGradNorm, 0.5);
  assert.equal(c.train.precision, 'float32');
  assert.ok(!('clipNorm' in c.train) && !('bf16' in c.train));
  assert.deepEqual(warnings, [
    "old.json: 'train.clipNorm' is deprecated: it is now 'train.clipGradNorm' (0.5); rename it",
    "old.json: 'train.bf16' is deprecated: it is now 'train.precision' (\"float32\"); rename it",
    "--set train.bf16=false: 'train.bf16' is deprecated: it is now 'train.precision' (\"float32\"); rename it",
  ]);
  const quiet = (): void => {};
  assert.equal(resolveRunConfig({ train: { bf16: true, device: 'cuda' } }, [], 'old.json', quiet).train.precision, 'bfloat16');
  assert.throws(() => resolveRunConfig({ train: { bf16: 'yes' } }, [], 'old.json', quiet), /old\.json: 'train\.bf16' \(now 'train\.precision'\) must be true or false, got "yes"/);
  assert.throws(() => resolveRunConfig({ train: { clipNorm: 1, clipGradNorm: 2 } }, [], 'old.json', quiet), /'train\.clipNorm' is the old name of 'train\.clipGradNorm'; give only 'train\.clipGradNorm'/);
});

test('every shipped run config resolves under both protocols, keys in schema order', () => {
  const dir = join(packageRoot(), 'configs', 'runs');
  for (const name of readdirSync(dir).filter((n) => n.endsWith('.json'))) {
    for (const p of ['paper', 'honest']) {
      const c = loadRunConfig(join(dir, name), [`protocol="${p}"`]);
      assert.deepEqual(Object.keys(c), Object.keys(DEFAULT_RUN_CONFIG), name);
      assert.deepEqual(Object.keys(c.data.synth), ['patients', 'size', 'seed', 'prevalence'], `${name}: the synth cache key hashes this order`);
    }
  }
});

test('docs/config.md is what the schema generates (run `node scripts/config-reference.mjs` after a change)', () => {
  const committed = readFileSync(join(packageRoot(), 'docs', 'config.md'), 'utf8');
  assert.equal(committed, runConfigReference());
  for (const key of ['train.clipGradNorm', 'train.checkpointEvery', 'train.imageOnlyShare', 'loss.reconFraction', 'loss.weights.icdrImage']) {
    assert.ok(committed.includes(`| \`${key}\` |`), `${key} is in the reference`);
  }
});
