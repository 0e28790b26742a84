/**
 * Builds the model a config names: `kemt` (all towers, fusion, heads) or `clip` (the baseline).
 * Weights are drawn from libtorch's global generator: call manualSeed(seed) first for
 * reproducible initial weights.
 *
 * @example
 *   manualSeed(0);
 *   const model = buildModel(loadPreset('tiny'), { vocabSize: tok.vocabSize, tabularDim: featurizer.width });
 */
import { checkDim } from '../nn/index.js';
import { ClipBaseline } from './clip.js';
import type { ModelConfig } from './config.js';
import { Kemt, type KemtEnv } from './kemt.js';

export type RetalignModel = Kemt | ClipBaseline;

/**
 * A new, randomly initialized model (training mode). `specialIds` (a Tokenizer fits: it has
 * padId/clsId/sepId/maskId) is needed for MLM when the vocab is not the project's own order.
 */
export function buildModel(config: ModelConfig, env: KemtEnv): RetalignModel {
  checkDim('buildModel vocabSize', env.vocabSize);
  checkDim('buildModel tabularDim', env.tabularDim);
  if (env.specialIds !== undefined) {
    const ids = env.specialIds;
    for (const k of ['padId', 'clsId', 'sepId', 'maskId'] as const) {
      const v = ids[k];
      if (!Number.isInteger(v) || v < 0 || v >= env.vocabSize) throw new Error(`buildModel specialIds.${k} is ${v}; expected an id in [0, ${env.vocabSize})`);
    }
  }
  return config.architecture === 'clip' ? new ClipBaseline(config, env) : new Kemt(config, env);
}
