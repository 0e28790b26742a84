/**
 * Training checkpoints: a folder with
 *   weights.safetensors  the model's named parameters (keys = namedParameters names): the weights
 *                        inference uses (with train.ema on, the moving average)
 *   train-weights.safetensors  only with train.ema on: the live weights training goes on from
 *   optimizer.bin        AdamW.saveState() bytes (step counts and moments)
 *   state.json           loop position, best metric, RNG states, resolved configs, caller extras
 *                        (tokenizer vocab, tabular statistics, image statistics: preprocessing
 *                        travels with the weights)
 *
 * Writes are atomic at the folder level: everything goes into `<dir>.tmp-<pid>`, is fsynced, then
 * the old folder is moved to `<dir>.old-<pid>`, the new one renamed to `<dir>`, and the old one
 * deleted. A crash before the first rename leaves the previous checkpoint untouched; a crash
 * between the two renames leaves `<dir>.old-<pid>`, which readCheckpoint falls back to.
 *
 * @example
 *   saveCheckpoint('runs/a/last', { weights: model.namedParameters(), optimizer: opt.saveState(), state });
 *   const ck = readCheckpoint('runs/a/last'); loadWeights(model, ck.weights);
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { Tensor, noGrad } from '../tensor/index.js';
import { readSafetensors, writeSafetensors, type RawTensor } from '../tensor/io/index.js';
import type { TrainableModel } from '../models/types.js';
import type { TrainConfig } from '../train/config.js';
import type { ObjectiveConfig } from '../losses/index.js';

export const CHECKPOINT_FORMAT = 'retalign-checkpoint/1';

/** The live weights beside a moving average (train.ema). */
export const TRAIN_WEIGHTS = 'train-weights.safetensors';

/** Best validation value so far (for `best` selection and early stopping). */
export interface BestState {
  metric: string;
  mode: 'max' | 'min';
  value: number;
  step: number;
}

/** Where the loop is; together with the RNG states, enough to continue exactly. */
export interface LoopPosition {
  /** Optimizer steps done. */
  step: number;
  /** Current epoch (0-based) and micro-batches of it already consumed. */
  epoch: number;
  batchInEpoch: number;
  best: BestState | null;
  /** Validations since the last improvement. */
  badEvals: number;
  /** Early stopping ended the run (a resume then does nothing). */
  stoppedEarly: boolean;
}

export interface CheckpointState extends LoopPosition {
  format: typeof CHECKPOINT_FORMAT;
  /** TrainableModel.name of the model that wrote it. */
  model: string;
  /** libtorch CPU generator state (getRngState), base64. */
  torchRng: string;
  /**
   * The loop's data randomness: streams derived from (seed, epoch) and (seed, micro-batch index)
   * (see streams.ts), so these numbers are its whole state.
   */
  dataRng: { seed: number; epoch: number; batchInEpoch: number; step: number };
  config: TrainConfig;
  objective: ObjectiveConfig;
  /** Opaque, JSON-serializable caller data (tokenizer vocab, tabular/image statistics, run config). */
  extras: Record<string, unknown>;
  /** A data-parallel run's world size and every rank's libtorch RNG state (base64, rank order); absent for one process. */
  dist?: { worldSize: number; torchRng: string[] };
}

export interface CheckpointContent {
  weights: Map<string, Tensor>;
  /** The live training weights when `weights` is their moving average (train.ema); absent otherwise. */
  trainWeights?: Map<string, Tensor>;
  optimizer: Uint8Array;
  state: CheckpointState;
}

/** A checkpoint's weights and state, without the optimizer's (what eval, serve and a tower import need). */
export interface CheckpointModel {
  /** The folder actually read (differs from the one asked for after a crash mid-rename). */
  dir: string;
  weights: Map<string, RawTensor>;
  state: CheckpointState;
}

export interface LoadedCheckpoint extends CheckpointModel {
  optimizer: Buffer;
  /** The live training weights of a run with train.ema on (train-weights.safetensors); absent otherwise. */
  trainWeights?: Map<string, RawTensor>;
}

function writeFileDurable(path: string, data: Uint8Array | string): void {
  const fd = openSync(path, 'w');
  try {
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    let off = 0;
    while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Tensor -> engine-free copy (CPU, contiguous; bf16/f16 as bits). */
export function toRaw(t: Tensor): RawTensor {
  return { dtype: t.dtype, shape: t.shape, data: t.toArray() };
}

/**
 * Writes a checkpoint folder atomically (see the file header). On failure the temp folder is
 * removed, the previous checkpoint is left as it was, and the error names `dir`.
 */
export function saveCheckpoint(dir: string, c: CheckpointContent): void {
  const tmp = `${dir}.tmp-${process.pid}`;
  const old = `${dir}.old-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  let movedOld = false;
  try {
    const meta = { format: 'pt', model: c.state.model, step: String(c.state.step) };
    const raw = (w: Map<string, Tensor>): Map<string, RawTensor> => new Map([...w].map(([k, t]) => [k, toRaw(t)]));
    writeSafetensors(join(tmp, 'weights.safetensors'), raw(c.weights), meta);
    if (c.trainWeights !== undefined) writeSafetensors(join(tmp, TRAIN_WEIGHTS), raw(c.trainWeights), meta);
    writeFileDurable(join(tmp, 'optimizer.bin'), c.optimizer);
    writeFileDurable(join(tmp, 'state.json'), `${JSON.stringify(c.state, null, 1)}\n`);
    fsyncDir(tmp);
    if (existsSync(dir)) {
      rmSync(old, { recursive: true, force: true });
      renameSync(dir, old);
      movedOld = true;
    }
    renameSync(tmp, dir);
    fsyncDir(dirname(dir));
  } catch (e) {
    if (movedOld && !existsSync(dir)) renameSync(old, dir);
    rmSync(tmp, { recursive: true, force: true });
    throw new Error(`${dir}: writing the checkpoint failed, the previous one is intact: ${(e as Error).message}`);
  }
  if (movedOld) rmSync(old, { recursive: true, force: true });
}

/** A leftover `<dir>.old-<pid>` folder (crash between the two renames), if any is complete. */
function recoverOld(dir: string): string | null {
  const parent = dirname(dir);
  if (!existsSync(parent)) return null;
  const prefix = `${basename(dir)}.old-`;
  for (const name of readdirSync(parent).sort()) {
    const p = join(parent, name);
    if (name.startsWith(prefix) && existsSync(join(p, 'state.json')) && existsSync(join(p, 'weights.safetensors')) && existsSync(join(p, 'optimizer.bin'))) return p;
  }
  return null;
}

/**
 * Reads a checkpoint folder (falling back to `<dir>.old-<pid>` after a crash mid-commit).
 * @example const ck = readCheckpoint('runs/a/last'); ck.state.step
 */
export function readCheckpoint(dir: string): LoadedCheckpoint {
  const m = readCheckpointModel(dir);
  const live = join(m.dir, TRAIN_WEIGHTS);
  return { ...m, optimizer: readFileSync(join(m.dir, 'optimizer.bin')), ...(existsSync(live) ? { trainWeights: readSafetensors(live) } : {}) };
}

/**
 * As readCheckpoint, without reading the optimizer state (about twice the weights' size).
 * @example loadWeights(model, readCheckpointModel('runs/a/best').weights)
 */
export function readCheckpointModel(dir: string): CheckpointModel {
  let at = dir;
  if (!existsSync(join(dir, 'state.json'))) {
    const rec = recoverOld(dir);
    if (rec === null) throw new Error(`${dir}: no checkpoint here (state.json is missing and no ${basename(dir)}.old-* folder was left by an interrupted write)`);
    at = rec;
  }
  const statePath = join(at, 'state.json');
  let state: CheckpointState;
  try {
    state = JSON.parse(readFileSync(statePath, 'utf8')) as CheckpointState;
  } catch (e) {
    throw new Error(`${statePath}: not valid JSON: ${(e as Error).message}`);
  }
  if (state.format !== CHECKPOINT_FORMAT) throw new Error(`${statePath}: format is ${JSON.stringify(state.format)}, expected '${CHECKPOINT_FORMAT}'`);
  if (typeof state.stoppedEarly !== 'boolean') throw new Error(`${statePath}: field 'stoppedEarly' is ${JSON.stringify(state.stoppedEarly)}, expected true or false`);
  for (const k of ['step', 'epoch', 'batchInEpoch', 'badEvals'] as const) {
    if (!Number.isInteger(state[k]) || state[k] < 0) throw new Error(`${statePath}: field '${k}' is ${JSON.stringify(state[k])}, expected an integer >= 0`);
  }
  return { dir: at, weights: readSafetensors(join(at, 'weights.safetensors')), state };
}

/**
 * Copies checkpoint weights into the model's parameters (same names, shapes and dtypes; no key
 * may be missing or extra). Runs without autograd.
 */
export function loadWeights(model: TrainableModel, weights: Map<string, RawTensor>, where = 'checkpoint'): void {
  const params = model.namedParameters();
  const missing = [...params.keys()].filter((k) => !weights.has(k));
  const extra = [...weights.keys()].filter((k) => !params.has(k));
  if (missing.length > 0 || extra.length > 0) {
    throw new Error(`${where}: weights do not match model '${model.name}': missing [${missing.slice(0, 8).join(', ')}${missing.length > 8 ? ', ...' : ''}], ` +
      `unexpected [${extra.slice(0, 8).join(', ')}${extra.length > 8 ? ', ...' : ''}]`);
  }
  noGrad(() => {
    for (const [k, p] of params) {
      const raw = weights.get(k) as RawTensor;
      if (raw.shape.join(',') !== p.shape.join(',') || raw.dtype !== p.dtype) {
        throw new Error(`${where}: '${k}' is ${raw.dtype} [${raw.shape.join(', ')}], the model has ${p.dtype} [${p.shape.join(', ')}]`);
      }
      const src = Tensor.from(raw.data, raw.shape, raw.dtype);
      p.copy_(src);
      src.dispose();
    }
  });
}
