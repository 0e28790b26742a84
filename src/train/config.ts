/**
 * The training loop's configuration: one schema (src/config/schema.ts) gives the type, the
 * defaults and the validation; unknown keys are errors that list the valid ones; the resolved
 * config is saved in every checkpoint.
 *
 * @example
 *   const cfg = resolveTrainConfig({ lr: 1e-3, epochs: 5, earlyStop: { metric: 'icdr_kappa', mode: 'max', patience: 3 } });
 */
import type { Modality } from '../models/types.js';
import { literals, orNull, resolveSchema, section, Type, type DeepPartial, type Static } from '../config/schema.js';
import { modalityDropoutSchema } from '../config/modality-dropout.js';
import { lrScaleSchema } from '../config/lr-scale.js';

export { modalityDropoutSchema, lrScaleSchema };

const probability = (d: number, description: string) => Type.Number({ minimum: 0, exclusiveMaximum: 1, default: d, description });

export const EarlyStopConfigSchema = Type.Object({
  metric: Type.String({ minLength: 1, description: "Name of a metric returned by valEval, e.g. 'icdr_kappa' or 't2i_r1'." }),
  mode: literals(['max', 'min'], { description: "Whether larger ('max') or smaller ('min') is better." }),
  patience: Type.Integer({ minimum: 0, default: 0, description: 'Stop after this many validations without improvement; 0 = never stop (still keeps `best`).' }),
}, { additionalProperties: false });
export type EarlyStopConfig = Static<typeof EarlyStopConfigSchema>;

export const TrainConfigSchema = Type.Object({
  seed: Type.Integer({ minimum: 0, default: 0, description: 'Seeds libtorch (dropout, MAE/MLM masks) and the derived data streams (epoch order, modality dropout).' }),
  epochs: Type.Integer({ minimum: 1, default: 1, description: 'Passes over the training batches.' }),
  maxSteps: orNull(Type.Integer({ minimum: 1 }), { default: null, description: 'Cap on optimizer steps; null = epochs decide.' }),
  lr: Type.Number({ minimum: 0, default: 1e-4, description: 'Peak learning rate.' }),
  warmupSteps: Type.Integer({ minimum: 0, default: 0, description: 'Linear warmup steps.' }),
  minLrRatio: Type.Number({ minimum: 0, maximum: 1, default: 0.1, description: 'Cosine floor as a fraction of lr.' }),
  weightDecay: Type.Number({ minimum: 0, default: 0.05, description: 'Decoupled weight decay on matrices (see param-groups.ts).' }),
  beta1: Type.Number({ minimum: 0, exclusiveMaximum: 1, default: 0.9, description: "AdamW beta1 (CLIP's 0.9)." }),
  beta2: Type.Number({ minimum: 0, exclusiveMaximum: 1, default: 0.98, description: "AdamW beta2 (CLIP's 0.98)." }),
  eps: Type.Number({ exclusiveMinimum: 0, default: 1e-6, description: "AdamW eps (CLIP's 1e-6)." }),
  clipGradNorm: Type.Number({ minimum: 0, default: 1, description: 'Max global gradient L2 norm; 0 = no clipping (the norm is still computed and checked).' }),
  clipScope: literals(['global', 'module'], {
    default: 'global',
    description: "What clipGradNorm bounds: the norm of all gradients together ('global'), or of each top-level module's " +
      "('module': image, text, tabular, fusion, each head...), so that a large text gradient does not shrink the image tower's step.",
  }),
  accumSteps: Type.Integer({ minimum: 1, default: 1, description: 'Micro-batches per optimizer step (gradient accumulation).' }),
  lrScale: lrScaleSchema(),
  modalityDropout: modalityDropoutSchema({ image: 0, text: 0, tabular: 0 }),
  imageOnlyShare: probability(0, 'Per sample, the probability that it presents only its image to the fusion (before the per-modality draws).'),
  maeMaskRatio: probability(0.75, "MAE: fraction of patches masked (used when the objective's mae weight is not 0)."),
  reconFraction: Type.Number({ exclusiveMinimum: 0, maximum: 1, default: 1, description: 'Fraction of each batch the MAE and MLM side passes run on (ForwardOptions.reconFraction).' }),
  mlmProb: probability(0.15, "MLM: probability a token is selected (used when the objective's mlm weight is not 0)."),
  ema: probability(0, 'Decay of an exponential moving average of the weights (ema.ts), updated after every optimizer step; validation, ' +
    '`best` and the weights a checkpoint hands to inference are the average (training goes on from the live weights, saved beside it ' +
    'for a resume). 0 = off.'),
  evalEvery: Type.Integer({ minimum: 0, default: 0, description: 'Validate every this many optimizer steps; 0 = only at the end.' }),
  earlyStop: orNull(EarlyStopConfigSchema, { default: null, description: 'Best-checkpoint selection and early stopping; null = no `best` checkpoint.' }),
  checkpointEvery: Type.Integer({ minimum: 0, default: 0, description: 'Write the `last` checkpoint every this many steps; 0 = only at the end.' }),
  logEvery: Type.Integer({ minimum: 1, default: 10, description: 'Write a metrics.jsonl train line every this many steps.' }),
  precision: literals(['float32', 'bfloat16'], {
    default: 'float32', description: "'bfloat16': forward and losses under autocast with float32 master weights (precision.ts).",
  }),
  progress: literals(['auto', 'off'], { default: 'auto', description: "'auto': a progress bar when stdout is a TTY, plain lines otherwise; 'off': metrics.jsonl only." }),
}, { additionalProperties: false, title: 'a train config' });
export type TrainConfig = Static<typeof TrainConfigSchema>;

/** Input form: any subset of the fields, recursively (modalityDropout may be partial). */
export type TrainConfigInput = DeepPartial<TrainConfig>;

/**
 * Defaults + validation. Every error names the field, the value and what was expected.
 * @example resolveTrainConfig({ accumSteps: 4 }).accumSteps // 4
 */
export function resolveTrainConfig(input: unknown = {}): TrainConfig {
  return resolveSchema(TrainConfigSchema, input, 'train config');
}

export const DEFAULT_TRAIN_CONFIG: TrainConfig = resolveTrainConfig({});

// The schema's modality keys are the models' Modality names (checked at compile time).
DEFAULT_TRAIN_CONFIG.modalityDropout satisfies Record<Modality, number>;
