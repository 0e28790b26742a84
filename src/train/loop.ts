/**
 * The training loop. Nothing here is about a particular model: it drives any TrainableModel with
 * an Objective over batches from a BatchSource, with AdamW (decay on matrices only), warmup +
 * cosine learning rate, gradient clipping and accumulation, modality dropout, periodic validation
 * with best-checkpoint selection and early stopping, atomic checkpoints and an exact resume.
 *
 * Determinism: libtorch is seeded with config.seed at the start; the epoch order and modality
 * dropout come from streams derived from (seed, epoch) and (seed, micro-batch index); validation
 * runs with libtorch's RNG state saved and restored, so evaluating does not change training. A
 * resumed run therefore continues bit-for-bit on CPU.
 *
 * @example
 *   const result = await train({ model, objective, trainBatches, valEval, config: { lr: 3e-4, epochs: 10 }, out: 'runs/a' });
 *   // runs/a/metrics.jsonl, runs/a/last/, runs/a/best/
 */
import { mkdirSync, existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { AdamW, clipGradNorm, disposeAll, getRngState, manualSeed, setRngState, tidy, type Tensor } from '../tensor/index.js';
import type { Batch, ForwardOptions, TrainableModel } from '../models/types.js';
import type { Objective } from '../losses/index.js';
import type { Rng } from '../data/rng.js';
import { resolveTrainConfig, type TrainConfig, type TrainConfigInput } from './config.js';
import { lrAt, type ScheduleOptions } from './schedule.js';
import { paramGroups, type ParamGrouping } from './param-groups.js';
import { applyModalityDropout } from './modality-dropout.js';
import { epochRng, dropoutRng } from './streams.js';
import { autocastDevice, checkPrecision, withAutocast } from './precision.js';
import { CHECKPOINT_FORMAT, TRAIN_WEIGHTS, loadWeights, readCheckpoint, saveCheckpoint, type BestState, type LoadedCheckpoint, type LoopPosition } from '../run/checkpoint.js';
import { MetricsLog, createProgress, type Progress } from './progress.js';
import { clipGradNormByModule, moduleGradNorms } from './grad-norms.js';
import type { DataParallel } from './distributed.js';
import { WeightEma } from './ema.js';

/** Where training batches come from (data loading and collation are the caller's). */
export interface BatchSource {
  /** Micro-batches in every epoch. */
  readonly batchesPerEpoch: number;
  /**
   * The batches of `epoch`, starting at index `from` (> 0 when resuming mid-epoch). All randomness
   * (order, augmentation) must come from `rng`, which the loop derives from (seed, epoch), and
   * batch k must not depend on whether batches before `from` were produced (draw the epoch's order
   * up front, fork per batch). The loop disposes every batch's tensors after using them.
   */
  batchesForEpoch(epoch: number, rng: Rng, from: number): Iterable<Batch> | AsyncIterable<Batch>;
}

/** Validation: any metrics, as plain numbers (run forward with training: false, under noGrad). */
export type ValEval = (ctx: { step: number; epoch: number }) => Record<string, number> | Promise<Record<string, number>>;

export interface StepInfo {
  step: number;
  epoch: number;
  lr: number;
  /** Weighted total, mean over the step's micro-batches. */
  loss: number;
  /** Unweighted parts, mean over the micro-batches that computed them. */
  parts: Record<string, number>;
  /** Global gradient norm before clipping. */
  gradNorm: number;
  samples: number;
}

export interface TrainHooks {
  /** After every optimizer step (and after that step's validation and checkpoints). */
  onStep?(info: StepInfo): void | Promise<void>;
  onEval?(info: { step: number; metrics: Record<string, number>; improved: boolean; best: BestState | null }): void | Promise<void>;
  onCheckpoint?(info: { kind: 'last' | 'best'; dir: string; step: number }): void | Promise<void>;
}

export interface TrainArgs {
  model: TrainableModel;
  objective: Objective;
  trainBatches: BatchSource;
  valEval?: ValEval;
  config: TrainConfigInput;
  hooks?: TrainHooks;
  /** Run folder: metrics.jsonl, last/, best/. */
  out: string;
  /** Continue from a checkpoint: true = `<out>/last`, or a checkpoint folder. */
  resume?: boolean | string;
  /** JSON-serializable data stored in every checkpoint (tokenizer vocab, tabular/image stats, run config). */
  extras?: Record<string, unknown>;
  /**
   * Data-parallel training (src/train/distributed.ts): this process's rank in a joined group. Each
   * rank's trainBatches must yield its own shard (shardBatches); rank 0 alone writes the run's files.
   * Absent (or world size 1): the one-process loop, unchanged.
   */
  dist?: DataParallel;
}

export interface TrainResult {
  step: number;
  epoch: number;
  stoppedEarly: boolean;
  best: BestState | null;
  lastCheckpoint: string;
  bestCheckpoint: string | null;
}

/**
 * A NaN/Inf loss part or gradient norm; training stopped before it touched the parameters.
 * `step` is the 1-based optimizer step that failed (as in metrics.jsonl: the last good state is step - 1).
 */
export class NonFiniteLossError extends Error {
  constructor(readonly step: number, readonly part: string, readonly value: number, readonly lastCheckpoint: string | null) {
    super(`non-finite ${part === 'gradient norm' ? part : `loss part '${part}'`} (${value}) at step ${step}: training stopped; ` +
      (lastCheckpoint === null ? 'no checkpoint was written yet' : `the last good checkpoint is ${lastCheckpoint}`));
    this.name = 'NonFiniteLossError';
  }
}

/** Config keys a resume may change (they do not alter the math of the steps already taken). */
const RESUME_MAY_CHANGE = ['epochs', 'maxSteps', 'evalEvery', 'checkpointEvery', 'logEvery', 'progress', 'earlyStop'];

/**
 * Trains `model`; resolves when done (steps exhausted or early stop), rejects on errors.
 * The stages, in the order they run: setUp, resumeOrStart, beginRun, then runEpoch until the steps
 * are done (microStep per batch, optimizerStep and logStep every accumSteps micro-batches,
 * validate and save on their schedules), then a final validation and checkpoint. With train.ema on,
 * the model ends holding the moving average (what the last checkpoint hands to inference).
 */
export async function train(args: TrainArgs): Promise<TrainResult> {
  const setup = setUp(args);
  const run = beginRun(setup, resumeOrStart(setup, args.resume));
  const { pos } = run;
  try {
    while (pos.step < run.totalSteps && !pos.stoppedEarly) await runEpoch(run);
    if (run.lastEvalStep !== pos.step) await validate(run); // the final validation (its patience verdict no longer matters)
    if (run.lastSavedStep !== pos.step) await save(run, 'last');
    run.ema?.applyTo(run.named); // the model ends as its last checkpoint's weights.safetensors: the average
  } catch (e) {
    if (e instanceof NonFiniteLossError) run.log.write({ type: 'error', step: e.step, part: e.part, value: String(e.value), message: e.message });
    throw e;
  } finally {
    run.progress.stop();
    run.ema?.dispose(); // also when training fails: the shadow copies are not left behind
  }
  return { step: pos.step, epoch: pos.epoch, stoppedEarly: pos.stoppedEarly, best: pos.best, lastCheckpoint: run.lastDir, bestCheckpoint: run.bestSaved };
}

/** What a run fixes before its first step: the resolved config, the optimizer, the schedule, the folders. */
interface Setup {
  model: TrainableModel;
  objective: Objective;
  source: BatchSource;
  valEval: ValEval | undefined;
  hooks: TrainHooks;
  extras: Record<string, unknown>;
  out: string;
  cfg: TrainConfig;
  batchesPerEpoch: number;
  grouping: ParamGrouping;
  named: Map<string, Tensor>;
  opt: AdamW;
  /** The device autocast runs on (precision 'bfloat16'), null for float32. */
  autocast: ReturnType<typeof autocastDevice>;
  fwd: ForwardOptions;
  totalSteps: number;
  schedule: ScheduleOptions;
  lastDir: string;
  bestDir: string;
  /** Set only when more than one rank trains. */
  dist: DataParallel | null;
}

/** Where a run starts: the loop position and the checkpoints already written. */
interface Start {
  pos: LoopPosition;
  /** The moving average of the weights (cfg.ema > 0), null when off. */
  ema: WeightEma | null;
  /** The newest `last` checkpoint (named by a NonFiniteLossError), null before the first. */
  lastGood: string | null;
  bestSaved: string | null;
}

/** A run in progress: its setup, position, output, and when it last validated and saved. */
interface Run extends Setup, Start {
  log: Pick<MetricsLog, 'write'>;
  progress: Progress;
  /** Wall clock and step at this process's start, and samples seen since (for samples/s). */
  t0: number;
  startStep: number;
  samplesTotal: number;
  lastEvalStep: number;
  lastSavedStep: number;
}

/** Resolves the config and builds the optimizer (AdamW, decay on matrices only) and the schedule. */
function setUp(args: TrainArgs): Setup {
  const { model, objective, trainBatches: source, valEval, hooks = {}, out } = args;
  const cfg: TrainConfig = resolveTrainConfig(args.config);
  const bpe = source.batchesPerEpoch;
  if (!Number.isInteger(bpe) || bpe < 1) throw new Error(`train: BatchSource.batchesPerEpoch must be an integer >= 1, got ${bpe}`);
  const grouping = paramGroups(model, cfg.weightDecay, cfg.lrScale);
  checkPrecision(cfg.precision, grouping.params);
  const autocast = autocastDevice(cfg.precision, grouping.params);
  const named = model.namedParameters();
  const opt = new AdamW(grouping.groups, { lr: cfg.lr, beta1: cfg.beta1, beta2: cfg.beta2, eps: cfg.eps });
  const stepsPerEpoch = Math.ceil(bpe / cfg.accumSteps);
  const totalSteps = Math.min(cfg.maxSteps ?? Number.POSITIVE_INFINITY, cfg.epochs * stepsPerEpoch);
  const schedule = { lr: cfg.lr, warmupSteps: cfg.warmupSteps, totalSteps, minLrRatio: cfg.minLrRatio };
  const fwd = objective.forwardOptions(true, cfg);
  mkdirSync(out, { recursive: true });
  return { model, objective, source, valEval, hooks, extras: args.extras ?? {}, out, cfg, batchesPerEpoch: bpe, grouping, named, opt,
    autocast, fwd, totalSteps, schedule, lastDir: join(out, 'last'), bestDir: join(out, 'best'),
    dist: args.dist !== undefined && args.dist.worldSize > 1 ? args.dist : null };
}

/**
 * A resume loads the checkpoint's weights, optimizer moments, libtorch RNG state and loop position
 * (after checking it belongs to this model, config and objective); a fresh run refuses a folder
 * that holds a run and seeds libtorch.
 */
function resumeOrStart(s: Setup, resume: TrainArgs['resume']): Start {
  if (resume === undefined || resume === false) {
    if (existsSync(join(s.lastDir, 'state.json'))) {
      throw new Error(`train: ${s.out} already holds a run (${s.lastDir}); resume it or choose another output folder`);
    }
    if (s.dist === null || s.dist.isMain) rmSync(s.bestDir, { recursive: true, force: true }); // a crashed run's `best` without a `last`: not this run's
    // Other ranks draw their own libtorch streams (dropout, masks); parameters come from rank 0.
    manualSeed(s.dist === null || s.dist.isMain ? s.cfg.seed : s.cfg.seed + 7919 * s.dist.rank);
    s.dist?.broadcastParameters(s.named.values());
    return { pos: { step: 0, epoch: 0, batchInEpoch: 0, best: null, badEvals: 0, stoppedEarly: false }, ema: startEma(s), lastGood: null, bestSaved: null };
  }
  const ck = readCheckpoint(resume === true ? s.lastDir : resume);
  checkResumable(s, ck);
  // With an average, weights.safetensors holds it and train-weights.safetensors the live weights.
  loadWeights(s.model, ck.weights, ck.dir);
  const ema = startEma(s); // from the average just loaded
  if (ema !== null) {
    if (ck.trainWeights === undefined) throw new Error(`resume: ${ck.dir} has no ${TRAIN_WEIGHTS} (the live weights of a run with train.ema on)`);
    loadWeights(s.model, ck.trainWeights, join(ck.dir, TRAIN_WEIGHTS));
  }
  s.opt.loadState(ck.optimizer);
  const rng = s.dist === null || s.dist.isMain ? ck.state.torchRng : ck.state.dist?.torchRng[s.dist.rank];
  if (rng === undefined) throw new Error(`resume: ${ck.dir}/state.json holds no libtorch RNG state for rank ${s.dist?.rank}`);
  setRngState(new Uint8Array(Buffer.from(rng, 'base64')));
  const st = ck.state;
  return {
    pos: { step: st.step, epoch: st.epoch, batchInEpoch: st.batchInEpoch, best: st.best, badEvals: st.badEvals, stoppedEarly: st.stoppedEarly },
    ema,
    lastGood: ck.dir,
    bestSaved: existsSync(join(s.bestDir, 'state.json')) ? s.bestDir : null,
  };
}

/** The moving average of the weights (train.ema > 0), starting at the model's present weights; null when off. */
function startEma(s: Setup): WeightEma | null {
  return s.cfg.ema > 0 ? new WeightEma(s.named, s.cfg.ema) : null;
}

/** A checkpoint continues this run only if the model, the objective and every key outside RESUME_MAY_CHANGE match. */
function checkResumable(s: Setup, ck: LoadedCheckpoint): void {
  const { cfg, model, objective } = s;
  if (ck.state.model !== model.name) throw new Error(`resume: ${ck.dir} was written by model '${ck.state.model}', not '${model.name}'`);
  const world = s.dist?.worldSize ?? 1;
  if ((ck.state.dist?.worldSize ?? 1) !== world) {
    throw new Error(`resume: ${ck.dir} was written by a run of ${ck.state.dist?.worldSize ?? 1} processes, this one has ${world}: ` +
      'an exact resume needs the same world size (the shards, the global batch and the RNG states depend on it)');
  }
  // Through the schema: a checkpoint written before a field existed reads as that field's default.
  const ckCfg = resolveTrainConfig(ck.state.config);
  const changed = Object.keys(cfg).filter((k) => !RESUME_MAY_CHANGE.includes(k) &&
    JSON.stringify(cfg[k as keyof TrainConfig]) !== JSON.stringify(ckCfg[k as keyof TrainConfig]));
  if (changed.length > 0) {
    throw new Error(`resume: the config differs from ${ck.dir}/state.json in ${changed.map((k) => `${k} (checkpoint ${JSON.stringify(ckCfg[k as keyof TrainConfig])}, now ${JSON.stringify(cfg[k as keyof TrainConfig])})`).join(', ')}; ` +
      `a resume may only change ${RESUME_MAY_CHANGE.join(', ')}`);
  }
  if (JSON.stringify(objective.config) !== JSON.stringify(ck.state.objective)) {
    throw new Error(`resume: the objective differs from ${ck.dir}/state.json (checkpoint ${JSON.stringify(ck.state.objective)}, now ${JSON.stringify(objective.config)})`);
  }
}

/** Opens metrics.jsonl (dropping lines past the resumed step) and the progress display; prints the resolved config. */
function beginRun(s: Setup, start: Start): Run {
  const { cfg, totalSteps, grouping } = s;
  const { pos, lastGood } = start;
  const main = s.dist === null || s.dist.isMain;
  const log = main ? new MetricsLog(join(s.out, 'metrics.jsonl'), pos.step) : { write: (): void => undefined };
  log.write({ type: 'start', step: pos.step, totalSteps, resumedFrom: lastGood, model: s.model.name, config: cfg, objective: s.objective.config,
    params: { decay: grouping.decay.length, noDecay: grouping.noDecay.length, frozen: grouping.frozen.length } });
  const progress = createProgress(main ? cfg.progress : 'off', totalSteps, pos.step, cfg.logEvery);
  progress.note(`train config: ${JSON.stringify(cfg)}`);
  // A run that resumes where the last one validated (or finished) does not validate that step again.
  const lastEvalStep = pos.step >= totalSteps || pos.stoppedEarly || (cfg.evalEvery > 0 && pos.step % cfg.evalEvery === 0) ? pos.step : -1;
  return { ...s, ...start, log, progress, t0: Date.now(), startStep: pos.step, samplesTotal: 0, lastEvalStep,
    lastSavedStep: lastGood !== null ? pos.step : -1 };
}

/** Sums over one optimizer step's micro-batches. */
interface StepSums { loss: number; n: number; samples: number; parts: Record<string, { sum: number; n: number }> }
const emptySums = (): StepSums => ({ loss: 0, n: 0, samples: 0, parts: {} });

/**
 * The rest of the current epoch: a micro-step per batch, an optimizer step every accumSteps
 * micro-batches and at the epoch's end, then validation and a checkpoint when they are due.
 * Returns at the epoch's end, when the steps are done or when early stopping ends the run.
 */
async function runEpoch(run: Run): Promise<void> {
  const { cfg, pos, batchesPerEpoch: bpe } = run;
  const epoch = pos.epoch;
  let seen = pos.batchInEpoch;
  let micro = 0;
  let sums = emptySums();
  for await (const batch of run.source.batchesForEpoch(epoch, epochRng(cfg.seed, epoch), seen)) {
    if (++seen > bpe) throw new Error(`BatchSource yielded more than batchesPerEpoch (${bpe}) batches in epoch ${epoch}`);
    sums.samples += batch.size;
    const r = microStep(run, batch, pos.step * cfg.accumSteps + micro);
    micro++;
    if (r !== null) {
      sums.loss += r.loss;
      sums.n++;
      for (const [k, v] of Object.entries(r.parts)) {
        const a = (sums.parts[k] ??= { sum: 0, n: 0 });
        a.sum += v;
        a.n++;
      }
    }
    if (micro < cfg.accumSteps && seen < bpe) continue;

    const step = await optimizerStep(run, seen);
    const info = logStep(run, epoch, sums, step);
    micro = 0;
    sums = emptySums();
    if (cfg.evalEvery > 0 && pos.step % cfg.evalEvery === 0 && (await validate(run))) pos.stoppedEarly = true;
    if (cfg.checkpointEvery > 0 && pos.step % cfg.checkpointEvery === 0) {
      await save(run, 'last');
      run.lastSavedStep = pos.step;
    }
    await run.hooks.onStep?.(info);
    if (pos.step >= run.totalSteps || pos.stoppedEarly || seen === bpe) return;
  }
  if (pos.epoch === epoch) throw new Error(`BatchSource yielded ${seen} batches in epoch ${epoch}, batchesPerEpoch says ${bpe}`);
}

/**
 * One micro-batch: modality dropout, forward and objective (under autocast), finite check, backward
 * (scaled for accumulation). Null when the batch has nothing to learn from. Disposes the batch.
 */
function microStep(run: Run, batch: Batch, microIndex: number): { loss: number; parts: Record<string, number> } | null {
  const { cfg, pos, model, objective } = run;
  try {
    return tidy(() => {
      // Each rank its own draws for its rows (the same stream would drop the same rows' modalities on every rank).
      const drops = run.dist === null ? dropoutRng(cfg.seed, microIndex) : dropoutRng(cfg.seed, microIndex).fork(1 + run.dist.rank);
      const b = applyModalityDropout(batch, cfg.modalityDropout, drops, cfg.imageOnlyShare);
      // Forward and losses under autocast (bf16 matmuls); backward outside it, as torch.autocast.
      const { total, parts } = withAutocast(run.autocast, () => {
        const out = model.forward(b, run.fwd);
        if (run.dist === null) return objective.compute(out, b);
        const g = run.dist.globalContrastive(out, b); // contrastive parts over the global batch
        return objective.compute(g.out, g.batch);
      });
      for (const [k, v] of Object.entries(parts)) if (!Number.isFinite(v)) throw new NonFiniteLossError(pos.step + 1, k, v, run.lastGood);
      if (Object.keys(parts).length === 0) return null; // nothing to learn from this batch
      const loss = total.item();
      if (!Number.isFinite(loss)) throw new NonFiniteLossError(pos.step + 1, 'total', loss, run.lastGood);
      (cfg.accumSteps > 1 ? total.div(cfg.accumSteps) : total).backward();
      return { loss, parts };
    });
  } finally {
    disposeAll(batch);
  }
}

/**
 * Clips the gradients to `maxNorm`: all together (cfg.clipScope 'global'), or each top-level
 * module's on its own ('module'). Returns the global norm before clipping (finite check, logs).
 */
function clipGradients(run: Run, maxNorm: number): number {
  return run.cfg.clipScope === 'global' ? clipGradNorm(run.grouping.params, maxNorm) : clipGradNormByModule(run.named, maxNorm);
}

/**
 * The optimizer step on the accumulated gradients: learning rate from the schedule (times each
 * parameter group's train.lrScale multiplier), per-module norms (on logged steps), clipping, a
 * finite check before any parameter changes, then the step; advances the loop position past the
 * `seen` micro-batches of this epoch.
 */
async function optimizerStep(run: Run, seen: number): Promise<{ lr: number; gradNorm: number; gradNorms: Record<string, number> | null }> {
  const { cfg, pos, opt } = run;
  const lr = lrAt(pos.step, run.schedule);
  run.grouping.lrScales.forEach((k, i) => opt.setLr(lr * k, i));
  run.dist?.syncGradients(run.grouping.params); // the mean over ranks: every rank takes the same step
  const logging = (pos.step + 1) % cfg.logEvery === 0 || pos.step + 1 === run.totalSteps;
  const gradNorms = logging ? moduleGradNorms(run.named) : null; // before clipping: where the gradient goes
  const gradNorm = clipGradients(run, cfg.clipGradNorm > 0 ? cfg.clipGradNorm : Number.POSITIVE_INFINITY);
  if (!Number.isFinite(gradNorm)) throw new NonFiniteLossError(pos.step + 1, 'gradient norm', gradNorm, run.lastGood);
  opt.step();
  opt.zeroGrad();
  pos.step++;
  run.ema?.update(run.named, pos.step);
  // Give the event loop a turn every step: V8 frees ArrayBuffer backing stores and runs
  // Node-API finalizers from tasks on the loop; a loop that never yields (a synchronous
  // batch source) grows RSS by hundreds of MB per step although no tensor leaks.
  await yieldToEventLoop();
  pos.batchInEpoch = seen;
  if (seen === run.batchesPerEpoch) {
    pos.epoch++;
    pos.batchInEpoch = 0;
  }
  return { lr, gradNorm, gradNorms };
}

/** The step's means over its micro-batches: a train line in metrics.jsonl every logEvery steps, and the progress display. */
function logStep(run: Run, epoch: number, sums: StepSums, step: { lr: number; gradNorm: number; gradNorms: Record<string, number> | null }): StepInfo {
  const { cfg, pos } = run;
  const { lr, gradNorm, gradNorms } = step;
  let parts = Object.fromEntries(Object.entries(sums.parts).map(([k, a]) => [k, a.sum / a.n]));
  let loss = sums.n > 0 ? sums.loss / sums.n : Number.NaN;
  let samples = sums.samples;
  if (run.dist !== null) {
    // The whole job's step: parts and loss averaged over ranks (each rank computed the same parts), samples summed.
    const keys = Object.keys(parts);
    const m = run.dist.meanOf([loss, samples, ...keys.map((k) => parts[k] as number)]);
    loss = m[0] as number;
    samples = Math.round((m[1] as number) * run.dist.worldSize);
    parts = Object.fromEntries(keys.map((k, i) => [k, m[i + 2] as number]));
  }
  run.samplesTotal += samples;
  const info: StepInfo = { step: pos.step, epoch, lr, loss, parts, gradNorm, samples };
  const sps = run.samplesTotal / Math.max(1e-3, (Date.now() - run.t0) / 1000);
  if (pos.step % cfg.logEvery === 0 || pos.step === run.totalSteps) {
    run.log.write({ type: 'train', step: pos.step, epoch, lr, loss: info.loss, parts, gradNorm, gradNorms, samples, samplesPerSec: sps,
      elapsedSec: (Date.now() - run.t0) / 1000, stepsThisRun: pos.step - run.startStep });
  }
  run.progress.update({ step: pos.step, loss: info.loss, parts, samplesPerSec: sps, lr, gradNorms });
  return info;
}

/**
 * Runs valEval with libtorch's RNG state saved and restored (validating does not change training),
 * tracks the best value of earlyStop.metric and saves `best` when it improves. True when early
 * stopping's patience has run out.
 */
async function validate(run: Run): Promise<boolean> {
  const { pos, valEval } = run;
  if (valEval === undefined) return false;
  run.lastEvalStep = pos.step;
  const rng = getRngState();
  const ctx = { step: pos.step, epoch: pos.epoch };
  const metrics = run.ema === null ? await valEval(ctx) : await run.ema.with(run.named, () => valEval(ctx));
  setRngState(rng);
  let improved = false;
  const es = run.cfg.earlyStop;
  if (es !== null) {
    const v = metrics[es.metric];
    if (typeof v !== 'number') throw new Error(`valEval returned no metric '${es.metric}' (earlyStop.metric); it returned: ${Object.keys(metrics).join(', ') || 'nothing'}`);
    const b = pos.best;
    improved = Number.isFinite(v) && (b === null || (es.mode === 'max' ? v > b.value : v < b.value));
    if (improved) {
      pos.best = { metric: es.metric, mode: es.mode, value: v, step: pos.step };
      pos.badEvals = 0;
    } else pos.badEvals++;
  }
  run.log.write({ type: 'val', step: pos.step, epoch: pos.epoch, metrics, improved, best: pos.best });
  run.progress.note(`val step ${pos.step}: ${Object.entries(metrics).map(([k, v]) => `${k} ${v.toPrecision(4)}`).join(' ')}${improved ? ' (best)' : ''}`);
  await run.hooks.onEval?.({ step: pos.step, metrics, improved, best: pos.best });
  if (improved) await save(run, 'best');
  return es !== null && es.patience > 0 && pos.badEvals >= es.patience;
}

/** Writes the `last` or `best` checkpoint: weights, optimizer, loop position, RNG states, configs and extras. */
async function save(run: Run, kind: 'last' | 'best'): Promise<void> {
  const { pos, cfg } = run;
  const dir = kind === 'last' ? run.lastDir : run.bestDir;
  // Every rank's libtorch RNG state (a collective: all ranks save together); rank 0 writes.
  const rngs = run.dist?.gatherBytes(getRngState()) ?? null;
  if (run.dist !== null && !run.dist.isMain) {
    if (kind === 'last') run.lastGood = dir;
    else run.bestSaved = dir;
    return;
  }
  saveCheckpoint(dir, {
    weights: run.ema?.shadow ?? run.named,
    ...(run.ema === null ? {} : { trainWeights: run.named }),
    optimizer: run.opt.saveState(),
    state: {
      format: CHECKPOINT_FORMAT, model: run.model.name, ...pos,
      torchRng: Buffer.from(getRngState()).toString('base64'),
      dataRng: { seed: cfg.seed, epoch: pos.epoch, batchInEpoch: pos.batchInEpoch, step: pos.step },
      config: cfg, objective: run.objective.config, extras: run.extras,
      ...(rngs === null || run.dist === null ? {} : { dist: { worldSize: run.dist.worldSize, torchRng: rngs.map((b) => Buffer.from(b).toString('base64')) } }),
    },
  });
  if (kind === 'last') run.lastGood = dir;
  else run.bestSaved = dir;
  await run.hooks.onCheckpoint?.({ kind, dir, step: pos.step });
}

function yieldToEventLoop(): Promise<void> {
  return new Promise((r) => setImmediate(r));
}
