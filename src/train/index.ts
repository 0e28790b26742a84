/** The model-agnostic training loop and its parts: schedule, parameter groups, checkpoints, progress. */
export { train, NonFiniteLossError, type BatchSource, type ValEval, type StepInfo, type TrainHooks, type TrainArgs, type TrainResult } from './loop.js';
export { resolveTrainConfig, modalityDropoutSchema, DEFAULT_TRAIN_CONFIG, TrainConfigSchema, type TrainConfig, type TrainConfigInput, type EarlyStopConfig } from './config.js';
export { lrAt, type ScheduleOptions } from './schedule.js';
export { paramGroups, type ParamGrouping } from './param-groups.js';
export { applyModalityDropout, dropModalities } from './modality-dropout.js';
export { epochRng, dropoutRng } from './streams.js';
export {
  saveCheckpoint, readCheckpoint, loadWeights, toRaw, CHECKPOINT_FORMAT,
  type CheckpointState, type CheckpointContent, type LoadedCheckpoint, type LoopPosition, type BestState,
} from '../run/checkpoint.js';
export { checkPrecision } from './precision.js';
export { MetricsLog, createProgress, type Progress, type ProgressUpdate } from './progress.js';
