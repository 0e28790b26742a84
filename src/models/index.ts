/** Models: encoders, fusion, heads, the Kemt and CLIP models, presets and weight import. */
export * from './types.js';
export { DEFAULT_CONFIG, resolveConfig, numPatches, type ModelConfig, type VitConfig, type TextConfig, type TabularConfig, type FusionConfig, type MaeDecoderConfig, type Architecture } from './config.js';
export { loadPreset, presetNames, presetsDir } from './presets.js';
export { VisionTransformer } from './vit.js';
export { BertEncoder, BertEmbeddings, type ResolvedTextConfig } from './text.js';
export { TabularEncoder } from './tabular.js';
export { FusionTransformer, type ModalityTokens, type FusionResult } from './fusion.js';
export { Projection, NUM_GRADES } from './heads.js';
export { MaeDecoder, randomMasking, patchify, numVisible, type PatchMasking } from './mae.js';
export { MlmHead, maskTokens, PROJECT_SPECIAL_IDS, BERT_SPECIAL_IDS, type SpecialIds, type MaskedTokens } from './mlm.js';
export { ImageTextTowers, type BuildEnv } from './towers.js';
export { Kemt, type KemtEnv, type GradeProbs } from './kemt.js';
export { ClipBaseline } from './clip.js';
export { buildModel, capabilitiesOf, isArchitecture, ARCHITECTURE_NAMES, type RetalignModel } from './build.js';
export type { ModelCapabilities } from './capabilities.js';
export * from './import/index.js';
