/**
 * The training loop's configuration: typed, defaulted, validated. Unknown keys are errors that
 * list the valid ones; the resolved config is saved in every checkpoint.
 *
 * @example
 *   const cfg = resolveTrainConfig({ lr: 1e-3, epochs: 5, earlyStop: { metric: 'icdr.kappa', mode: 'max', patience: 3 } });
 */
import type { Modality } from '../models/types.js';

export interface EarlyStopConfig {
  /** Name of a metric returned by valEval, e.g. 'icdr.kappa' or 'imageText.recallAt1'. */
  metric: string;
  /** Whether larger ('max') or smaller ('min') is better. */
  mode: 'max' | 'min';
  /** Stop after this many validations without improvement; 0 = never stop (still keeps `best`). */
  patience: number;
}

export interface TrainConfig {
  /** Seeds libtorch (dropout, MAE/MLM masks) and the derived data streams (epoch order, modality dropout). */
  seed: number;
  /** Passes over the training batches. */
  epochs: number;
  /** Cap on optimizer steps; null = epochs decide. */
  maxSteps: number | null;
  /** Peak learning rate. */
  lr: number;
  /** Linear warmup steps. */
  warmupSteps: number;
  /** Cosine floor as a fraction of lr. */
  minLrRatio: number;
  /** Decoupled weight decay on matrices (see param-groups.ts). */
  weightDecay: number;
  /** AdamW betas and eps (CLIP's 0.9 / 0.98 / 1e-6 by default). */
  beta1: number;
  beta2: number;
  eps: number;
  /** Max global gradient L2 norm; 0 = no clipping (the norm is still computed and checked). */
  clipGradNorm: number;
  /** Micro-batches per optimizer step (gradient accumulation). */
  accumSteps: number;
  /** Per modality, the probability that a sample hides it from the fusion (never all three). */
  modalityDropout: Record<Modality, number>;
  /** Per sample, the probability that it presents only its image to the fusion (before the per-modality draws). */
  imageOnlyShare: number;
  /** MAE: fraction of patches masked (used when the objective's mae weight is not 0). */
  maeMaskRatio: number;
  /** Fraction of each batch the MAE and MLM side passes run on (ForwardOptions.reconFraction). */
  reconFraction: number;
  /** MLM: probability a token is selected (used when the objective's mlm weight is not 0). */
  mlmProb: number;
  /** Validate every this many optimizer steps; 0 = only at the end. */
  evalEvery: number;
  /** Best-checkpoint selection and early stopping; null = no `best` checkpoint. */
  earlyStop: EarlyStopConfig | null;
  /** Write the `last` checkpoint every this many steps; 0 = only at the end. */
  checkpointEvery: number;
  /** Write a metrics.jsonl train line every this many steps. */
  logEvery: number;
  /** 'bfloat16' is refused with an explicit error until the engine has autocast (see precision.ts). */
  precision: 'float32' | 'bfloat16';
  /** 'auto': a progress bar when stdout is a TTY, plain lines otherwise; 'off': metrics.jsonl only. */
  progress: 'auto' | 'off';
}

export const DEFAULT_TRAIN_CONFIG: TrainConfig = {
  seed: 0,
  epochs: 1,
  maxSteps: null,
  lr: 1e-4,
  warmupSteps: 0,
  minLrRatio: 0.1,
  weightDecay: 0.05,
  beta1: 0.9,
  beta2: 0.98,
  eps: 1e-6,
  clipGradNorm: 1,
  accumSteps: 1,
  modalityDropout: { image: 0, text: 0, tabular: 0 },
  imageOnlyShare: 0,
  maeMaskRatio: 0.75,
  reconFraction: 1,
  mlmProb: 0.15,
  evalEvery: 0,
  earlyStop: null,
  checkpointEvery: 0,
  logEvery: 10,
  precision: 'float32',
  progress: 'auto',
};

/** Input form: any subset of the fields; modalityDropout may be partial. */
export type TrainConfigInput = Partial<Omit<TrainConfig, 'modalityDropout'>> & { modalityDropout?: Partial<Record<Modality, number>> };

function checkKeys(o: object, valid: readonly string[], where: string): void {
  for (const k of Object.keys(o)) {
    if (!valid.includes(k)) throw new Error(`${where}: unknown key '${k}' (valid: ${valid.join(', ')})`);
  }
}

function isObject(x: unknown): x is Record<string, unknown> {
  return x !== null && typeof x === 'object' && !Array.isArray(x);
}

/**
 * Defaults + validation. Every error names the field, the value and what was expected.
 * @example resolveTrainConfig({ accumSteps: 4 }).accumSteps // 4
 */
export function resolveTrainConfig(input: unknown = {}): TrainConfig {
  if (!isObject(input)) throw new Error(`train config: expected an object, got ${JSON.stringify(input)}`);
  checkKeys(input, Object.keys(DEFAULT_TRAIN_CONFIG), 'train config');
  const c: Record<string, unknown> = { ...DEFAULT_TRAIN_CONFIG, ...input };
  const bad = (k: string, want: string): never => {
    throw new Error(`train config ${k}: expected ${want}, got ${JSON.stringify(c[k])}`);
  };
  const num = (k: string, ok: (v: number) => boolean, want: string): number => {
    const v = c[k];
    if (typeof v !== 'number' || !Number.isFinite(v) || !ok(v)) bad(k, want);
    return v as number;
  };
  const int = (k: string, min: number): number => num(k, (v) => Number.isInteger(v) && v >= min, `an integer >= ${min}`);

  const md = c['modalityDropout'];
  if (!isObject(md)) bad('modalityDropout', 'an object { image, text, tabular }');
  const mdObj = md as Record<string, unknown>;
  checkKeys(mdObj, ['image', 'text', 'tabular'], 'train config modalityDropout');
  const modalityDropout = { ...DEFAULT_TRAIN_CONFIG.modalityDropout };
  for (const [k, v] of Object.entries(mdObj)) {
    if (typeof v !== 'number' || !(v >= 0 && v < 1)) throw new Error(`train config modalityDropout.${k}: expected a probability in [0, 1), got ${JSON.stringify(v)}`);
    modalityDropout[k as Modality] = v;
  }

  let earlyStop: EarlyStopConfig | null = null;
  const es = c['earlyStop'];
  if (es !== null) {
    if (!isObject(es)) bad('earlyStop', 'null or { metric, mode, patience }');
    const e = es as Record<string, unknown>;
    checkKeys(e, ['metric', 'mode', 'patience'], 'train config earlyStop');
    if (typeof e['metric'] !== 'string' || e['metric'] === '') throw new Error(`train config earlyStop.metric: expected a metric name, got ${JSON.stringify(e['metric'])}`);
    if (e['mode'] !== 'max' && e['mode'] !== 'min') throw new Error(`train config earlyStop.mode: expected 'max' or 'min', got ${JSON.stringify(e['mode'])}`);
    const patience = e['patience'] ?? 0;
    if (typeof patience !== 'number' || !Number.isInteger(patience) || patience < 0) {
      throw new Error(`train config earlyStop.patience: expected an integer >= 0, got ${JSON.stringify(patience)}`);
    }
    earlyStop = { metric: e['metric'], mode: e['mode'], patience };
  }

  const maxSteps = c['maxSteps'];
  if (maxSteps !== null && (typeof maxSteps !== 'number' || !Number.isInteger(maxSteps) || maxSteps < 1)) bad('maxSteps', 'null or an integer >= 1');
  if (c['precision'] !== 'float32' && c['precision'] !== 'bfloat16') bad('precision', "'float32' or 'bfloat16'");
  if (c['progress'] !== 'auto' && c['progress'] !== 'off') bad('progress', "'auto' or 'off'");

  return {
    seed: int('seed', 0),
    epochs: int('epochs', 1),
    maxSteps: maxSteps as number | null,
    lr: num('lr', (v) => v >= 0, 'a number >= 0'),
    warmupSteps: int('warmupSteps', 0),
    minLrRatio: num('minLrRatio', (v) => v >= 0 && v <= 1, 'a number in [0, 1]'),
    weightDecay: num('weightDecay', (v) => v >= 0, 'a number >= 0'),
    beta1: num('beta1', (v) => v >= 0 && v < 1, 'a number in [0, 1)'),
    beta2: num('beta2', (v) => v >= 0 && v < 1, 'a number in [0, 1)'),
    eps: num('eps', (v) => v > 0, 'a number > 0'),
    clipGradNorm: num('clipGradNorm', (v) => v >= 0, 'a number >= 0 (0 = off)'),
    accumSteps: int('accumSteps', 1),
    modalityDropout,
    imageOnlyShare: num('imageOnlyShare', (v) => v >= 0 && v < 1, 'a probability in [0, 1)'),
    reconFraction: num('reconFraction', (v) => v > 0 && v <= 1, 'a number in (0, 1]'),
    maeMaskRatio: num('maeMaskRatio', (v) => v >= 0 && v < 1, 'a number in [0, 1)'),
    mlmProb: num('mlmProb', (v) => v >= 0 && v < 1, 'a number in [0, 1)'),
    evalEvery: int('evalEvery', 0),
    earlyStop,
    checkpointEvery: int('checkpointEvery', 0),
    logEvery: int('logEvery', 1),
    precision: c['precision'] as TrainConfig['precision'],
    progress: c['progress'] as TrainConfig['progress'],
  };
}
