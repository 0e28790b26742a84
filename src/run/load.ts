/**
 * Opens a trained run: a checkpoint folder -> its RunInfo (validated) and the model rebuilt from the
 * stored model config, with the stored weights. Eval, the index build and the server all start here;
 * it reads the checkpoint's files (run/checkpoint.ts, the file format) but nothing of the trainer.
 *
 * A run folder looks like
 *   runs/<name>/last/, best/   checkpoints (weights.safetensors, optimizer.bin, state.json)
 *   runs/<name>/split.json     the split the run trained on
 *
 * @example
 *   const run = loadRun('runs/smoke');   // its best checkpoint, else its last
 *   run.model.capabilities.gradeHeads; run.pre.tokenizer; run.runConfig.protocol
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { buildModel, type ModelConfig, type RetalignModel } from '../models/index.js';
import { readCheckpointModel, loadWeights, type CheckpointModel } from './checkpoint.js';
import { Tokenizer } from '../data/tokenizer/tokenizer.js';
import { TabularFeaturizer } from '../data/tabular.js';
import type { RunConfig } from './config.js';
import type { Preprocessing } from './preprocessing.js';
import { parseRunInfo, type RunInfo } from './info.js';

export interface LoadedRun {
  /** Built from modelConfig, with the checkpoint's weights. */
  model: RetalignModel;
  modelConfig: ModelConfig;
  runConfig: RunConfig;
  pre: Preprocessing;
  /** Content hash of the weights: identifies the model in indexes and reports. */
  checkpointId: string;
  checkpointDir: string;
  /** The training run's folder (parent of last/ and best/). */
  runDir: string;
  /** The run's split file (runDir/split.json). */
  splitFile: string;
  /** The training data: display name and path ('' when the checkpoint does not name it). */
  datasetName: string;
  datasetPath: string;
}

/** The checkpoint folder a path names (itself, or a run folder's best/, else its last/), or null. */
function findCheckpointDir(path: string): string | null {
  const dir = resolve(path);
  for (const sub of ['', 'best', 'last']) if (existsSync(join(dir, sub, 'state.json'))) return join(dir, sub);
  return null;
}

/** The checkpoint folder a path names: itself, or a run folder's best/, else its last/. */
export function checkpointDirOf(path: string): string {
  const dir = findCheckpointDir(path);
  if (dir === null) throw new Error(`${path}: not a checkpoint (no state.json here, nor in best/ or last/)`);
  return dir;
}

/** True when a path is a retalign checkpoint or run folder (what checkpointDirOf accepts). */
export function isRunFolder(path: string): boolean {
  return findCheckpointDir(path) !== null;
}

/** A checkpoint's weights and its validated run record (info.ts); the optimizer state is not read. */
function openCheckpoint(path: string): { dir: string; ck: CheckpointModel; info: RunInfo } {
  const dir = checkpointDirOf(path);
  const ck = readCheckpointModel(dir);
  return { dir, ck, info: parseRunInfo(ck.state.extras, join(ck.dir, 'state.json')) };
}

/**
 * Loads a checkpoint folder (…/last or …/best, or a run folder: its best, else last). Throws with
 * the file and field when the run record is missing or wrong (info.ts), or when the weights do
 * not fit the model config.
 */
export function loadRun(path: string): LoadedRun {
  const { dir, ck, info } = openCheckpoint(path);
  const pre = info.preprocessing;
  const tabDim = pre.tabular === null ? 0 : TabularFeaturizer.fromJSON(pre.tabular).dim;
  const model = buildModel(info.modelConfig, { vocabSize: pre.tokenizer.vocab.length, tabularDim: Math.max(tabDim, 1), specialIds: Tokenizer.fromJSON(pre.tokenizer) });
  loadWeights(model, ck.weights, dir);
  const checkpointId = createHash('sha256').update(readFileSync(join(ck.dir, 'weights.safetensors'))).digest('hex').slice(0, 16);
  return {
    model, modelConfig: info.modelConfig, runConfig: info.runConfig, pre, checkpointId, checkpointDir: dir, runDir: dirname(dir),
    splitFile: join(dirname(dir), 'split.json'), datasetName: info.dataset, datasetPath: info.datasetPath,
  };
}

/**
 * Starts a model's image tower from another retalign run's (a checkpoint folder, or a run folder: its
 * best, else its last): e.g. a tower trained on a large synthetic twin as the start of a run on a user's
 * few hundred photos. Every image.* setting of the two model configs must agree (stem, widths, layers,
 * image size, normalization); the error lists the ones that differ. Returns what was loaded, for the log.
 *
 * @example loadImageTowerFromRun(model, 'runs/twin-3000/best') // '124 image tensors from runs/twin-3000/best (step 900)'
 */
export function loadImageTowerFromRun(model: RetalignModel, path: string): string {
  const { dir, ck, info } = openCheckpoint(path);
  const there = info.modelConfig.image as Record<string, unknown>;
  const here = model.config.image as Record<string, unknown>;
  const differ = [...new Set([...Object.keys(there), ...Object.keys(here)])].filter((k) => JSON.stringify(there[k]) !== JSON.stringify(here[k]));
  if (differ.length > 0) {
    throw new Error(`model.imageWeights ${path}: its image tower does not fit this run's: ` +
      differ.map((k) => `image.${k} is ${JSON.stringify(there[k])} there, ${JSON.stringify(here[k])} here`).join('; '));
  }
  const prefix = 'image.';
  const sd = new Map([...ck.weights].filter(([k]) => k.startsWith(prefix)).map(([k, v]) => [k.slice(prefix.length), v]));
  model.image.loadStateDict(sd, { source: `${dir} (image tower)` });
  return `${sd.size} image tensors from ${dir} (step ${ck.state.step})`;
}
