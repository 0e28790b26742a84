/**
 * Image preprocessing settings. `ImageConfig` travels with the model (saved in every checkpoint and
 * read back by eval and serve): a model must see images prepared exactly as in training.
 * `AugmentConfig` is a training-time setting only.
 */

/** RGB triple, channel order R, G, B. */
export type Rgb = [number, number, number];

export interface ImageConfig {
  /** Output side S in pixels: each image becomes a (3, S, S) CHW Float32Array. */
  size: number;
  /** Per-channel mean on the 0..1 scale, subtracted after scaling. ImageNet: [0.485, 0.456, 0.406]. */
  mean: Rgb;
  /** Per-channel standard deviation on the 0..1 scale. ImageNet: [0.229, 0.224, 0.225]. */
  std: Rgb;
  /**
   * Luminance (0..255) above which a thumbnail pixel counts as fundus rather than the black
   * surround. The thumbnail is averaged down, so JPEG noise in the surround stays far below 10.
   */
  cropThreshold: number;
  /** Decompression-bomb guard: images with more pixels (width * height) are refused. */
  maxInputPixels: number;
}

export interface AugmentConfig {
  /** Probability of a horizontal flip. */
  flipProb: number;
  /** Rotation angle drawn uniformly in [-maxRotationDeg, +maxRotationDeg] degrees. */
  maxRotationDeg: number;
  /** Brightness factor drawn uniformly in [1 - brightness, 1 + brightness]. */
  brightness: number;
  /** Contrast factor drawn uniformly in [1 - contrast, 1 + contrast] (blend with mean grey). */
  contrast: number;
}

export const IMAGENET_MEAN: Rgb = [0.485, 0.456, 0.406];
export const IMAGENET_STD: Rgb = [0.229, 0.224, 0.225];

export const DEFAULT_IMAGE_CONFIG: Readonly<ImageConfig> = Object.freeze({
  size: 224,
  mean: IMAGENET_MEAN,
  std: IMAGENET_STD,
  cropThreshold: 10,
  maxInputPixels: 50_000_000,
});

export const DEFAULT_AUGMENT_CONFIG: Readonly<AugmentConfig> = Object.freeze({
  flipProb: 0.5,
  maxRotationDeg: 15,
  brightness: 0.1,
  contrast: 0.1,
});

function checkKeys(o: Record<string, unknown>, valid: readonly string[], where: string): void {
  const unknown = Object.keys(o).filter((k) => !valid.includes(k));
  if (unknown.length > 0) throw new Error(`${where}: unknown key(s) ${unknown.join(', ')}; valid keys: ${valid.join(', ')}`);
}

function num(o: Record<string, unknown>, key: string, where: string, min: number, max: number, int = false): number {
  const v = o[key];
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max || (int && !Number.isInteger(v))) {
    throw new Error(`${where}: ${key} is ${JSON.stringify(v)}; expected ${int ? 'an integer' : 'a number'} in [${min}, ${max}]`);
  }
  return v;
}

function rgb(o: Record<string, unknown>, key: string, where: string, positive: boolean): Rgb {
  const v = o[key];
  if (!Array.isArray(v) || v.length !== 3 || !v.every((x) => typeof x === 'number' && Number.isFinite(x) && (!positive || x > 0))) {
    throw new Error(`${where}: ${key} is ${JSON.stringify(v)}; expected 3 finite numbers (R, G, B)${positive ? ' > 0' : ''}`);
  }
  return [v[0], v[1], v[2]] as Rgb;
}

/**
 * Defaults + overrides, validated. Unknown keys are errors naming the valid ones.
 * @example resolveImageConfig({ size: 64 }) // ImageNet mean/std, crop threshold 10, 50 MP limit
 */
export function resolveImageConfig(partial: unknown = {}, where = 'image config'): ImageConfig {
  if (typeof partial !== 'object' || partial === null || Array.isArray(partial)) throw new Error(`${where}: expected an object`);
  const o: Record<string, unknown> = { ...DEFAULT_IMAGE_CONFIG, ...(partial as Record<string, unknown>) };
  checkKeys(o, Object.keys(DEFAULT_IMAGE_CONFIG), where);
  return {
    size: num(o, 'size', where, 1, 4096, true),
    mean: rgb(o, 'mean', where, false),
    std: rgb(o, 'std', where, true),
    cropThreshold: num(o, 'cropThreshold', where, 0, 254),
    maxInputPixels: num(o, 'maxInputPixels', where, 1, Number.MAX_SAFE_INTEGER, true),
  };
}

/**
 * Defaults + overrides for augmentation, validated.
 * @example resolveAugmentConfig({ maxRotationDeg: 0 }) // flips and colour jitter only
 */
export function resolveAugmentConfig(partial: unknown = {}, where = 'augment config'): AugmentConfig {
  if (typeof partial !== 'object' || partial === null || Array.isArray(partial)) throw new Error(`${where}: expected an object`);
  const o: Record<string, unknown> = { ...DEFAULT_AUGMENT_CONFIG, ...(partial as Record<string, unknown>) };
  checkKeys(o, Object.keys(DEFAULT_AUGMENT_CONFIG), where);
  return {
    flipProb: num(o, 'flipProb', where, 0, 1),
    maxRotationDeg: num(o, 'maxRotationDeg', where, 0, 180),
    brightness: num(o, 'brightness', where, 0, 1),
    contrast: num(o, 'contrast', where, 0, 1),
  };
}
