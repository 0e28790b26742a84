/**
 * The model registry: every architecture a config can name, `kemt` (all towers, fusion, heads) or
 * `clip` (the baseline), with its class and what it can do (capabilities.ts). The only place that
 * maps an architecture name to behaviour; the layers above read `model.capabilities`.
 * Weights are drawn from libtorch's global generator: call manualSeed(seed) first for
 * reproducible initial weights.
 *
 * @example
 *   manualSeed(0);
 *   const model = buildModel(loadPreset('tiny'), { vocabSize: tok.vocabSize, tabularDim: featurizer.width });
 *   capabilitiesOf('clip').gradeHeads // false
 */
import { checkDim } from '../nn/index.js';
import type { ModelCapabilities } from './capabilities.js';
import { ClipBaseline } from './clip.js';
import type { Architecture, ModelConfig } from './config.js';
import { Kemt, type KemtEnv } from './kemt.js';

export type RetalignModel = Kemt | ClipBaseline;

/** Architecture name -> model class (its constructor and static capabilities). */
const ARCHITECTURES: Readonly<Record<Architecture, { new (config: ModelConfig, env: KemtEnv): RetalignModel; readonly capabilities: ModelCapabilities }>> = {
  kemt: Kemt,
  clip: ClipBaseline,
};

/** The architecture names a config may use. */
export const ARCHITECTURE_NAMES: readonly Architecture[] = Object.keys(ARCHITECTURES) as Architecture[];

/** True for a name in ARCHITECTURE_NAMES (for validating user input). */
export function isArchitecture(name: unknown): name is Architecture {
  return typeof name === 'string' && Object.hasOwn(ARCHITECTURES, name);
}

/**
 * What an architecture can do, before any model is built.
 * @example capabilitiesOf('kemt').selectBy // 'icdr_kappa'
 */
export function capabilitiesOf(architecture: Architecture): ModelCapabilities {
  if (!isArchitecture(architecture)) throw new Error(`unknown architecture ${JSON.stringify(architecture)}; expected one of ${ARCHITECTURE_NAMES.join(', ')}`);
  return ARCHITECTURES[architecture].capabilities;
}

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
  if (!isArchitecture(config.architecture)) {
    throw new Error(`buildModel: architecture is ${JSON.stringify(config.architecture)}; expected one of ${ARCHITECTURE_NAMES.join(', ')}`);
  }
  return new ARCHITECTURES[config.architecture](config, env);
}
