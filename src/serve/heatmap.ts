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

/** Colour of t in [0, 1] on the ramp. */
export function rampColor(t: number): [number, number, number] {
  const c = new Float64Array(3);
  rampInto(t, c);
  return [c[0] as number, c[1] as number, c[2] as number];
}

/** rampColor(t) written into out[0..2] (no array per call: blendHeat runs it per pixel). */
function rampInto(t: number, out: Float64Array): void {
  const x = Math.min(1, Math.max(0, t));
  for (let i = 1; i < RAMP.length; i++) {
    const p1 = RAMP[i] as readonly number[];
    if (x <= (p1[0] as number)) {
      const p0 = RAMP[i - 1] as readonly number[];
      const f = (x - (p0[0] as number)) / ((p1[0] as number) - (p0[0] as number));
      for (let k = 1; k <= 3; k++) out[k - 1] = (p0[k] as number) + f * ((p1[k] as number) - (p0[k] as number));
      return;
    }
  }
  out[0] = 252; out[1] = 255; out[2] = 164;
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
 * without a per-pixel array (rampInto into one scratch array): on a 288 px heatmap the arrays cost ~10 ms of the event loop per grade.
 * @example blendHeat(Buffer.from([10, 20, 30]), Float32Array.from([0])) // [10, 20, 30]: no heat, the photo
 */
export function blendHeat(photo: Uint8Array, heat: Float32Array): Buffer {
  if (photo.length !== heat.length * 3) throw new Error(`blendHeat: ${photo.length} bytes for ${heat.length} pixels; expected 3 bytes per pixel`);
  const out = Buffer.alloc(photo.length);
  const c = new Float64Array(3);
  for (let i = 0; i < heat.length; i++) {
    const v = heat[i] as number;
    rampInto(v, c);
    const a = 0.7 * v;
    const j = i * 3;
    for (let k = 0; k < 3; k++) out[j + k] = Math.round((1 - a) * (photo[j + k] as number) + a * (c[k] as number));
  }
  return out;
}
