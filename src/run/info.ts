/**
 * RunInfo: the typed, versioned record of a trained run that rides in every checkpoint (state.json,
 * field `extras`, which the training loop writes without reading). With the weights next to it, it
 * is everything eval, the index build and the server need to use the model: the resolved run
 * config, the resolved model config, the preprocessing and the dataset it was trained on. The
 * split is the run folder's split.json; grade-head temperatures are fitted by the index build and
 * live in the index's serve.json.
 *
 * Versions: 'retalign-run/2' adds the `format` key; checkpoints written before it carry the same
 * fields without one and are read as version 1 (nothing to convert).
 *
 * @example
 *   train({ ..., extras: runInfoExtras({ format: RUN_FORMAT, runConfig, modelConfig, preprocessing, dataset, datasetPath }) });
 *   const info = parseRunInfo(readCheckpoint(dir).state.extras, `${dir}/state.json`);
 */
import { resolveConfig, type ModelConfig } from '../models/index.js';
import { resolveRunConfig, type RunConfig } from './config.js';
import { parsePreprocessing, type Preprocessing } from './preprocessing.js';

/** Current version of the run record. */
export const RUN_FORMAT = 'retalign-run/2';

export interface RunInfo {
  format: typeof RUN_FORMAT;
  /** The resolved run config of the training run (configs/runs/<name>.json + protocol + --set). */
  runConfig: RunConfig;
  /** The resolved model config the weights fit (preset with the run's image size and vocabulary). */
  modelConfig: ModelConfig;
  /** Tokenizer, tabular statistics, image settings, note options (preprocessing.ts). */
  preprocessing: Preprocessing;
  /** Display name of the training data, e.g. 'synthetic twin (balanced, 300 patients)'. */
  dataset: string;
  /** The dataset folder (or manifest) training read; eval and the index build default to it. */
  datasetPath: string;
}

/** The JSON object the training loop stores as `extras` (a deep copy; the same field names as RunInfo). */
export function runInfoExtras(info: RunInfo): Record<string, unknown> {
  return JSON.parse(JSON.stringify(info)) as Record<string, unknown>;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Validates a checkpoint's `extras` as a RunInfo (either version). `where` names the file; errors
 * name it, the field and what was expected. The run and model configs are resolved again, so a
 * field added since the checkpoint was written takes its default.
 * @example parseRunInfo(JSON.parse(readFileSync('runs/a/best/state.json', 'utf8')).extras, 'runs/a/best/state.json')
 */
export function parseRunInfo(extras: unknown, where: string): RunInfo {
  if (!isObject(extras)) {
    throw new Error(`${where}: extras is ${JSON.stringify(extras)}; expected the run record (runConfig, modelConfig, preprocessing, ...): ` +
      'not a checkpoint written by `retalign train`');
  }
  const format = extras['format'];
  if (format !== undefined && format !== RUN_FORMAT) {
    throw new Error(`${where}: extras.format is ${JSON.stringify(format)}; expected '${RUN_FORMAT}' (or none: version 1). ` +
      'A newer retalign wrote this checkpoint: open it with that version');
  }
  const object = (k: string): Record<string, unknown> => {
    const v = extras[k];
    if (!isObject(v)) {
      throw new Error(`${where}: extras.${k} is ${v === undefined ? 'missing' : JSON.stringify(v).slice(0, 80)}; expected an object: ` +
        'not a checkpoint written by `retalign train`');
    }
    return v;
  };
  const string = (k: string): string => {
    const v = extras[k] ?? '';
    if (typeof v !== 'string') throw new Error(`${where}: extras.${k} is ${JSON.stringify(v)}; expected a string`);
    return v;
  };
  // Quietly: a checkpoint written before a key was renamed (RENAMED_KEYS) stores the old name.
  const runConfig = resolveRunConfig(object('runConfig'), [], `${where}: extras.runConfig`, () => {});
  const modelConfig = resolveConfig(object('modelConfig'), `${where}: extras.modelConfig`);
  const preprocessing = parsePreprocessing(extras['preprocessing'], `${where}: extras.preprocessing`);
  if (modelConfig.architecture !== runConfig.model.kind) {
    throw new Error(`${where}: extras.modelConfig.architecture is '${modelConfig.architecture}' but extras.runConfig.model.kind is ` +
      `'${runConfig.model.kind}'; expected the same model`);
  }
  if (preprocessing.image.size !== modelConfig.image.imageSize) {
    throw new Error(`${where}: extras.preprocessing.image.size is ${preprocessing.image.size} but extras.modelConfig.image.imageSize is ` +
      `${modelConfig.image.imageSize}; expected the same image size`);
  }
  return { format: RUN_FORMAT, runConfig, modelConfig, preprocessing, dataset: string('dataset'), datasetPath: string('datasetPath') };
}
