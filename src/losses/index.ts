/** Losses: pure functions of model outputs and batches -> scalar tensors, summed by one Objective. */
export { infoNce, sameNoteMask, contrastiveLosses, CONTRASTIVE_PAIRS, LOGIT_SCALE_MAX, type ContrastivePart } from './contrastive.js';
export { maskedPatchMse, mlmCrossEntropy, IGNORE_INDEX } from './reconstruction.js';
export { gradeCrossEntropy, inverseFrequencyWeights, type GradeLossOptions } from './classification.js';
export {
  Objective, resolveObjectiveConfig, lossWeightsSchema, LOSS_PARTS, DEFAULT_OBJECTIVE_CONFIG, ObjectiveConfigSchema,
  type LossPart, type LossWeights, type ObjectiveConfig, type ObjectiveConfigInput, type ObjectiveResult,
} from './objective.js';
