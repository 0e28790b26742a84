// Checkpoint folders: round trip, atomic replacement (a failure mid-write leaves the previous one
// intact), recovery after a crash between the two renames, weight-loading errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tidy, AdamW, getRngState } from '../../src/tensor/index.js';
import { DEFAULT_OBJECTIVE_CONFIG } from '../../src/losses/index.js';
import { saveCheckpoint, readCheckpoint, loadWeights, resolveTrainConfig, paramGroups, CHECKPOINT_FORMAT, type CheckpointState } from '../../src/train/index.js';
import { TinyModel } from './tiny-model.js';

function stateAt(step: number, extras: Record<string, unknown> = {}): CheckpointState {
  return {
    format: CHECKPOINT_FORMAT, model: 'tiny-test', step, epoch: 0, batchInEpoch: step, best: null, badEvals: 0, stoppedEarly: false,
    torchRng: Buffer.from(getRngState()).toString('base64'), dataRng: { seed: 0, epoch: 0, batchInEpoch: step, step },
    config: resolveTrainConfig({}), objective: DEFAULT_OBJECTIVE_CONFIG, extras,
  };
}

test('round trip: weights, optimizer bytes, state and extras', () => tidy(() => {
  const dir = join(mkdtempSync(join(tmpdir(), 'retalign-ck-')), 'last');
  const m = new TinyModel(1);
  const opt = new AdamW(paramGroups(m, 0.1).groups, { lr: 1e-3 });
  const extras = { vocab: ['[PAD]', '[CLS]', 'retina'], tabular: { mean: [1.5], std: [0.5] } };
  saveCheckpoint(dir, { weights: m.namedParameters(), optimizer: opt.saveState(), state: stateAt(7, extras) });
  assert.deepEqual(readdirSync(dir).sort(), ['optimizer.bin', 'state.json', 'weights.safetensors']);
  const ck = readCheckpoint(dir);
  assert.equal(ck.dir, dir);
  assert.equal(ck.state.step, 7);
  assert.deepEqual(ck.state.extras, extras);
  assert.deepEqual(ck.optimizer, opt.saveState());
  const other = new TinyModel(2);
  loadWeights(other, ck.weights);
  for (const [k, v] of m.snapshot()) assert.deepEqual(other.snapshot().get(k), v, k);
  rmSync(join(dir, '..'), { recursive: true, force: true });
}));

test('a failure mid-write leaves the previous checkpoint intact and no temp folder', () => tidy(() => {
  const root = mkdtempSync(join(tmpdir(), 'retalign-ck-'));
  const dir = join(root, 'last');
  const m = new TinyModel(1);
  const opt = new AdamW(paramGroups(m, 0.1).groups, { lr: 1e-3 });
  saveCheckpoint(dir, { weights: m.namedParameters(), optimizer: opt.saveState(), state: stateAt(1) });
  const before = m.snapshot();
  const m2 = new TinyModel(9);
  // state.json is written after the weights and the optimizer: a BigInt in extras makes JSON.stringify throw there.
  assert.throws(() => saveCheckpoint(dir, { weights: m2.namedParameters(), optimizer: opt.saveState(), state: stateAt(2, { bad: 1n }) }),
    new RegExp(`${dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: writing the checkpoint failed, the previous one is intact: .*BigInt`));
  const ck = readCheckpoint(dir);
  assert.equal(ck.state.step, 1);
  for (const [k, v] of before) assert.deepEqual(ck.weights.get(k)!.data, v, k);
  assert.deepEqual(readdirSync(root), ['last']);
  rmSync(root, { recursive: true, force: true });
}));

test('a crash between the two renames: the reader falls back to <dir>.old-<pid>; a stale temp folder is ignored', () => tidy(() => {
  const root = mkdtempSync(join(tmpdir(), 'retalign-ck-'));
  const dir = join(root, 'last');
  const m = new TinyModel(1);
  const opt = new AdamW(paramGroups(m, 0.1).groups, { lr: 1e-3 });
  saveCheckpoint(dir, { weights: m.namedParameters(), optimizer: opt.saveState(), state: stateAt(5) });
  // The state a kill leaves after `rename(dir, old)` and before `rename(tmp, dir)`: a half-written temp folder and the old one.
  renameSync(dir, `${dir}.old-424242`);
  mkdirSync(`${dir}.tmp-424242`);
  writeFileSync(join(`${dir}.tmp-424242`, 'weights.safetensors'), Buffer.alloc(10));
  const ck = readCheckpoint(dir);
  assert.equal(ck.dir, `${dir}.old-424242`);
  assert.equal(ck.state.step, 5);
  // The next save commits normally next to the leftovers.
  saveCheckpoint(dir, { weights: m.namedParameters(), optimizer: opt.saveState(), state: stateAt(6) });
  assert.equal(readCheckpoint(dir).state.step, 6);
  rmSync(root, { recursive: true, force: true });
  assert.throws(() => readCheckpoint(dir), /state\.json is missing and no last\.old-\* folder was left by an interrupted write/);
  assert.equal(existsSync(root), false);
}));

test('loadWeights names missing, unexpected and mismatched parameters', () => tidy(() => {
  const dir = join(mkdtempSync(join(tmpdir(), 'retalign-ck-')), 'last');
  const m = new TinyModel(1);
  const opt = new AdamW(paramGroups(m, 0.1).groups, { lr: 1e-3 });
  saveCheckpoint(dir, { weights: m.namedParameters(), optimizer: opt.saveState(), state: stateAt(1) });
  const w = readCheckpoint(dir).weights;
  const renamed = new Map([...w].map(([k, v]) => [k === 'logitScale' ? 'logit_scale' : k, v]));
  assert.throws(() => loadWeights(m, renamed, 'ck'), /ck: weights do not match model 'tiny-test': missing \[logitScale\], unexpected \[logit_scale\]/);
  const reshaped = new Map(w);
  reshaped.set('icdr.head.bias', { dtype: 'float32', shape: [1, 5], data: new Float32Array(5) });
  assert.throws(() => loadWeights(m, reshaped, 'ck'), /ck: 'icdr\.head\.bias' is float32 \[1, 5\], the model has float32 \[5\]/);
  rmSync(join(dir, '..'), { recursive: true, force: true });
}));
