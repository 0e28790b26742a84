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
import type { Batch, TrainableModel } from '../models/types.js';
import type { Objective } from '../losses/index.js';
import type { Rng } from '../data/rng.js';
import { resolveTrainConfig, type TrainConfig, type TrainConfigInput } from './config.js';
import { lrAt } from './schedule.js';
import { paramGroups } from './param-groups.js';
import { applyModalityDropout } from './modality-dropout.js';
import { epochRng, dropoutRng } from './streams.js';
import { autocastDevice, checkPrecision, withAutocast } from './precision.js';
import { CHECKPOINT_FORMAT, loadWeights, readCheckpoint, saveCheckpoint, type BestState, type LoopPosition } from './checkpoint.js';
import { MetricsLog, createProgress } from './progress.js';

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
 * Global gradient L2 norm per top-level module (the first segment of the parameter name: image,
 * text, tabular, fusion, heads...), so a log shows which tower the loss actually teaches.
 */
export function moduleGradNorms(named: ReadonlyMap<string, Tensor>): Record<string, number> {
  const sq: Record<string, number> = {};
  tidy(() => {
    for (const [name, p] of named) {
      const g = p.grad;
      if (g === null) continue;
      const key = name.split('.')[0] as string;
      sq[key] = (sq[key] ?? 0) + g.pow(2).sum().item();
    }
  });
  return Object.fromEntries(Object.entries(sq).map(([k, v]) => [k, Math.sqrt(v)]));
}

/** Trains `model`; resolves when done (steps exhausted or early stop), rejects on errors. */
const yieldToEventLoop = (): Promise<void> => new Promise((r) => setImmediate(r));

export async function train(args: TrainArgs): Promise<TrainResult> {
  const { model, objective, trainBatches: source, valEval, hooks = {}, out } = args;
  const cfg: TrainConfig = resolveTrainConfig(args.config);
  const bpe = source.batchesPerEpoch;
  if (!Number.isInteger(bpe) || bpe < 1) throw new Error(`train: BatchSource.batchesPerEpoch must be an integer >= 1, got ${bpe}`);
  const grouping = paramGroups(model, cfg.weightDecay);
  checkPrecision(cfg.precision, grouping.params);
  const autocast = autocastDevice(cfg.precision, grouping.params);
  const named = model.namedParameters();
  const opt = new AdamW(grouping.groups, { lr: cfg.lr, beta1: cfg.beta1, beta2: cfg.beta2, eps: cfg.eps });
  const stepsPerEpoch = Math.ceil(bpe / cfg.accumSteps);
  const totalSteps = Math.min(cfg.maxSteps ?? Number.POSITIVE_INFINITY, cfg.epochs * stepsPerEpoch);
  const schedule = { lr: cfg.lr, warmupSteps: cfg.warmupSteps, totalSteps, minLrRatio: cfg.minLrRatio };
  const fwd = objective.forwardOptions(true, cfg);
  mkdirSync(out, { recursive: true });
  const lastDir = join(out, 'last');
  const bestDir = join(out, 'best');

  let pos: LoopPosition = { step: 0, epoch: 0, batchInEpoch: 0, best: null, badEvals: 0, stoppedEarly: false };
  let lastGood: string | null = null;
  let bestSaved: string | null = null;
  if (args.resume !== undefined && args.resume !== false) {
    const from = args.resume === true ? lastDir : args.resume;
    const ck = readCheckpoint(from);
    if (ck.state.model !== model.name) throw new Error(`resume: ${ck.dir} was written by model '${ck.state.model}', not '${model.name}'`);
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
    loadWeights(model, ck.weights, ck.dir);
    opt.loadState(ck.optimizer);
    setRngState(new Uint8Array(Buffer.from(ck.state.torchRng, 'base64')));
    const s = ck.state;
    pos = { step: s.step, epoch: s.epoch, batchInEpoch: s.batchInEpoch, best: s.best, badEvals: s.badEvals, stoppedEarly: s.stoppedEarly };
    lastGood = ck.dir;
    if (existsSync(join(bestDir, 'state.json'))) bestSaved = bestDir;
  } else {
    if (existsSync(join(lastDir, 'state.json'))) {
      throw new Error(`train: ${out} already holds a run (${lastDir}); resume it or choose another output folder`);
    }
    rmSync(bestDir, { recursive: true, force: true }); // a crashed run's `best` without a `last`: not this run's
    manualSeed(cfg.seed);
  }

  const log = new MetricsLog(join(out, 'metrics.jsonl'), pos.step);
  log.write({ type: 'start', step: pos.step, totalSteps, resumedFrom: lastGood, model: model.name, config: cfg, objective: objective.config,
    params: { decay: grouping.decay.length, noDecay: grouping.noDecay.length, frozen: grouping.frozen.length } });
  const progress = createProgress(cfg.progress, totalSteps, pos.step, cfg.logEvery);
  progress.note(`train config: ${JSON.stringify(cfg)}`);

  const save = async (kind: 'last' | 'best'): Promise<void> => {
    const dir = kind === 'last' ? lastDir : bestDir;
    saveCheckpoint(dir, {
      weights: named,
      optimizer: opt.saveState(),
      state: {
        format: CHECKPOINT_FORMAT, model: model.name, ...pos,
        torchRng: Buffer.from(getRngState()).toString('base64'),
        dataRng: { seed: cfg.seed, epoch: pos.epoch, batchInEpoch: pos.batchInEpoch, step: pos.step },
        config: cfg, objective: objective.config, extras: args.extras ?? {},
      },
    });
    if (kind === 'last') lastGood = dir;
    else bestSaved = dir;
    await hooks.onCheckpoint?.({ kind, dir, step: pos.step });
  };

  let lastEvalStep = pos.step >= totalSteps || pos.stoppedEarly || (cfg.evalEvery > 0 && pos.step % cfg.evalEvery === 0) ? pos.step : -1;
  const validate = async (): Promise<boolean> => {
    if (valEval === undefined) return false;
    lastEvalStep = pos.step;
    const rng = getRngState();
    const metrics = await valEval({ step: pos.step, epoch: pos.epoch });
    setRngState(rng);
    let improved = false;
    const es = cfg.earlyStop;
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
    log.write({ type: 'val', step: pos.step, epoch: pos.epoch, metrics, improved, best: pos.best });
    progress.note(`val step ${pos.step}: ${Object.entries(metrics).map(([k, v]) => `${k} ${v.toPrecision(4)}`).join(' ')}${improved ? ' (best)' : ''}`);
    await hooks.onEval?.({ step: pos.step, metrics, improved, best: pos.best });
    if (improved) await save('best');
    return es !== null && es.patience > 0 && pos.badEvals >= es.patience;
  };

  // Micro-batch: forward, objective, finite check, backward (scaled for accumulation).
  const microStep = (batch: Batch, microIndex: number): { loss: number; parts: Record<string, number> } | null => {
    try {
      return tidy(() => {
        const b = applyModalityDropout(batch, cfg.modalityDropout, dropoutRng(cfg.seed, microIndex), cfg.imageOnlyShare);
        // Forward and losses under autocast (bf16 matmuls); backward outside it, as torch.autocast.
        const { total, parts } = withAutocast(autocast, () => objective.compute(model.forward(b, fwd), b));
        for (const [k, v] of Object.entries(parts)) if (!Number.isFinite(v)) throw new NonFiniteLossError(pos.step + 1, k, v, lastGood);
        if (Object.keys(parts).length === 0) return null; // nothing to learn from this batch
        const loss = total.item();
        if (!Number.isFinite(loss)) throw new NonFiniteLossError(pos.step + 1, 'total', loss, lastGood);
        (cfg.accumSteps > 1 ? total.div(cfg.accumSteps) : total).backward();
        return { loss, parts };
      });
    } finally {
      disposeAll(batch);
    }
  };

  const t0 = Date.now();
  const startStep = pos.step;
  let samplesTotal = 0;
  let lastSavedStep = lastGood !== null ? pos.step : -1;
  try {
    outer: while (pos.step < totalSteps && !pos.stoppedEarly) {
      const epoch = pos.epoch;
      let seen = pos.batchInEpoch;
      let micro = 0;
      let acc = { loss: 0, n: 0, samples: 0, parts: {} as Record<string, { sum: number; n: number }> };
      for await (const batch of source.batchesForEpoch(epoch, epochRng(cfg.seed, epoch), seen)) {
        if (++seen > bpe) throw new Error(`BatchSource yielded more than batchesPerEpoch (${bpe}) batches in epoch ${epoch}`);
        acc.samples += batch.size;
        const r = microStep(batch, pos.step * cfg.accumSteps + micro);
        micro++;
        if (r !== null) {
          acc.loss += r.loss;
          acc.n++;
          for (const [k, v] of Object.entries(r.parts)) {
            const a = (acc.parts[k] ??= { sum: 0, n: 0 });
            a.sum += v;
            a.n++;
          }
        }
        if (micro < cfg.accumSteps && seen < bpe) continue;

        // Optimizer step.
        const lr = lrAt(pos.step, schedule);
        opt.setLr(lr);
        const logging = (pos.step + 1) % cfg.logEvery === 0 || pos.step + 1 === totalSteps;
        const gradNorms = logging ? moduleGradNorms(named) : null; // before clipping: where the gradient goes
        const gradNorm = clipGradNorm(grouping.params, cfg.clipGradNorm > 0 ? cfg.clipGradNorm : Number.POSITIVE_INFINITY);
        if (!Number.isFinite(gradNorm)) throw new NonFiniteLossError(pos.step + 1, 'gradient norm', gradNorm, lastGood);
        opt.step();
        opt.zeroGrad();
        pos.step++;
        // Give the event loop a turn every step: V8 frees ArrayBuffer backing stores and runs
        // Node-API finalizers from tasks on the loop; a loop that never yields (a synchronous
        // batch source) grows RSS by hundreds of MB per step although no tensor leaks.
        await yieldToEventLoop();
        pos.batchInEpoch = seen;
        if (seen === bpe) {
          pos.epoch++;
          pos.batchInEpoch = 0;
        }
        samplesTotal += acc.samples;
        const parts = Object.fromEntries(Object.entries(acc.parts).map(([k, a]) => [k, a.sum / a.n]));
        const info: StepInfo = { step: pos.step, epoch, lr, loss: acc.n > 0 ? acc.loss / acc.n : Number.NaN, parts, gradNorm, samples: acc.samples };
        const sps = samplesTotal / Math.max(1e-3, (Date.now() - t0) / 1000);
        if (pos.step % cfg.logEvery === 0 || pos.step === totalSteps) {
          log.write({ type: 'train', step: pos.step, epoch, lr, loss: info.loss, parts, gradNorm, gradNorms, samples: acc.samples, samplesPerSec: sps,
            elapsedSec: (Date.now() - t0) / 1000, stepsThisRun: pos.step - startStep });
        }
        progress.update({ step: pos.step, loss: info.loss, parts, samplesPerSec: sps, lr, gradNorms });
        micro = 0;
        acc = { loss: 0, n: 0, samples: 0, parts: {} };

        if (cfg.evalEvery > 0 && pos.step % cfg.evalEvery === 0 && (await validate())) pos.stoppedEarly = true;
        if (cfg.checkpointEvery > 0 && pos.step % cfg.checkpointEvery === 0) {
          await save('last');
          lastSavedStep = pos.step;
        }
        await hooks.onStep?.(info);
        if (pos.step >= totalSteps || pos.stoppedEarly) break outer;
        if (seen === bpe) break;
      }
      if (pos.epoch === epoch) throw new Error(`BatchSource yielded ${seen} batches in epoch ${epoch}, batchesPerEpoch says ${bpe}`);
    }
    if (lastEvalStep !== pos.step) await validate(); // the final validation (its patience verdict no longer matters)
    if (lastSavedStep !== pos.step) await save('last');
  } catch (e) {
    if (e instanceof NonFiniteLossError) log.write({ type: 'error', step: e.step, part: e.part, value: String(e.value), message: e.message });
    throw e;
  } finally {
    progress.stop();
  }
  return { step: pos.step, epoch: pos.epoch, stoppedEarly: pos.stoppedEarly, best: pos.best, lastCheckpoint: lastDir, bestCheckpoint: bestSaved };
}
