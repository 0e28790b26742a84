/**
 * The training objective: a weighted sum of named loss parts, each a pure function of
 * (ModelOutput, Batch). A part with weight 0 is not computed; a part whose inputs the model or the
 * batch does not provide (null embeddings, no MAE branch, all grades unknown) is skipped for that
 * batch. Parts are logged unweighted, as plain numbers.
 *
 * @example
 *   const objective = new Objective({ weights: { mae: 0 }, labelSmoothing: 0.1 });
 *   const out = model.forward(batch, objective.forwardOptions(true, { maeMaskRatio: 0.75, mlmProb: 0.15 }));
 *   const { total, parts } = objective.compute(out, batch); // parts: { imageText: 2.07, icdr: 1.6, ... }
 *   total.backward();
 */
import { Tensor } from '../tensor/index.js';
import type { Batch, ForwardOptions, ModelOutput } from '../models/types.js';
import { contrastiveLosses, type ContrastivePart } from './contrastive.js';
import { maskedPatchMse, mlmCrossEntropy } from './reconstruction.js';
import { gradeCrossEntropy } from './classification.js';
import { NUM_GRADES } from '../data/grades.js';
import { literals, orNull, resolveSchema, section, Type, type DeepPartial, type SameType, type Static } from '../config/schema.js';

/** Every loss part, in logging order. */
export const LOSS_PARTS = ['imageText', 'imageTabular', 'textTabular', 'mae', 'mlm', 'icdr', 'sdrg', 'icdrImage', 'sdrgImage'] as const;
export type LossPart = (typeof LOSS_PARTS)[number];
export type LossWeights = Record<LossPart, number>;

/**
 * The weight of each loss part, with what the part is; the run config's loss.weights is the same
 * schema with its own defaults.
 * @example lossWeightsSchema({ ...DEFAULT_OBJECTIVE_CONFIG.weights, mae: 0 })
 */
export function lossWeightsSchema(d: LossWeights) {
  const w = (part: LossPart, description: string) => Type.Number({ minimum: 0, default: d[part], description });
  return section({
    imageText: w('imageText', 'Symmetric InfoNCE between image and note embeddings (CLIP).'),
    imageTabular: w('imageTabular', 'Symmetric InfoNCE between image and patient-record embeddings.'),
    textTabular: w('textTabular', 'Symmetric InfoNCE between note and patient-record embeddings.'),
    mae: w('mae', 'Masked-patch pixel regression (MAE side pass).'),
    mlm: w('mlm', 'Masked-token cross-entropy (MLM side pass).'),
    icdr: w('icdr', 'ICDR grade cross-entropy on the fused token.'),
    sdrg: w('sdrg', 'SDRG grade cross-entropy on the fused token.'),
    icdrImage: w('icdrImage', "ICDR cross-entropy of the image-only head on the photo's own token, so the photo learns what the note says."),
    sdrgImage: w('sdrgImage', "SDRG cross-entropy of the image-only head on the photo's own token."),
  }, 'Weight of each named loss part in the total; 0 switches a part off (it is not computed).');
}

const classWeights = (description: string) => orNull(
  Type.Array(Type.Number({ minimum: 0 }), { minItems: NUM_GRADES, maxItems: NUM_GRADES }),
  { default: null, description },
);

export const ObjectiveConfigSchema = Type.Object({
  weights: lossWeightsSchema({ imageText: 1, imageTabular: 1, textTabular: 1, mae: 1, mlm: 1, icdr: 1, sdrg: 1, icdrImage: 0, sdrgImage: 0 }),
  labelSmoothing: Type.Number({ minimum: 0, exclusiveMaximum: 1, default: 0, description: 'Label smoothing for the ICDR and SDRG cross-entropies.' }),
  icdrClassWeights: classWeights('Per-class weights for ICDR (one per grade, e.g. inverseFrequencyWeights of the training labels); null = none.'),
  sdrgClassWeights: classWeights('Same for SDRG.'),
  classWeighting: literals(['class', 'exam'], {
    default: 'class',
    description: "How the class weights apply with label smoothing: 'class' (PyTorch's: the smoothing term is weighted by each class's " +
      "weight, which on skewed data pulls grade-0 exams toward rare grades) or 'exam' (each exam's whole loss by its own grade's weight).",
  }),
}, { additionalProperties: false, title: 'an objective config' });
export type ObjectiveConfig = Static<typeof ObjectiveConfigSchema>;

// The schema's weight keys are exactly LOSS_PARTS (checked at compile time).
true satisfies SameType<ObjectiveConfig['weights'], LossWeights>;

/** Input form of ObjectiveConfig: every field optional, weights may be partial. */
export type ObjectiveConfigInput = DeepPartial<ObjectiveConfig>;

/**
 * Fills defaults and validates; unknown keys are errors that list the valid ones.
 * @example resolveObjectiveConfig({ weights: { mae: 0 } }).weights.mae // 0
 */
export function resolveObjectiveConfig(input: unknown = {}): ObjectiveConfig {
  return resolveSchema(ObjectiveConfigSchema, input, 'objective config');
}

export const DEFAULT_OBJECTIVE_CONFIG: ObjectiveConfig = resolveObjectiveConfig({});

export interface ObjectiveResult {
  /** 0-d weighted sum of the computed parts (a constant 0 without grad when none was computed). */
  total: Tensor;
  /** Unweighted value of each computed part. */
  parts: Record<string, number>;
}

export class Objective {
  readonly config: ObjectiveConfig;

  constructor(config: ObjectiveConfigInput = {}) {
    this.config = resolveObjectiveConfig(config);
  }

  /** Parts with a non-zero weight. */
  get activeParts(): LossPart[] {
    return LOSS_PARTS.filter((p) => this.config.weights[p] !== 0);
  }

  /**
   * Forward options for this objective: the MAE and MLM branches are switched off (ratio 0)
   * when their weight is 0, so the model does not compute what no loss reads.
   * @example objective.forwardOptions(true, { maeMaskRatio: 0.75, mlmProb: 0.15 })
   */
  forwardOptions(training: boolean, r: { maeMaskRatio: number; mlmProb: number; reconFraction?: number }): ForwardOptions {
    return {
      training,
      reconFraction: r.reconFraction ?? 1,
      maeMaskRatio: this.config.weights.mae === 0 ? 0 : r.maeMaskRatio,
      mlmProb: this.config.weights.mlm === 0 ? 0 : r.mlmProb,
    };
  }

  /**
   * Computes every active part the output supports and their weighted sum.
   * Call inside a tidy scope: intermediates are released with it.
   */
  compute(out: ModelOutput, batch: Batch): ObjectiveResult {
    const w = this.config.weights;
    const terms: [LossPart, Tensor][] = [];
    const on = new Set<ContrastivePart>(['imageText', 'imageTabular', 'textTabular'].filter((p) => w[p as LossPart] !== 0) as ContrastivePart[]);
    if (on.size > 0) {
      for (const [name, t] of Object.entries(contrastiveLosses(out, batch, on))) terms.push([name as LossPart, t]);
    }
    if (w.mae !== 0 && out.mae !== null) {
      const t = maskedPatchMse(out.mae);
      if (t !== null) terms.push(['mae', t]);
    }
    if (w.mlm !== 0 && out.mlm !== null) {
      const t = mlmCrossEntropy(out.mlm);
      if (t !== null) terms.push(['mlm', t]);
    }
    // Grade parts: the fused heads and the image-only heads (the same grades from the photo alone),
    // each scale with its class weights; label smoothing for all.
    const c = this.config;
    const grades: [LossPart, Tensor | null, Tensor | null, number[] | null][] = [
      ['icdr', out.icdrLogits, batch.icdr, c.icdrClassWeights],
      ['sdrg', out.sdrgLogits, batch.sdrg, c.sdrgClassWeights],
      ['icdrImage', out.imageIcdrLogits, batch.icdr, c.icdrClassWeights],
      ['sdrgImage', out.imageSdrgLogits, batch.sdrg, c.sdrgClassWeights],
    ];
    for (const [name, logits, labels, classWeights] of grades) {
      if (w[name] === 0 || logits === null || labels === null) continue;
      const t = gradeCrossEntropy(logits, labels, { classWeights, labelSmoothing: c.labelSmoothing, weighting: c.classWeighting });
      if (t !== null) terms.push([name, t]);
    }
    terms.sort((x, y) => LOSS_PARTS.indexOf(x[0]) - LOSS_PARTS.indexOf(y[0]));
    const parts: Record<string, number> = {};
    let total: Tensor | null = null;
    for (const [name, t] of terms) {
      parts[name] = t.item();
      const weighted = w[name] === 1 ? t : t.mul(w[name]);
      total = total === null ? weighted : total.add(weighted);
    }
    return { total: total ?? Tensor.scalar(0), parts };
  }
}
