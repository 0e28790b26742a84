/**
 * Model configuration: one schema (src/config/schema.ts) gives the type, the defaults, the
 * validation and its errors. Defaults are the `paper` architecture (ViT-B/16 at 224 px + BERT-base +
 * a 2-layer width-256 fusion); a preset JSON overrides any field. Unknown keys are errors that name
 * the valid ones; every number is range-checked; rules across fields are in `crossCheck`.
 *
 * @example
 *   const c = resolveConfig({ name: 'mine', image: { layers: 4 } }, 'inline'); // the rest: defaults
 *   c.image.width // 768
 */
import { literals, orNull, resolveSchema, section, Type, type Static } from '../config/schema.js';

const width = (d: number, description = 'Token width D.') => Type.Integer({ minimum: 1, default: d, description });
const layers = (d: number) => Type.Integer({ minimum: 1, default: d, description: 'Number of transformer blocks.' });
const heads = (d: number) => Type.Integer({ minimum: 1, default: d, description: 'Attention heads (divides width).' });
const mlpDim = (d: number) => Type.Integer({ minimum: 1, default: d, description: 'MLP hidden width (4 * width in ViT and BERT).' });
const eps = (d: number, description = 'LayerNorm eps.') => Type.Number({ exclusiveMinimum: 0, default: d, description });
const prob = (d: number, description: string) => Type.Number({ minimum: 0, exclusiveMaximum: 1, default: d, description });
const rgb = (d: number, description: string) =>
  Type.Array(Type.Number(), { minItems: 3, maxItems: 3, default: [d, d, d], description });

/** The image tower (ViT): pre-norm, [CLS] token, learned position embedding, final LayerNorm. */
export const VitConfigSchema = section({
  imageSize: Type.Integer({ minimum: 1, default: 224, description: 'Square input side in pixels (a multiple of patchSize).' }),
  patchSize: Type.Integer({ minimum: 1, default: 16, description: 'Patch side in pixels (16 for ViT-B/16): the token grid is (imageSize / patchSize)^2.' }),
  stem: literals(['patch', 'conv'], {
    default: 'patch',
    description: "How pixels become tokens: 'patch' (ViT's P x P conv, needed to load pretrained ViT weights) or 'conv' " +
      '(log2(P) stride-2 3x3 convs, Xiao et al. 2021: learns from a few hundred photos on a CPU; patchSize a power of 2).',
  }),
  stemNorm: literals(['layer', 'group', 'batch'], {
    default: 'layer',
    description: "The norm after each conv of the 'conv' stem: 'layer' (over the channels at each pixel), 'group' " +
      "(GroupNorm, up to 8 groups, over channels and the whole map: keeps how a spot differs from its surroundings) or 'batch' " +
      '(BatchNorm: batch statistics in training, running statistics saved with the weights in inference).',
  }),
  pooling: literals(['cls', 'mean'], {
    default: 'cls',
    description: "The photo's vector: the [CLS] token's output ('cls', ViT's; pretrained weights expect it) or the mean of the " +
      "patch tokens' outputs ('mean': every patch feeds the heads from the first step, as in a CNN's global pooling).",
  }),
  channels: Type.Integer({ minimum: 1, default: 3, description: 'Input channels (3: RGB).' }),
  width: width(768),
  layers: layers(12),
  heads: heads(12),
  mlpDim: mlpDim(3072),
  layerNormEps: eps(1e-12, 'LayerNorm eps: 1e-12 for Hugging Face ViT weights, 1e-6 for timm weights.'),
  dropout: prob(0, 'Dropout on embeddings and residual branches (training only).'),
  attnDropout: prob(0, 'Dropout on attention probabilities (training only).'),
  mean: rgb(0.5, 'Per-channel normalization mean the image pipeline applies (travels with the weights).'),
  std: rgb(0.5, 'Per-channel normalization std (> 0).'),
}, 'The image tower (ViT).');
export type VitConfig = Static<typeof VitConfigSchema>;

/** The text tower (BERT): post-norm, word + position + token-type embeddings. */
export const TextConfigSchema = section({
  vocabSize: orNull(Type.Integer({ minimum: 1 }), {
    default: 28996, description: "WordPiece vocab size; null = taken from the tokenizer at build time (buildModel's vocabSize).",
    expected: 'an integer >= 1, or null (from the tokenizer)',
  }),
  width: width(768),
  layers: layers(12),
  heads: heads(12),
  mlpDim: mlpDim(3072),
  maxPositions: Type.Integer({ minimum: 1, default: 512, description: 'Longest sequence (position-embedding rows; 512 in BERT).' }),
  typeVocabSize: Type.Integer({ minimum: 1, default: 2, description: 'Token-type (segment) embedding rows (2 in BERT).' }),
  layerNormEps: eps(1e-12),
  dropout: prob(0.1, 'Dropout on embeddings and residual branches (training only).'),
  attnDropout: prob(0.1, 'Dropout on attention probabilities (training only).'),
  pooling: literals(['cls', 'mean'], {
    default: 'cls',
    description: "The note's vector: 'cls' (the [CLS] token's output, as BERT; needed for pretrained BERT's meaning) or " +
      "'mean' (the mean over real tokens: every word reaches the embedding from the first step, so a small tower trained " +
      'from scratch reads a few hundred notes much sooner).',
  }),
}, 'The text tower (BERT).');
export type TextConfig = Static<typeof TextConfigSchema>;

/** Tabular MLP: Linear -> GELU -> LayerNorm -> dropout -> Linear, one token out. */
export const TabularConfigSchema = section({
  hidden: Type.Integer({ minimum: 1, default: 256, description: 'Hidden width of the MLP.' }),
  width: width(256, 'Width of the tabular token.'),
  dropout: prob(0.1, 'Dropout after the hidden LayerNorm (training only).'),
  layerNormEps: eps(1e-5),
}, 'The tabular encoder (an MLP).');
export type TabularConfig = Static<typeof TabularConfigSchema>;

/** Fusion transformer over one token per modality (pre-norm), pooled by the mean of present tokens. */
export const FusionConfigSchema = section({
  width: width(256),
  layers: layers(2),
  heads: heads(8),
  mlpDim: mlpDim(1024),
  layerNormEps: eps(1e-5),
  dropout: prob(0.1, 'Dropout on residual branches (training only).'),
}, 'The fusion transformer.');
export type FusionConfig = Static<typeof FusionConfigSchema>;

/** MAE-style light decoder for masked-patch pixel regression (pre-norm). */
export const MaeDecoderConfigSchema = section({
  width: width(256),
  layers: layers(2),
  heads: heads(8),
  mlpDim: mlpDim(1024),
  layerNormEps: eps(1e-5),
}, 'The MAE decoder.');
export type MaeDecoderConfig = Static<typeof MaeDecoderConfigSchema>;

export const ModelConfigSchema = Type.Object({
  name: Type.String({ minLength: 1, default: 'paper', description: 'Preset name, recorded in checkpoints.' }),
  architecture: literals(['kemt', 'clip'], {
    default: 'kemt', description: "'kemt': all towers, fusion and heads; 'clip': image + text towers and projections only.",
  }),
  embedDim: Type.Integer({ minimum: 1, default: 256, description: 'Width of the shared (retrieval) embedding space.' }),
  logitScaleInit: Type.Number({ default: Math.log(1 / 0.07), description: 'Initial logit scale, log(1/temperature): log(1/0.07) = 2.659.' }),
  image: VitConfigSchema,
  text: TextConfigSchema,
  tabular: TabularConfigSchema,
  fusion: FusionConfigSchema,
  mae: MaeDecoderConfigSchema,
}, { additionalProperties: false, title: 'a model config' });
export type ModelConfig = Static<typeof ModelConfigSchema>;
export type Architecture = ModelConfig['architecture'];

/**
 * Fills defaults into a (partial) config object and validates it. `source` names it in errors.
 * @example resolveConfig(JSON.parse(text), 'configs/presets/tiny.json')
 */
export function resolveConfig(json: unknown, source: string): ModelConfig {
  const c = resolveSchema(ModelConfigSchema, json, source);
  crossCheck(c, source);
  return c;
}

/** The paper architecture: every field's default. */
export const DEFAULT_CONFIG: Readonly<ModelConfig> = Object.freeze(resolveConfig({}, 'model config defaults'));

function crossCheck(c: ModelConfig, source: string): void {
  const fail = (msg: string): never => {
    throw new Error(`${source}: ${msg}`);
  };
  const divisible = (sec: string, w: number, h: number): void => {
    if (w % h !== 0) fail(`${sec}.width ${w} is not divisible by ${sec}.heads ${h}`);
  };
  divisible('image', c.image.width, c.image.heads);
  divisible('text', c.text.width, c.text.heads);
  divisible('fusion', c.fusion.width, c.fusion.heads);
  divisible('mae', c.mae.width, c.mae.heads);
  if (c.image.imageSize % c.image.patchSize !== 0) fail(`image.imageSize ${c.image.imageSize} is not a multiple of image.patchSize ${c.image.patchSize}`);
  if (c.image.stem === 'conv' && !Number.isInteger(Math.log2(c.image.patchSize))) {
    fail(`image.patchSize ${c.image.patchSize} must be a power of 2 with image.stem 'conv' (one stride-2 conv per halving)`);
  }
  if (c.image.channels !== 3) fail(`image.channels is ${c.image.channels}; only 3 (RGB, with 3-value mean/std) is supported`);
  if (c.image.std.some((s) => s <= 0)) fail(`image.std ${JSON.stringify(c.image.std)} must be > 0`);
}

/** Number of patches per image: (imageSize / patchSize)^2. */
export function numPatches(c: VitConfig): number {
  return (c.imageSize / c.patchSize) ** 2;
}
