/**
 * Attention heatmap over the photo: the rollout weights on the ViT patch grid (rows x cols), min-max
 * scaled, bilinearly upsampled and blended onto the S x S crop the model saw, colour-mapped with an
 * inferno-like ramp (dark = little attention, yellow = most). Output: a PNG of side `side`.
 *
 * @example
 *   const png = await renderHeatmap(img.rgb, img.size, { rows: 8, cols: 8, weights }, 256);
 */
import sharp from 'sharp';

/** Inferno-like control points (t, r, g, b): perceptually ordered, readable on a red fundus. */
const RAMP: readonly (readonly [number, number, number, number])[] = [
  [0, 0, 0, 4], [0.25, 87, 16, 110], [0.5, 188, 55, 84], [0.75, 249, 142, 9], [1, 252, 255, 164],
];

/** The ramp's columns as flat arrays, for blendHeat's per-pixel loop. */
const RAMP_T = Float64Array.from(RAMP, (p) => p[0]);
const RAMP_R = Float64Array.from(RAMP, (p) => p[1]);
const RAMP_G = Float64Array.from(RAMP, (p) => p[2]);
const RAMP_B = Float64Array.from(RAMP, (p) => p[3]);

/** Colour of t in [0, 1] on the ramp. */
export function rampColor(t: number): [number, number, number] {
  const x = Math.min(1, Math.max(0, t));
  for (let i = 1; i < RAMP.length; i++) {
    const [t1, r1, g1, b1] = RAMP[i] as readonly [number, number, number, number];
    if (x <= t1) {
      const [t0, r0, g0, b0] = RAMP[i - 1] as readonly [number, number, number, number];
      const f = (x - t0) / (t1 - t0);
      return [r0 + f * (r1 - r0), g0 + f * (g1 - g0), b0 + f * (b1 - b0)];
    }
  }
  return [252, 255, 164];
}

/**
 * Bilinear upsampling of a rows x cols grid to side x side (cell centres aligned), min-max scaled
 * to [0, 1] (all equal -> zeros).
 * @example upsampleGrid(Float32Array.from([0, 1]), 1, 2, 2) // [0, 1, 0, 1]
 */
export function upsampleGrid(w: Float32Array, rows: number, cols: number, side: number): Float32Array {
  if (w.length !== rows * cols) throw new Error(`upsampleGrid: ${w.length} weights, expected ${rows}x${cols}`);
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of w) {
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  const span = hi - lo;
  const out = new Float32Array(side * side);
  if (!(span > 0)) return out;
  const at = (r: number, c: number): number => ((w[r * cols + c] as number) - lo) / span;
  for (let y = 0; y < side; y++) {
    const gy = Math.min(rows - 1, Math.max(0, ((y + 0.5) / side) * rows - 0.5));
    const r0 = Math.floor(gy);
    const r1 = Math.min(rows - 1, r0 + 1);
    const fy = gy - r0;
    for (let x = 0; x < side; x++) {
      const gx = Math.min(cols - 1, Math.max(0, ((x + 0.5) / side) * cols - 0.5));
      const c0 = Math.floor(gx);
      const c1 = Math.min(cols - 1, c0 + 1);
      const fx = gx - c0;
      const top = at(r0, c0) * (1 - fx) + at(r0, c1) * fx;
      const bottom = at(r1, c0) * (1 - fx) + at(r1, c1) * fx;
      out[y * side + x] = top * (1 - fy) + bottom * fy;
    }
  }
  return out;
}

/** Heatmap side for an S-pixel model input: S times the smallest integer reaching 256 px. */
export function heatmapSide(S: number): number {
  return S * Math.max(1, Math.ceil(256 / S));
}

/**
 * The crop (S x S x 3 RGB bytes) with the attention blended over it, as a PNG of side x side.
 * Blend weight 0.7 * v: low attention leaves the photo visible.
 */
export async function renderHeatmap(rgb: Uint8Array, S: number, att: { rows: number; cols: number; weights: Float32Array }, side = heatmapSide(S)): Promise<Buffer> {
  if (rgb.length !== S * S * 3) throw new Error(`renderHeatmap: ${rgb.length} bytes, expected ${S}x${S}x3`);
  const photo = await sharp(Buffer.from(rgb.buffer, rgb.byteOffset, rgb.byteLength), { raw: { width: S, height: S, channels: 3 } })
    .resize(side, side, { kernel: 'cubic' })
    .raw()
    .toBuffer();
  const heat = upsampleGrid(att.weights, att.rows, att.cols, side);
  return sharp(blendHeat(photo, heat), { raw: { width: side, height: side, channels: 3 } }).png({ compressionLevel: 6 }).toBuffer();
}

/**
 * The heat (one value in [0, 1] per pixel) blended over RGB bytes: colour rampColor(v) at weight
 * 0.7 * v. The same arithmetic as calling rampColor per pixel (the same bytes: a test compares them),
 * without its per-pixel array: on a 288 px heatmap that call cost ~10 ms of the event loop per grade.
 * @example blendHeat(Buffer.from([10, 20, 30]), Float32Array.from([0])) // [10, 20, 30]: no heat, the photo
 */
export function blendHeat(photo: Uint8Array, heat: Float32Array): Buffer {
  if (photo.length !== heat.length * 3) throw new Error(`blendHeat: ${photo.length} bytes for ${heat.length} pixels; expected 3 bytes per pixel`);
  const out = Buffer.alloc(photo.length);
  const last = RAMP_T.length - 1;
  for (let i = 0; i < heat.length; i++) {
    const v = heat[i] as number;
    const x = Math.min(1, Math.max(0, v));
    let k = 1; // the first control point at or above x, as rampColor finds it
    while (k < last && x > (RAMP_T[k] as number)) k++;
    const t0 = RAMP_T[k - 1] as number;
    const f = (x - t0) / ((RAMP_T[k] as number) - t0);
    const r = (RAMP_R[k - 1] as number) + f * ((RAMP_R[k] as number) - (RAMP_R[k - 1] as number));
    const g = (RAMP_G[k - 1] as number) + f * ((RAMP_G[k] as number) - (RAMP_G[k - 1] as number));
    const b = (RAMP_B[k - 1] as number) + f * ((RAMP_B[k] as number) - (RAMP_B[k - 1] as number));
    const a = 0.7 * v;
    const j = i * 3;
    out[j] = Math.round((1 - a) * (photo[j] as number) + a * r);
    out[j + 1] = Math.round((1 - a) * (photo[j + 1] as number) + a * g);
    out[j + 2] = Math.round((1 - a) * (photo[j + 2] as number) + a * b);
  }
  return out;
}
