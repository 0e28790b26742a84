/**
 * Seeded augmentation and normalization on an S x S RGB image, pure functions.
 * Parameters are drawn on the consumer's side from (seed, image index), so the result does not
 * depend on which worker decodes which image or in what order.
 */
import { Rng } from '../rng.js';
import type { AugmentConfig, Rgb } from './config.js';

/** One image's draw. Identity: { flip: false, angleDeg: 0, brightness: 1, contrast: 1 }. */
export interface AugmentParams {
  flip: boolean;
  /** Counter-clockwise rotation about the image centre, degrees. */
  angleDeg: number;
  /** Multiplies intensities (0..1 scale), clipped to [0, 1]. */
  brightness: number;
  /** Blends with the image's mean grey: m + contrast * (v - m), clipped to [0, 1]. */
  contrast: number;
}

/**
 * Draws flip, angle, brightness, contrast in that order from `rng`.
 * @example drawAugment(new Rng(1), DEFAULT_AUGMENT_CONFIG) // { flip: true, angleDeg: -3.1, ... }
 */
export function drawAugment(rng: Rng, cfg: AugmentConfig): AugmentParams {
  return {
    flip: rng.bernoulli(cfg.flipProb),
    angleDeg: rng.range(-cfg.maxRotationDeg, cfg.maxRotationDeg),
    brightness: rng.range(1 - cfg.brightness, 1 + cfg.brightness),
    contrast: rng.range(1 - cfg.contrast, 1 + cfg.contrast),
  };
}

/**
 * The draw for image `index` of a run seeded with `seed`: same (seed, index) -> same params.
 * @example augmentParamsFor(7, 0, cfg) // deterministic, independent of other indices
 */
export function augmentParamsFor(seed: number, index: number, cfg: AugmentConfig): AugmentParams {
  return drawAugment(new Rng(seed).fork(index), cfg);
}

/**
 * HWC uint8 RGB (S*S*3) -> CHW Float32Array (3*S*S): optional flip + rotation (bilinear, black
 * outside), brightness, contrast, then (v / 255 - mean[c]) / std[c].
 *
 * @example
 *   toChw(Uint8Array.from([255, 0, 0]), 1, [0, 0, 0], [1, 1, 1], null); // Float32Array [1, 0, 0]
 */
export function toChw(rgb: Uint8Array, S: number, mean: Rgb, std: Rgb, aug: AugmentParams | null): Float32Array {
  const n = S * S;
  if (rgb.length !== n * 3) throw new Error(`toChw: got ${rgb.length} bytes; expected ${S}x${S}x3 = ${n * 3}`);
  const out = new Float32Array(3 * n);
  if (aug === null) {
    // One pass through a per-channel table of the 256 possible values.
    const lut = new Float32Array(768);
    for (let c = 0; c < 3; c++) {
      for (let v = 0; v < 256; v++) lut[c * 256 + v] = (v / 255 - (mean[c] as number)) / (std[c] as number);
    }
    for (let i = 0, j = 0; i < n; i++, j += 3) {
      out[i] = lut[rgb[j] as number] as number;
      out[n + i] = lut[256 + (rgb[j + 1] as number)] as number;
      out[2 * n + i] = lut[512 + (rgb[j + 2] as number)] as number;
    }
    return out;
  }
  // Geometry: out(p) = in(q), q = unflip(R(-angle) (p - centre) + centre). Values on the 0..1 scale.
  const th = (aug.angleDeg * Math.PI) / 180;
  const cos = Math.cos(th);
  const sin = Math.sin(th);
  const ctr = (S - 1) / 2;
  const px = (x: number, y: number, c: number): number =>
    x < 0 || y < 0 || x >= S || y >= S ? 0 : (rgb[(y * S + x) * 3 + c] as number) / 255;
  for (let y = 0; y < S; y++) {
    for (let x = 0; x < S; x++) {
      const dx = x - ctr;
      const dy = y - ctr;
      // Image y points down, so a counter-clockwise turn on screen samples from (cos dx - sin dy, sin dx + cos dy).
      let qx = cos * dx - sin * dy + ctr;
      const qy = sin * dx + cos * dy + ctr;
      if (aug.flip) qx = S - 1 - qx;
      // Snap float noise (e.g. cos 90deg = 6e-17) so exact grid positions sample exactly.
      const rx = Math.abs(qx - Math.round(qx)) < 1e-9 ? Math.round(qx) : qx;
      const ry = Math.abs(qy - Math.round(qy)) < 1e-9 ? Math.round(qy) : qy;
      const x0 = Math.floor(rx);
      const y0 = Math.floor(ry);
      const fx = rx - x0;
      const fy = ry - y0;
      const i = y * S + x;
      for (let c = 0; c < 3; c++) {
        const v =
          (1 - fy) * ((1 - fx) * px(x0, y0, c) + fx * px(x0 + 1, y0, c)) +
          fy * ((1 - fx) * px(x0, y0 + 1, c) + fx * px(x0 + 1, y0 + 1, c));
        out[c * n + i] = v;
      }
    }
  }
  // Photometric: brightness, then contrast around the mean grey (ITU-R 601 luma) of the result.
  let grey = 0;
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < 3; c++) out[c * n + i] = Math.min(1, Math.max(0, (out[c * n + i] as number) * aug.brightness));
    grey += 0.299 * (out[i] as number) + 0.587 * (out[n + i] as number) + 0.114 * (out[2 * n + i] as number);
  }
  grey /= n;
  for (let c = 0; c < 3; c++) {
    const m = mean[c] as number;
    const inv = 1 / (std[c] as number);
    const o = c * n;
    for (let i = 0; i < n; i++) {
      const v = Math.min(1, Math.max(0, grey + aug.contrast * ((out[o + i] as number) - grey)));
      out[o + i] = (v - m) * inv;
    }
  }
  return out;
}
