/**
 * Typed, defaulted, validated model configuration. Defaults are the `paper` architecture
 * (ViT-B/16 at 224 px + BERT-base + a 2-layer width-256 fusion); a preset JSON overrides any
 * field. Unknown keys are errors that name the valid ones; every number is range-checked.
 *
 * @example
 *   const c = resolveConfig({ name: 'mine', image: { layers: 4 } }, 'inline'); // the rest: defaults
 *   c.image.width // 768
 */

/** The image tower (ViT): pre-norm, [CLS] token, learned position embedding, final LayerNorm. */
export interface VitConfig {
  /** Square input side in pixels (a multiple of patchSize). */
  imageSize: number;
  /** Patch side in pixels (16 for ViT-B/16): the token grid is (imageSize / patchSize)^2. */
  patchSize: number;
  /**
   * How pixels become tokens: 'patch' (ViT's P x P conv, needed to load pretrained ViT weights) or
   * 'conv' (log2(P) stride-2 3x3 convs, Xiao et al. 2021: learns from a few hundred photos on a CPU).
   */
  stem: 'patch' | 'conv';
  /** Input channels (3: RGB). */
  channels: number;
  /** Token width D. */
  width: number;
  /** Number of transformer blocks. */
  layers: number;
  /** Attention heads (divides width). */
  heads: number;
  /** MLP hidden width (4 * width in ViT). */
  mlpDim: number;
  /** LayerNorm eps: 1e-12 for Hugging Face ViT weights, 1e-6 for timm weights. */
  layerNormEps: number;
  /** Dropout on embeddings and residual branches (training only). */
  dropout: number;
  /** Dropout on attention probabilities (training only). */
  attnDropout: number;
  /** Per-channel normalization mean the image pipeline must apply (travels with the weights). */
  mean: number[];
  /** Per-channel normalization std. */
  std: number[];
}

/** The text tower (BERT): post-norm, word + position + token-type embeddings. */
export interface TextConfig {
  /** WordPiece vocab size; null = taken from the tokenizer at build time (buildModel's vocabSize). */
  vocabSize: number | null;
  width: number;
  layers: number;
  heads: number;
  mlpDim: number;
  /** Longest sequence (position-embedding rows; 512 in BERT). */
  maxPositions: number;
  /** Token-type (segment) embedding rows (2 in BERT). */
  typeVocabSize: number;
  layerNormEps: number;
  dropout: number;
  attnDropout: number;
}

/** Tabular MLP: Linear -> GELU -> LayerNorm -> dropout -> Linear, one token out. */
export interface TabularConfig {
  hidden: number;
  /** Width of the tabular token. */
  width: number;
  dropout: number;
  layerNormEps: number;
}

/** Fusion transformer over one token per modality (pre-norm), pooled by the mean of present tokens. */
export interface FusionConfig {
  width: number;
  layers: number;
  heads: number;
  mlpDim: number;
  layerNormEps: number;
  dropout: number;
}

/** MAE-style light decoder for masked-patch pixel regression (pre-norm). */
export interface MaeDecoderConfig {
  width: number;
  layers: number;
  heads: number;
  mlpDim: number;
  layerNormEps: number;
}

export type Architecture = 'kemt' | 'clip';

export interface ModelConfig {
  /** Preset name, recorded in checkpoints. */
  name: string;
  /** 'kemt': all towers, fusion and heads; 'clip': image + text towers and projections only. */
  architecture: Architecture;
  /** Width of the shared (retrieval) embedding space. */
  embedDim: number;
  /** Initial logit scale, log(1/temperature): log(1/0.07) = 2.659. */
  logitScaleInit: number;
  image: VitConfig;
  text: TextConfig;
  tabular: TabularConfig;
  fusion: FusionConfig;
  mae: MaeDecoderConfig;
}

/** The paper architecture: every field's default. */
export const DEFAULT_CONFIG: Readonly<ModelConfig> = Object.freeze({
  name: 'paper',
  architecture: 'kemt',
  embedDim: 256,
  logitScaleInit: Math.log(1 / 0.07),
  image: {
    imageSize: 224, patchSize: 16, stem: 'patch' as const, channels: 3, width: 768, layers: 12, heads: 12, mlpDim: 3072,
    layerNormEps: 1e-12, dropout: 0, attnDropout: 0, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5],
  },
  text: {
    vocabSize: 28996, width: 768, layers: 12, heads: 12, mlpDim: 3072, maxPositions: 512, typeVocabSize: 2,
    layerNormEps: 1e-12, dropout: 0.1, attnDropout: 0.1,
  },
  tabular: { hidden: 256, width: 256, dropout: 0.1, layerNormEps: 1e-5 },
  fusion: { width: 256, layers: 2, heads: 8, mlpDim: 1024, layerNormEps: 1e-5, dropout: 0.1 },
  mae: { width: 256, layers: 2, heads: 8, mlpDim: 1024, layerNormEps: 1e-5 },
});

type Kind = 'posInt' | 'posNum' | 'prob' | 'finite' | 'string' | 'arch' | 'stem' | 'vocab' | 'triple';
const SECTIONS = {
  image: { imageSize: 'posInt', patchSize: 'posInt', stem: 'stem', channels: 'posInt', width: 'posInt', layers: 'posInt', heads: 'posInt',
    mlpDim: 'posInt', layerNormEps: 'posNum', dropout: 'prob', attnDropout: 'prob', mean: 'triple', std: 'triple' },
  text: { vocabSize: 'vocab', width: 'posInt', layers: 'posInt', heads: 'posInt', mlpDim: 'posInt', maxPositions: 'posInt',
    typeVocabSize: 'posInt', layerNormEps: 'posNum', dropout: 'prob', attnDropout: 'prob' },
  tabular: { hidden: 'posInt', width: 'posInt', dropout: 'prob', layerNormEps: 'posNum' },
  fusion: { width: 'posInt', layers: 'posInt', heads: 'posInt', mlpDim: 'posInt', layerNormEps: 'posNum', dropout: 'prob' },
  mae: { width: 'posInt', layers: 'posInt', heads: 'posInt', mlpDim: 'posInt', layerNormEps: 'posNum' },
} as const satisfies Record<string, Record<string, Kind>>;
const TOP: Record<string, Kind> = { name: 'string', architecture: 'arch', embedDim: 'posInt', logitScaleInit: 'finite' };

function checkValue(where: string, kind: Kind, v: unknown): unknown {
  const bad = (expected: string): never => {
    throw new Error(`${where} is ${JSON.stringify(v)}; expected ${expected}`);
  };
  switch (kind) {
    case 'posInt': return typeof v === 'number' && Number.isInteger(v) && v >= 1 ? v : bad('an integer >= 1');
    case 'posNum': return typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : bad('a number > 0');
    case 'prob': return typeof v === 'number' && v >= 0 && v < 1 ? v : bad('a probability in [0, 1)');
    case 'finite': return typeof v === 'number' && Number.isFinite(v) ? v : bad('a finite number');
    case 'string': return typeof v === 'string' && v.length > 0 ? v : bad('a non-empty string');
    case 'arch': return v === 'kemt' || v === 'clip' ? v : bad("'kemt' or 'clip'");
    case 'stem': return v === 'patch' || v === 'conv' ? v : bad("'patch' or 'conv'");
    case 'vocab': return v === null || (typeof v === 'number' && Number.isInteger(v) && v >= 1) ? v : bad('an integer >= 1, or null (from the tokenizer)');
    case 'triple':
      return Array.isArray(v) && v.length === 3 && v.every((x) => typeof x === 'number' && Number.isFinite(x)) ? [...(v as number[])] : bad('an array of 3 numbers');
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function rejectUnknown(where: string, o: Record<string, unknown>, valid: readonly string[]): void {
  const unknown = Object.keys(o).filter((k) => !valid.includes(k));
  if (unknown.length > 0) {
    throw new Error(`${where}: unknown key${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `'${k}'`).join(', ')}; valid keys: ${valid.join(', ')}`);
  }
}

/**
 * Fills defaults into a (partial) config object and validates it. `source` names it in errors.
 * @example resolveConfig(JSON.parse(text), 'configs/presets/tiny.json')
 */
export function resolveConfig(json: unknown, source: string): ModelConfig {
  if (!isObject(json)) throw new Error(`${source}: a model config must be a JSON object`);
  const sectionNames = Object.keys(SECTIONS);
  rejectUnknown(source, json, [...Object.keys(TOP), ...sectionNames]);
  const out: Record<string, unknown> = {};
  const defaults = DEFAULT_CONFIG as unknown as Record<string, unknown>;
  for (const [k, kind] of Object.entries(TOP)) out[k] = checkValue(`${source}: ${k}`, kind, json[k] ?? defaults[k]);
  for (const [sec, fields] of Object.entries(SECTIONS)) {
    const given = json[sec] ?? {};
    if (!isObject(given)) throw new Error(`${source}: ${sec} must be an object`);
    rejectUnknown(`${source}: ${sec}`, given, Object.keys(fields));
    const d = defaults[sec] as Record<string, unknown>;
    const r: Record<string, unknown> = {};
    for (const [k, kind] of Object.entries(fields)) {
      r[k] = checkValue(`${source}: ${sec}.${k}`, kind as Kind, k in given ? given[k] : d[k]);
    }
    out[sec] = r;
  }
  const c = out as unknown as ModelConfig;
  crossCheck(c, source);
  return c;
}

function crossCheck(c: ModelConfig, source: string): void {
  const fail = (msg: string): never => {
    throw new Error(`${source}: ${msg}`);
  };
  const heads = (sec: string, w: number, h: number): void => {
    if (w % h !== 0) fail(`${sec}.width ${w} is not divisible by ${sec}.heads ${h}`);
  };
  heads('image', c.image.width, c.image.heads);
  heads('text', c.text.width, c.text.heads);
  heads('fusion', c.fusion.width, c.fusion.heads);
  heads('mae', c.mae.width, c.mae.heads);
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
