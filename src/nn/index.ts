/** Generic layers over the tensor API. */
export { Module, type StateValue, type ParamOptions, type LoadOptions } from './module.js';
export { normal, zeros, ones, constant } from './init.js';
export { Linear, checkDim, type LinearOptions } from './linear.js';
export { LayerNorm } from './layer-norm.js';
export { Embedding, type EmbeddingOptions } from './embedding.js';
export { MultiHeadSelfAttention, keyMaskBlocked, maskValue, type AttentionOptions, type AttentionResult } from './attention.js';
export { Mlp, type MlpOptions } from './mlp.js';
export { PreNormBlock, PostNormBlock, type BlockConfig, type BlockResult } from './block.js';
export { PatchEmbed } from './patch-embed.js';
export { ConvStem, batchNorm2d, stemChannels } from './conv-stem.js';
