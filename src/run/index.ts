/**
 * A trained run, typed: its record (RunInfo: run config, model config, preprocessing, dataset), how
 * to open one (loadRun), and how to feed its model exactly as training did (prepareData, collate,
 * predict). Below job/ and serve/: train writes it, eval, the index build and the server read it.
 */
export { RUN_FORMAT, parseRunInfo, runInfoExtras, type RunInfo } from './info.js';
export { loadRun, checkpointDirOf, isRunFolder, loadImageTowerFromRun, type LoadedRun } from './load.js';
export { parsePreprocessing, type Preprocessing, type RunNoteOptions } from './preprocessing.js';
export {
  DEFAULT_RUN_CONFIG, HONEST_TABULAR_FIELDS, RENAMED_KEYS, RunConfigSchema, loadRunConfig, parseSet, protocolDefaults, resolveRunConfig,
  type Protocol, type RunConfig,
} from './config.js';
export { runConfigReference } from './config-reference.js';
export { prepareData, ensureSynth, synthDir, type PreparedData, type PrepareOptions, type SplitName } from './prepare.js';
export { collate, disposeBatch, mirrored, type CollateOptions, type MirrorView, type PreparedItem } from './collate.js';
export { predict, tensorScores, type Predictions } from './predict.js';
