/**
 * Fundus cropping, pure functions: find the bright disc on a small luminance thumbnail, then plan
 * the resize/extract/pad that maps the disc's bounding square onto S x S.
 */

/** Axis-aligned box in pixels: [left, left + width) x [top, top + height). */
export interface Box {
  left: number;
  top: number;
  width: number;
  height: number;
}

/**
 * Bounding box of the fundus disc on a luminance image (w*h, row-major, 0..255).
 *
 * A row (column) belongs to the disc when its count of pixels above `threshold` is at least
 * `minLineFraction` of the largest row (column) count. Relative counts, not "any bright pixel",
 * keep burnt-in text and timestamps in the black corners out of the box: their columns hold a few
 * bright pixels against the disc's full diameter. On a circle the 0.1 cut trims at most 0.5% of the
 * radius. Returns null when no pixel exceeds the threshold (an all-dark image).
 *
 * @example
 *   // 4x3 image, bright pixels at (1,1) and (2,1)
 *   findFundusBox(Uint8Array.from([0,0,0,0, 0,200,200,0, 0,0,0,0]), 4, 3, 10); // {left:1, top:1, width:2, height:1}
 */
export function findFundusBox(lum: Uint8Array, w: number, h: number, threshold: number, minLineFraction = 0.1): Box | null {
  if (lum.length !== w * h) throw new Error(`findFundusBox: luminance has ${lum.length} values; expected ${w}x${h} = ${w * h}`);
  const rows = new Uint32Array(h);
  const cols = new Uint32Array(w);
  for (let y = 0; y < h; y++) {
    const o = y * w;
    for (let x = 0; x < w; x++) {
      if ((lum[o + x] as number) > threshold) {
        rows[y] = (rows[y] as number) + 1;
        cols[x] = (cols[x] as number) + 1;
      }
    }
  }
  const span = (counts: Uint32Array): [number, number] | null => {
    let max = 0;
    for (const c of counts) max = Math.max(max, c);
    if (max === 0) return null;
    const cut = Math.max(1, minLineFraction * max);
    let lo = 0;
    while ((counts[lo] as number) < cut) lo++;
    let hi = counts.length - 1;
    while ((counts[hi] as number) < cut) hi--;
    return [lo, hi + 1];
  };
  const ys = span(rows);
  const xs = span(cols);
  if (ys === null || xs === null) return null;
  return { left: xs[0], top: ys[0], width: xs[1] - xs[0], height: ys[1] - ys[0] };
}

/** Sharp operations that turn a W x H image into S x S around a box (see planCrop). */
export interface CropPlan {
  /** Resize the whole image to this size first (so the box's longer side becomes S). */
  resizeWidth: number;
  resizeHeight: number;
  /** Then extract this region of the resized image (the box's square, clipped to the image). */
  extract: Box;
  /** Then place it at (left, top) on an S x S black canvas (square centred on the box). */
  extend: { top: number; bottom: number; left: number; right: number };
}

/**
 * Plans resize -> extract -> pad so that the square of side
 * max(box.width, box.height) centred on the box fills S x S, black where it leaves the image.
 * Resizing first lets sharp decode JPEGs at 1/2, 1/4 or 1/8 scale (shrink-on-load).
 *
 * @example
 *   planCrop(200, 100, { left: 50, top: 0, width: 100, height: 100 }, 50);
 *   // { resizeWidth: 100, resizeHeight: 50, extract: {left:25, top:0, width:50, height:50}, extend: all 0 }
 */
export function planCrop(imgW: number, imgH: number, box: Box, S: number): CropPlan {
  const side = Math.max(box.width, box.height);
  if (!(side > 0)) throw new Error(`planCrop: empty box ${JSON.stringify(box)}`);
  const s = S / side;
  const rw = Math.max(1, Math.round(imgW * s));
  const rh = Math.max(1, Math.round(imgH * s));
  const sx0 = Math.round((box.left + box.width / 2) * s - S / 2);
  const sy0 = Math.round((box.top + box.height / 2) * s - S / 2);
  const clamp = (v: number, hi: number): number => Math.min(hi, Math.max(0, v));
  const ex0 = clamp(sx0, rw);
  const ex1 = clamp(sx0 + S, rw);
  const ey0 = clamp(sy0, rh);
  const ey1 = clamp(sy0 + S, rh);
  if (ex1 <= ex0 || ey1 <= ey0) throw new Error(`planCrop: box ${JSON.stringify(box)} lies outside the ${imgW}x${imgH} image`);
  return {
    resizeWidth: rw,
    resizeHeight: rh,
    extract: { left: ex0, top: ey0, width: ex1 - ex0, height: ey1 - ey0 },
    extend: { left: ex0 - sx0, right: sx0 + S - ex1, top: ey0 - sy0, bottom: sy0 + S - ey1 },
  };
}
