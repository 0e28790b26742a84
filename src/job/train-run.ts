/**
 * `retalign train`: a run config -> prepared data -> model -> objective -> the training loop.
 * The checkpoint carries the run's record (src/run/info.ts: the resolved run and model configs and
 * the preprocessing: tokenizer vocab, tabular statistics, image settings, note options), so eval
 * and serve need nothing else. What the model can do (its capabilities) picks the loss parts, the
 * modality dropout and the metric that selects the best checkpoint.
 *
 * @example
 *   await runTraining(loadRunConfig('configs/runs/smoke.json'), { out: 'runs/smoke' });
 */
import { NUM_GRADES } from '../data/grades.js';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { cpus } from 'node:os';
import { Rng } from '../data/rng.js';
import type { Tokenizer } from '../data/tokenizer/tokenizer.js';
import { augmentNote, noteAugmentOn, type NoteAugmentOptions, type NoteMarks } from '../run/note-augment.js';
import { manualSeed, setNumThreads, getNumThreads, cudaIsAvailable, type Device } from '../tensor/index.js';
import { buildModel, loadPreset, loadPretrainedImage, loadPretrainedText, type ModelCapabilities, type ModelConfig, type RetalignModel } from '../models/index.js';
import type { Batch } from '../models/types.js';
import { Objective, inverseFrequencyWeights, type LossWeights } from '../losses/index.js';
import { train, type BatchSource, type TrainResult } from '../train/index.js';
import { retrievalMetrics } from '../eval/metrics/retrieval.js';
import { COLLAPSED_SPREAD, embeddingSpread } from '../eval/metrics/spread.js';
import { gradingMetrics, argmaxRows } from '../eval/metrics/grading.js';
import { collate, isRunFolder, loadImageTowerFromRun, mirrored, predict, prepareData, runInfoExtras, tensorScores, RUN_FORMAT, type CollateOptions, type PreparedData, type PreparedItem, type RunConfig } from '../run/index.js';
import { parseRunInfo } from '../run/info.js';
import { readSplit } from '../data/split.js';
import { checkOutputFolder } from '../data/paths.js';
import { acquireRunLock, runLockHolder } from '../train/run-lock.js';
import { gradeBatchOrder } from '../run/grade-batches.js';
import { DataParallel, shardBatches, torchrunEnv, type TorchrunEnv } from '../train/distributed.js';
import { barrier } from '../tensor/dist.js';

export interface TrainRunOptions {
  /**
   * Run folder: checkpoints, metrics.jsonl, split.json, run-config.json, train.lock while it runs.
   * Nothing is written outside it unless named here (dataRoot) or in the config (data.splitFile).
   */
  out: string;
  /** Root for synthesized data, shared by the runs given the same one (default: <out>, the twin in <out>/data/). */
  dataRoot?: string;
  resume?: boolean;
  log?: (msg: string) => void;
  /** Progress bar on a TTY ('auto') or plain lines ('off'). */
  progress?: 'auto' | 'off';
  /**
   * Data-parallel: this process's place (default: from WORLD_SIZE/RANK/... as torchrun sets them;
   * null forces one process). Rank 0 prepares the data, holds the lock and writes the run's files.
   */
  dist?: TorchrunEnv | null;
  /** A collective that waits longer fails naming the ranks that stopped answering (default 60 s). */
  distTimeoutMs?: number;
}

/** The model config a run uses: the preset, with the run's image size and vocabulary. */
export function runModelConfig(cfg: RunConfig, vocabSize: number): ModelConfig {
  const preset = loadPreset(cfg.model.preset);
  const m: ModelConfig = JSON.parse(JSON.stringify(preset)) as ModelConfig;
  m.architecture = cfg.model.kind;
  if (cfg.data.imageSize > 0) m.image.imageSize = cfg.data.imageSize;
  m.text.vocabSize = vocabSize;
  if (cfg.data.maxTokens > m.text.maxPositions) {
    throw new Error(`data.maxTokens=${cfg.data.maxTokens} exceeds the preset's text.maxPositions=${m.text.maxPositions}`);
  }
  return m;
}

/**
 * Shuffled mini-batches of the training items, with seeded horizontal flips. With `shard` (a
 * data-parallel rank), the rank's part of each global batch of batchSize x worldSize (shardBatches;
 * the epoch's order and flips are the same on every rank). With the tokenizer's `marks`, notes are augmented as
 * train.noteSentenceDropout / noteWordDropout say (no marks: no note augmentation, e.g. image-only training).
 */
export function trainBatchSource(items: PreparedItem[], cfg: RunConfig, m: ModelConfig, tabularDim: number, use?: CollateOptions['use'],
  shard: { rank: number; worldSize: number } = { rank: 0, worldSize: 1 }, marks: NoteMarks | null = null): BatchSource {
  const { rank, worldSize } = shard;
  const B = Math.min(cfg.train.batchSize, Math.floor(items.length / worldSize));
  if (B < 1) throw new Error(`${items.length} training exams cannot fill one batch on each of ${worldSize} processes`);
  const per = Math.max(1, Math.floor(items.length / (B * worldSize)));
  const augOpts = { sentenceDrop: cfg.train.noteSentenceDropout, wordDrop: cfg.train.noteWordDropout };
  const aug = noteAugmentOn(augOpts) && marks !== null ? { o: augOpts, marks } : null;
  return {
    batchesPerEpoch: per,
    *batchesForEpoch(_epoch: number, rng: Rng, from: number): Iterable<Batch> {
      // Order and flips for the whole epoch are drawn up front, so batch k never depends on `from`.
      const shuffled = rng.shuffle(items.map((_, i) => i));
      const share = cfg.train.gradeBatchShare;
      const order = share > 0 ? gradeBatchOrder(shuffled, items.map((it) => it.icdr), B * worldSize, share, rng.fork(0x67726164)) : shuffled;
      const drawn = order.map(() => rng.bernoulli(0.5));
      const flips = cfg.train.flip === 'off' ? drawn.map(() => false) : drawn;
      // Note augmentation: one seed per item of the epoch, drawn after the flips and only when on (the stream
      // without it is unchanged).
      let noteSeeds: number[] | null = null;
      if (aug !== null) {
        const r = rng.fork(0x6e6f7465);
        noteSeeds = order.map(() => r.next32());
      }
      const at = new Map(order.map((item, pos) => [item, pos]));
      const mine = shardBatches(order, B, worldSize, rank);
      for (let k = from; k < per; k++) {
        const idx = mine[k] as number[];
        const batchItems = idx.map((i) => {
          const pos = at.get(i) as number;
          const it = cfg.train.flip === 'mirror' && flips[pos] ? mirrored(items[i] as PreparedItem) : items[i] as PreparedItem;
          return aug === null || noteSeeds === null ? it : augmentItem(it, new Rng(noteSeeds[pos] as number), aug);
        });
        yield collate(batchItems, {
          imageSize: m.image.imageSize, maxTokens: cfg.data.maxTokens, tabularDim,
          flip: idx.map((i) => flips[at.get(i) as number] as boolean), device: cfg.train.device as Device, use,
        });
      }
    },
  };
}

/** The item with its note augmented (a new item; the prepared one is shared between epochs and left as it is). */
function augmentItem(it: PreparedItem, rng: Rng, aug: { o: NoteAugmentOptions; marks: NoteMarks }): PreparedItem {
  if (it.tokenIds === null || it.attention === null) return it;
  const { ids, attention } = augmentNote(it.tokenIds, it.attention, rng, aug.o, aug.marks);
  return { ...it, tokenIds: ids, attention };
}

/** The ids note augmentation needs, from a run's tokenizer. */
export function noteMarks(tok: Tokenizer): NoteMarks {
  return { padId: tok.padId, clsId: tok.clsId, sepId: tok.sepId, maskId: tok.maskId, periodId: tok.tokenToId('.') ?? null };
}

/**
 * The loss weights a model trains with: the run config's, with every part the model does not train
 * (capabilities.lossParts) at 0, and the tabular pairs at 0 when the data has no tabular fields.
 * @example modelLossWeights(ClipBaseline.capabilities, cfg.loss.weights, 40) // imageText only
 */
export function modelLossWeights(caps: ModelCapabilities, w: LossWeights, tabularDim: number): LossWeights {
  const tabularPairs: readonly string[] = ['imageTabular', 'textTabular'];
  const keep = (part: string): boolean => (caps.lossParts === null || caps.lossParts.includes(part)) && (tabularDim > 0 || !tabularPairs.includes(part));
  return Object.fromEntries(Object.entries(w).map(([part, v]) => [part, keep(part) ? v : 0])) as LossWeights;
}

/**
 * The warning for validation metrics whose spread_<tower> (embeddingSpread) says the tower collapsed, or null.
 *
 * @example collapseWarning({ spread_image: 0.0001, spread_text: 0.6 }, 100) // 'warning: step 100: the image (spread 1.0e-4) embeddings ...'
 */
export function collapseWarning(metrics: Readonly<Record<string, number>>, step: number): string | null {
  const dead = Object.entries(metrics).filter(([k, v]) => k.startsWith('spread_') && v < COLLAPSED_SPREAD)
    .map(([k, v]) => `${k.slice('spread_'.length)} (spread ${v.toExponential(1)})`);
  if (dead.length === 0) return null;
  return `warning: step ${step}: the ${dead.join(', ')} embeddings have collapsed: every validation exam maps to nearly the same ` +
    'vector, so retrieval and probes on them are meaningless. This run has failed; a lower train.lr or another train.seed usually avoids it.';
}

/**
 * Quick validation numbers for early stopping and the log: t2i R@1 (dup-aware), ICDR kappa from all
 * modalities, and ICDR kappa from each modality alone (icdr_kappa_image / _text / _record: the model
 * given one input), so a log shows what the model grades from.
 */
function validator(model: RetalignModel, val: PreparedItem[], m: ModelConfig, cfg: RunConfig, tabularDim: number, log: (msg: string) => void) {
  const base = { imageSize: m.image.imageSize, maxTokens: cfg.data.maxTokens, tabularDim, device: cfg.train.device as Device };
  const truth = Int32Array.from(val.map((v) => v.icdr));
  const kappaOf = (logits: Float32Array): number => {
    const k = gradingMetrics(truth, argmaxRows(logits, NUM_GRADES), NUM_GRADES).kappa;
    return Number.isFinite(k) ? k : 0;
  };
  const alone = { image: { text: false, tabular: false }, text: { image: false, tabular: false }, record: { image: false, text: false } };
  return async (at: { step: number }): Promise<Record<string, number>> => {
    const p = await predict(model, val, base);
    const out: Record<string, number> = {};
    // Spread of each tower's validation embeddings: a collapsed tower (every exam the same vector) is said aloud.
    for (const [name, e] of [['image', p.imageEmb], ['text', p.textEmb], ['record', p.tabEmb]] as const) {
      if (e !== null) out[`spread_${name}`] = embeddingSpread(e, p.dim);
    }
    const warning = collapseWarning(out, at.step);
    if (warning !== null) log(warning);
    if (p.imageEmb && p.textEmb) {
      const groups = val.map((v) => v.noteGroup);
      const r = retrievalMetrics({ queries: p.textEmb, gallery: p.imageEmb, dim: p.dim, target: val.map((_, i) => i), queryGroups: groups, galleryGroups: groups },
        { ks: [1, 5], score: tensorScores });
      out['t2i_r1'] = r.strict.recallAt[1] ?? 0;
      out['t2i_r1_dup'] = r.duplicateAware?.recallAt[1] ?? 0;
    }
    if (p.icdrLogits) {
      const truth = val.map((v) => v.icdr);
      const g = gradingMetrics(Int32Array.from(truth), argmaxRows(p.icdrLogits, NUM_GRADES), NUM_GRADES);
      out['icdr_acc'] = g.accuracy;
      out['icdr_kappa'] = Number.isFinite(g.kappa) ? g.kappa : 0;
      for (const [name, use] of Object.entries(alone)) {
        if (name === 'record' && tabularDim === 0) continue;
        const q = await predict(model, val, { ...base, use });
        if (q.icdrLogits) out[`icdr_kappa_${name}`] = kappaOf(q.icdrLogits);
      }
    }
    return out;
  };
}

export interface TrainRunResult {
  result: TrainResult;
  data: PreparedData;
  modelConfig: ModelConfig;
  out: string;
}

/** Run-config keys a resume may change: they do not alter the steps already taken (the loop checks its own config too). */
const RESUME_MAY_CHANGE = ['description', 'data.splitFile', 'train.steps', 'train.evalEvery', 'train.checkpointEvery', 'train.logEvery',
  'train.patience', 'train.threads', 'train.device', 'eval'];

/** Dotted paths of the leaves where two configs differ. */
function differences(a: unknown, b: unknown, at = ''): string[] {
  const obj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
  if (obj(a) && obj(b)) {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])];
    return keys.flatMap((k) => differences(a[k], b[k], at === '' ? k : `${at}.${k}`));
  }
  return JSON.stringify(a) === JSON.stringify(b) ? [] : [at];
}

/**
 * Everything about the run folder that can be checked before a byte is written: the path is (or can
 * be made) a writable folder, no other training holds its lock, a fresh run does not land on a
 * finished or started one, and a resume has a checkpoint whose run config this one may continue.
 */
function checkRunFolder(cfg: RunConfig, out: string, resume: boolean): void {
  checkOutputFolder(out, 'train: --out');
  const busy = runLockHolder(out);
  if (busy !== null) throw new Error(`train: ${busy}`);
  const state = join(out, 'last', 'state.json');
  if (!resume) {
    if (existsSync(state)) {
      throw new Error(`train: ${out} already holds a run (${join(out, 'last')}); resume it with --resume or choose another output folder (nothing was written)`);
    }
    return;
  }
  if (!existsSync(state)) throw new Error(`train --resume: ${out} holds no checkpoint to resume (${state} is missing)`);
  let saved: RunConfig;
  try {
    saved = parseRunInfo((JSON.parse(readFileSync(state, 'utf8')) as { extras?: unknown }).extras, state).runConfig;
  } catch (e) {
    throw new Error(`train --resume: cannot read the run's record: ${(e as Error).message}`);
  }
  const changed = differences(saved, cfg).filter((k) => !RESUME_MAY_CHANGE.some((ok) => k === ok || k.startsWith(`${ok}.`)));
  if (changed.length > 0) {
    throw new Error(`train --resume: the run config differs from the one ${out} was trained with (${state}) in ` +
      `${changed.map((k) => `${k} (run ${JSON.stringify(k.split('.').reduce<unknown>((o, p) => (o as Record<string, unknown> | undefined)?.[p], saved))}, now ` +
        `${JSON.stringify(k.split('.').reduce<unknown>((o, p) => (o as Record<string, unknown> | undefined)?.[p], cfg))})`).join(', ')}; ` +
      `a resume may only change ${RESUME_MAY_CHANGE.join(', ')} (nothing was written)`);
  }
}

/** A shared split named by data.splitFile must be the one the run folder already records (a resumed or restarted run). */
function checkRunSplit(out: string, data: PreparedData, named: string): void {
  const own = join(out, 'split.json');
  if (!existsSync(own)) return;
  const mine = readSplit(own);
  if (JSON.stringify(mine.assignment) !== JSON.stringify(data.split.assignment)) {
    throw new Error(`train: the split in ${named} (data.splitFile) differs from the one this run was made with (${own}); ` +
      'name the same split file, or choose another output folder');
  }
}

/**
 * Trains a run into `o.out`. Checks first and writes nothing when they fail (checkRunFolder); then
 * holds `<out>/train.lock` until it returns or throws.
 */
export async function runTraining(cfg: RunConfig, o: TrainRunOptions): Promise<TrainRunResult> {
  const env = o.dist === undefined ? torchrunEnv(process.env) : o.dist;
  if (env !== null && env.worldSize > 1) return runTrainingRank(cfg, o, env);
  const log = o.log ?? ((m: string) => console.log(m));
  const out = resolve(o.out);
  const resume = o.resume ?? false;
  checkRunFolder(cfg, out, resume);
  const made = !existsSync(out);
  mkdirSync(out, { recursive: true });
  const lock = acquireRunLock(out, { log });
  try {
    return await trainLocked(cfg, { ...o, out, resume, log });
  } finally {
    lock.release();
    // A fresh folder that a failed start left empty is removed again.
    if (made && readdirSync(out).length === 0) rmdirSync(out);
  }
}

/**
 * One rank of a data-parallel run: joins the group; rank 0 checks the folder, takes the lock and
 * prepares the data (synthesis, split) while the others wait, then every rank trains its shard.
 */
async function runTrainingRank(cfg: RunConfig, o: TrainRunOptions, env: TorchrunEnv): Promise<TrainRunResult> {
  const out = resolve(o.out);
  const resume = o.resume ?? false;
  const log = env.rank === 0 ? (o.log ?? ((m: string) => console.log(m))) : () => undefined;
  const dp = DataParallel.join(env, { backend: cfg.train.device === 'cpu' ? 'gloo' : 'nccl', timeoutMs: o.distTimeoutMs ?? 60_000 });
  log(`data-parallel: ${env.worldSize} processes (${env.localWorldSize} on this machine), rendezvous ${env.masterAddr}:${env.masterPort}; ` +
    `global batch ${cfg.train.batchSize} x ${env.worldSize}`);
  if (env.rank === 0) {
    checkRunFolder(cfg, out, resume);
    mkdirSync(out, { recursive: true });
  }
  const lock = env.rank === 0 ? acquireRunLock(out, { log }) : null;
  try {
    return await trainLocked(cfg, { ...o, out, resume, log }, dp, env);
  } finally {
    lock?.release();
  }
}

async function trainLocked(cfg: RunConfig, o: TrainRunOptions & { out: string; resume: boolean; log: (m: string) => void },
  dp: DataParallel | null = null, env: TorchrunEnv | null = null): Promise<TrainRunResult> {
  const { out, log } = o;
  const main = dp === null || dp.isMain;
  // On CPU the machine's cores are split between its processes.
  const threads = cfg.train.threads > 0 ? cfg.train.threads : Math.max(1, Math.floor(cpus().length / (env?.localWorldSize ?? 1)));
  setNumThreads(threads);
  log(`run ${cfg.name} (${cfg.model.kind}, ${cfg.protocol} protocol, preset ${cfg.model.preset}, ${getNumThreads()} threads) -> ${out}`);

  const sized = cfg.data.imageSize > 0 ? cfg : { ...cfg, data: { ...cfg.data, imageSize: loadPreset(cfg.model.preset).image.imageSize } };
  // A data-parallel rank on CUDA trains on its own GPU (LOCAL_RANK); the recorded run config keeps 'cuda'.
  const dataCfg = env !== null && cfg.train.device !== 'cpu' ? { ...sized, train: { ...sized.train, device: `cuda:${env.localRank}` as const } } : sized;
  // The run's own split.json, unless data.splitFile names a split shared with other runs (then copied here).
  const named = cfg.data.splitFile === null ? null : resolve(cfg.data.splitFile);
  if (!main) barrier(); // rank 0 synthesizes the data and writes the split first
  const data = await prepareData(dataCfg, o.dataRoot ?? out, { log, split: { path: named ?? join(out, 'split.json'), create: main } });
  if (named !== null && main) {
    checkRunSplit(out, data, named);
    writeFileSync(join(out, 'split.json'), JSON.stringify(data.split, null, 1) + '\n');
  }
  if (main) writeFileSync(join(out, 'run-config.json'), JSON.stringify(cfg, null, 2) + '\n');
  if (dp !== null && main) barrier();
  const m = runModelConfig(dataCfg, data.tokenizer.vocabSize);
  const tabularDim = data.featurizer?.dim ?? 0;
  manualSeed(cfg.train.seed);
  const model = buildModel(m, { vocabSize: data.tokenizer.vocabSize, tabularDim: Math.max(tabularDim, 1), specialIds: data.tokenizer });
  const iw = cfg.model.imageWeights;
  if (iw !== null && isRunFolder(iw)) log(`image tower from another run: ${loadImageTowerFromRun(model, iw)}`);
  else if (iw !== null) log(`image tower from ${iw}: ${JSON.stringify(loadPretrainedImage(model, iw, iw.includes('timm') ? 'timm' : 'hf'))}`);
  if (cfg.model.textWeights) log(`text tower from ${cfg.model.textWeights}: ${JSON.stringify(loadPretrainedText(model, cfg.model.textWeights))}`);

  if (cfg.train.device !== 'cpu') {
    if (!cudaIsAvailable()) throw new Error(`train.device is '${cfg.train.device}' but CUDA is not available in this libtorch build`);
    model.to(env === null ? cfg.train.device as Device : `cuda:${env.localRank}` as Device);
  }
  const trainItems = data.ids.train.map((id) => data.items.get(id) as PreparedItem);
  const valItems = data.ids.val.map((id) => data.items.get(id) as PreparedItem);
  if (trainItems.length < 2) throw new Error(`only ${trainItems.length} training exams: need at least 2`);
  if (cfg.train.batchSize > trainItems.length) {
    log(`warning: train.batchSize ${cfg.train.batchSize} is larger than the training split (${trainItems.length} exams): ` +
      `every batch holds all ${trainItems.length}, one optimizer step per epoch; lower train.batchSize or use more data`);
  }
  const w = cfg.loss.weights;
  const caps = model.capabilities;
  const objective = new Objective({
    weights: modelLossWeights(caps, w, tabularDim),
    labelSmoothing: cfg.loss.labelSmoothing,
    icdrClassWeights: cfg.loss.classWeights && caps.gradeHeads ? inverseFrequencyWeights(trainItems.map((x) => x.icdr), NUM_GRADES) : null,
    sdrgClassWeights: cfg.loss.classWeights && caps.gradeHeads ? inverseFrequencyWeights(trainItems.map((x) => x.sdrg), NUM_GRADES) : null,
    classWeighting: cfg.loss.classWeighting,
  });
  const source = trainBatchSource(trainItems, dataCfg, m, tabularDim, undefined, dp ?? undefined, noteMarks(data.tokenizer));
  const epochs = Math.ceil(cfg.train.steps * cfg.train.accumSteps / source.batchesPerEpoch);
  const t0 = Date.now();
  const result = await train({
    model, objective, trainBatches: source,
    valEval: valItems.length > 0 ? validator(model, valItems, m, dataCfg, tabularDim, log) : undefined,
    out,
    resume: o.resume,
    ...(dp !== null ? { dist: dp } : {}),
    config: {
      seed: cfg.train.seed, epochs, maxSteps: cfg.train.steps, lr: cfg.train.lr, warmupSteps: cfg.train.warmupSteps,
      minLrRatio: cfg.train.minLrRatio, lrScale: cfg.train.lrScale, weightDecay: cfg.train.weightDecay, clipGradNorm: cfg.train.clipGradNorm,
      clipScope: cfg.train.clipScope, accumSteps: cfg.train.accumSteps, modalityDropout: caps.modalityDropout ? cfg.train.modalityDropout : { image: 0, text: 0, tabular: 0 },
      imageOnlyShare: caps.modalityDropout ? cfg.train.imageOnlyShare : 0,
      ema: cfg.train.ema, maeMaskRatio: cfg.loss.maeMaskRatio, mlmProb: cfg.loss.mlmProb, reconFraction: cfg.loss.reconFraction, evalEvery: valItems.length > 0 ? cfg.train.evalEvery : 0,
      earlyStop: valItems.length > 0 ? { metric: caps.selectBy, mode: 'max', patience: cfg.train.patience } : null,
      checkpointEvery: cfg.train.checkpointEvery ?? cfg.train.evalEvery, logEvery: cfg.train.logEvery,
      precision: cfg.train.precision, progress: o.progress ?? 'auto',
    },
    extras: runInfoExtras({ format: RUN_FORMAT, runConfig: cfg, modelConfig: m, preprocessing: data.pre, dataset: data.datasetName, datasetPath: data.datasetPath }),
  });
  dp?.leave();
  log(`trained ${result.step} steps in ${((Date.now() - t0) / 1000).toFixed(1)} s; last checkpoint ${result.lastCheckpoint}` +
    (result.best ? `; best ${result.best.metric}=${result.best.value.toFixed(4)} at step ${result.best.step}` : ''));
  return { result, data, modelConfig: m, out };
}
