/**
 * Scene -> pixels. Albedo first (fundus colour with texture and macular pigment, optic disc, deep
 * findings, vessels, intraretinal lesions, new vessels, preretinal blood), then the camera: field
 * mask, vignetting, illumination defects, colour cast, dust/haze artifacts and sensor grain;
 * finally sharp blurs (focus defects) and encodes a JPEG with fixed options (same bytes per seed).
 */
import sharp from 'sharp';
import { Rng } from '../rng.js';
import { Canvas, type RGB } from './raster.js';
import type { CameraStyle, EyeScene, Lesion, View } from './types.js';

/** Camera looks: colour cast, vignetting strength/profile, brightness, grain. */
const CAMERAS: Record<CameraStyle, { cast: RGB; vig: number; pow: number; gain: number; grain: number }> = {
  canon: { cast: [1.08, 0.9, 0.78], vig: 0.58, pow: 2.2, gain: 1.0, grain: 0.018 },
  nikon: { cast: [1.0, 1.18, 1.12], vig: 0.4, pow: 2.8, gain: 1.08, grain: 0.012 },
  deepeyenet: { cast: [0.86, 1.12, 1.3], vig: 0.66, pow: 1.7, gain: 0.95, grain: 0.025 },
};

const BASE: RGB = [0.9, 0.4, 0.17];
const VEIN: RGB = [0.46, 0.08, 0.06];
const ARTERY: RGB = [0.7, 0.16, 0.09];
const HAEM: RGB = [0.42, 0.04, 0.03];
const MA: RGB = [0.5, 0.03, 0.03];
const EXUDATE: RGB = [1.0, 0.93, 0.45];
const CWS: RGB = [0.96, 0.92, 0.84];
const NEW_VESSEL: RGB = [0.72, 0.1, 0.1];
const DRUSEN: RGB = [1.0, 0.86, 0.5];

/** Smallest drawn radius (px) per lesion kind, so that lesions stay visible at 96-128 px. */
const MIN_PX = { ma: 1.1, dot: 1.2, blot: 1.9, flame: 0.9, exudate: 0.85, cws: 2.3, laser: 1.5, drusen: 1.0, line: 0.5 };

/** JPEG options fixed for reproducible bytes. */
export const JPEG_OPTIONS = { quality: 90, chromaSubsampling: '4:2:0', mozjpeg: false, progressive: false } as const;

/**
 * Render a scene into 8-bit RGB (H, W, 3), before blur and encoding.
 *
 * @example const rgb = renderRgb(scene, view); rgb.length === view.width * view.height * 3
 */
export function renderRgb(scene: EyeScene, view: View): Uint8ClampedArray {
  const { width: W, height: H } = view;
  const cv = canvasFor(W, H);
  const k = (view.fieldRadius * H) / view.fov; // px per retina unit
  const cr = Math.cos(view.rotation);
  const sr = Math.sin(view.rotation);
  const toPx = (x: number, y: number): [number, number] => {
    const dx = x - view.centreX;
    const dy = y - view.centreY;
    return [W / 2 + k * (cr * dx - sr * dy), H / 2 + k * (sr * dx + cr * dy)];
  };
  background(cv, scene, view, k, cr, sr);
  const a = scene.anatomy;

  // Optic disc: pinkish-yellow rim, paler cup (displaced slightly temporally).
  const [dx, dy] = toPx(a.disc.x, a.disc.y);
  const side = a.eye === 'right' ? 1 : -1;
  cv.ellipse(dx, dy, a.disc.rx * k, a.disc.ry * k, view.rotation, [1.0, 0.78, 0.52], 1, Math.max(1, 0.015 * k));
  const [cx, cy] = toPx(a.disc.x - side * a.disc.rx * 0.12, a.disc.y);
  const cup = a.disc.cupRatio;
  cv.ellipse(cx, cy, a.disc.rx * cup * k, a.disc.ry * cup * k, view.rotation, [1.0, 0.95, 0.82], 0.9, Math.max(1, 0.02 * k));

  const byType = (t: Lesion['type']): Lesion[] => scene.lesions.filter((l) => l.type === t);
  const r = (l: Lesion, min: number): number => Math.max(l.size * k, min);

  // Deep findings first (vessels pass over them).
  for (const l of byType('drusen')) {
    const [x, y] = toPx(l.x, l.y);
    cv.ellipse(x, y, r(l, MIN_PX.drusen), r(l, MIN_PX.drusen), 0, DRUSEN, 0.85, Math.max(1, l.size * k * 0.5));
  }
  for (const l of byType('nevus')) {
    const [x, y] = toPx(l.x, l.y);
    cv.ellipse(x, y, l.size * k, l.size * k * 0.8, l.angle, [0.36, 0.3, 0.27], 0.75, Math.max(1, l.size * k * 0.35));
  }
  for (const l of byType('chorioretinal_scar')) {
    const [x, y] = toPx(l.x, l.y);
    cv.ellipse(x, y, l.size * k * 1.15, l.size * k * 0.95, l.angle, [0.2, 0.12, 0.08], 0.9, Math.max(1, l.size * k * 0.2));
    cv.ellipse(x, y, l.size * k * 0.85, l.size * k * 0.65, l.angle, [0.97, 0.92, 0.8], 0.95, Math.max(1, l.size * k * 0.15));
  }
  for (const l of byType('laser_scar')) {
    const [x, y] = toPx(l.x, l.y);
    const rr = r(l, MIN_PX.laser);
    cv.ellipse(x, y, rr, rr, 0, [0.95, 0.85, 0.62], 0.7, 1);
    cv.ellipse(x, y, rr * 0.6, rr * 0.6, 0, [0.22, 0.12, 0.07], 0.9, 1);
  }

  vessels(cv, scene, k, toPx);

  // Intraretinal lesions.
  for (const l of byType('cotton_wool_spot')) {
    const [x, y] = toPx(l.x, l.y);
    const rr = r(l, MIN_PX.cws);
    cv.ellipse(x, y, rr, rr * 0.75, l.angle, CWS, 0.9, Math.max(1, rr * 0.55));
  }
  for (const l of byType('hard_exudate')) {
    const [x, y] = toPx(l.x, l.y);
    const rr = r(l, MIN_PX.exudate);
    cv.ellipse(x, y, rr, rr * 0.8, l.angle, EXUDATE, 1, 0.8);
  }
  for (const l of byType('flame_haemorrhage')) {
    // Streak along the nerve fibres: radial from the optic disc.
    const [x, y] = toPx(l.x, l.y);
    const ang = Math.atan2(l.y - a.disc.y, l.x - a.disc.x) + view.rotation;
    cv.ellipse(x, y, Math.max(l.size * k, 2.5), Math.max(l.size * k * 0.3, MIN_PX.flame), ang, HAEM, 0.95, 1);
  }
  for (const l of byType('blot_haemorrhage')) {
    const [x, y] = toPx(l.x, l.y);
    const rr = r(l, MIN_PX.blot);
    cv.ellipse(x, y, rr, rr * 0.8, l.angle, HAEM, 0.95, 1.2);
    const t = l.seed * 2 * Math.PI;
    cv.ellipse(x + rr * 0.5 * Math.cos(t), y + rr * 0.5 * Math.sin(t), rr * 0.6, rr * 0.55, l.angle, HAEM, 0.95, 1.2);
  }
  for (const l of byType('dot_haemorrhage')) {
    const [x, y] = toPx(l.x, l.y);
    const rr = r(l, MIN_PX.dot);
    cv.ellipse(x, y, rr, rr, 0, HAEM, 0.95, 1);
  }
  for (const l of byType('microaneurysm')) {
    const [x, y] = toPx(l.x, l.y);
    const rr = r(l, MIN_PX.ma);
    cv.ellipse(x, y, rr, rr, 0, MA, 1, 0.7);
  }
  for (const l of byType('irma')) tangle(cv, l, k, toPx, 5, 0.22, [0.62, 0.09, 0.07]);
  for (const l of byType('neovascularisation_disc')) tangle(cv, l, k, toPx, 16, 0.35, NEW_VESSEL);
  for (const l of byType('neovascularisation_elsewhere')) tangle(cv, l, k, toPx, 10, 0.4, NEW_VESSEL);
  for (const l of byType('preretinal_haemorrhage')) {
    const [x, y] = toPx(l.x, l.y);
    const rr = l.size * k;
    cv.ellipse(x, y, rr * 1.2, rr, 0, [0.33, 0.02, 0.02], 0.97, Math.max(1, rr * 0.08), y - rr * 0.35);
  }
  const out = new Uint8ClampedArray(W * H * 3);
  camera(cv, view, out);
  return out;
}

/**
 * One reusable canvas per frame size: rendering is synchronous, so a canvas is never shared by two
 * renders at once, and reuse avoids ~1.3 MB of fresh typed arrays (and GC) per 224-px image.
 */
let cached: Canvas | null = null;
function canvasFor(w: number, h: number): Canvas {
  if (cached === null || cached.width !== w || cached.height !== h) cached = new Canvas(w, h);
  else cached.clear();
  return cached;
}

/** Albedo inside the whole frame: base colour x eye tint x choroidal texture x macular pigment. */
function background(cv: Canvas, scene: EyeScene, view: View, k: number, cr: number, sr: number): void {
  const { width: W, height: H } = view;
  const { n, values } = scene.anatomy.texture;
  const t = scene.anatomy.tint;
  const b0 = BASE[0] * t[0];
  const b1 = BASE[1] * t[1];
  const b2 = BASE[2] * t[2];
  const scale = (n - 1) / 2.4;
  const d = cv.data;
  // Pixels beyond the field circle (+1 px of anti-aliasing) are masked by camera(): skip them.
  const Rpx = view.fieldRadius * H;
  const lim2 = (Rpx + 1.5) * (Rpx + 1.5);
  for (let py = 0; py < H; py++) {
    const v = py - H / 2;
    let o = py * W * 3;
    for (let px = 0; px < W; px++, o += 3) {
      const u = px - W / 2;
      if (u * u + v * v > lim2) continue;
      const rx = view.centreX + (cr * u + sr * v) / k;
      const ry = view.centreY + (-sr * u + cr * v) / k;
      // Bilinear choroidal texture on an n x n grid spanning [-1.2, 1.2]^2.
      let gx = (rx + 1.2) * scale;
      let gy = (ry + 1.2) * scale;
      gx = gx < 0 ? 0 : gx > n - 1.001 ? n - 1.001 : gx;
      gy = gy < 0 ? 0 : gy > n - 1.001 ? n - 1.001 : gy;
      const ix = gx | 0;
      const iy = gy | 0;
      const fx = gx - ix;
      const fy = gy - iy;
      const i0 = iy * n + ix;
      const tex =
        (values[i0] as number) * (1 - fx) * (1 - fy) + (values[i0 + 1] as number) * fx * (1 - fy) +
        (values[i0 + n] as number) * (1 - fx) * fy + (values[i0 + n + 1] as number) * fx * fy;
      const r2 = rx * rx + ry * ry;
      // Macular pigment and foveal pit (negligible beyond r2 = 0.25).
      let mac = 1;
      let green = 1;
      if (r2 < 0.25) {
        const e = Math.exp(-r2 / 0.022);
        mac = 1 - 0.32 * e - 0.12 * Math.exp(-r2 / 0.0015);
        green = 1 - 0.08 * e;
      }
      const f = (1 + 0.09 * tex) * mac;
      d[o] = b0 * f;
      d[o + 1] = b1 * f * green;
      d[o + 2] = b2 * f;
    }
  }
}

/** Vessel tree: veins then arteries, thin vessels faded; beaded stretches of veins drawn on top. */
function vessels(cv: Canvas, scene: EyeScene, k: number, toPx: (x: number, y: number) => [number, number]): void {
  const maxN = Math.max(...scene.anatomy.vessels.map((v) => v.xs.length));
  const xs = new Float64Array(maxN);
  const ys = new Float64Array(maxN);
  const rs = new Float64Array(maxN);
  for (const kind of ['vein', 'artery'] as const) {
    for (const v of scene.anatomy.vessels) {
      if (v.kind !== kind) continue;
      let mean = 0;
      for (let i = 0; i < v.xs.length; i++) {
        const [x, y] = toPx(v.xs[i] as number, v.ys[i] as number);
        xs[i] = x;
        ys[i] = y;
        const rpx = ((v.widths[i] as number) * k) / 2;
        mean += rpx;
        rs[i] = Math.max(rpx, MIN_PX.line);
      }
      mean /= v.xs.length;
      // Thin vessels show less contrast against the fundus.
      const alpha = Math.min(1, Math.max(0.35, mean / 0.9));
      cv.stroke(xs, ys, rs, v.xs.length, kind === 'vein' ? VEIN : ARTERY, alpha);
    }
  }
  for (const b of scene.beading) {
    const v = scene.anatomy.vessels[b.vessel];
    if (!v) continue;
    for (let i = b.from; i < b.to; i++) {
      const [x, y] = toPx(v.xs[i] as number, v.ys[i] as number);
      const w = Math.max(((v.widths[i] as number) * k) / 2, 0.8);
      const rr = w * (i % 2 === 0 ? 1.9 : 1.25);
      cv.ellipse(x, y, rr, rr, 0, [0.36, 0.05, 0.05], 1, 1);
    }
  }
}

/** Fine tortuous vessels (IRMA, new vessels): `loops` random-walk loops around the lesion centre. */
function tangle(
  cv: Canvas, l: Lesion, k: number, toPx: (x: number, y: number) => [number, number],
  loops: number, widthFrac: number, col: RGB,
): void {
  const rng = new Rng(Math.floor(l.seed * 4294967296));
  const [cx, cy] = toPx(l.x, l.y);
  const R = l.size * k;
  // A faint fibrovascular haze under the loops.
  cv.ellipse(cx, cy, R * 0.9, R * 0.9, 0, [0.8, 0.3, 0.22], 0.25, Math.max(1, R * 0.4));
  const steps = 12;
  const xs = new Float64Array(steps + 1);
  const ys = new Float64Array(steps + 1);
  const rs = new Float64Array(steps + 1).fill(Math.max(MIN_PX.line, widthFrac * Math.max(1, 0.012 * k)));
  for (let j = 0; j < loops; j++) {
    const t = rng.range(0, 2 * Math.PI);
    const rad = R * Math.sqrt(rng.uniform()) * 0.8;
    const ox = cx + rad * Math.cos(t);
    const oy = cy + rad * Math.sin(t);
    const lr = R * rng.range(0.2, 0.45);
    const start = rng.range(0, 2 * Math.PI);
    for (let i = 0; i <= steps; i++) {
      const a = start + (i / steps) * 2 * Math.PI * 0.9;
      const wob = 1 + 0.35 * Math.sin(a * 3 + j);
      xs[i] = ox + lr * wob * Math.cos(a);
      ys[i] = oy + lr * wob * Math.sin(a);
    }
    cv.stroke(xs, ys, rs, steps + 1, col, 0.9);
  }
}

/**
 * Camera: field mask, vignetting and illumination defects, colour cast, haze, grain; writes the
 * 8-bit output. Dust (a multiplicative shadow) is drawn into the albedo first.
 */
function camera(cv: Canvas, view: View, out: Uint8ClampedArray): void {
  const { width: W, height: H } = view;
  const cam = CAMERAS[view.camera];
  const q = view.quality;
  const Rpx = view.fieldRadius * H;
  const rng = new Rng(view.seed);
  for (let i = 0; i < q.dust; i++) {
    const t = rng.range(0, 2 * Math.PI);
    const rad = Math.sqrt(rng.uniform()) * Rpx * 0.8;
    const size = rng.range(0.02, 0.045) * H;
    cv.ellipse(W / 2 + rad * Math.cos(t), H / 2 + rad * Math.sin(t), size, size, 0, [0.02, 0.02, 0.02], rng.range(0.3, 0.5), size * 0.6);
  }
  const gradAngle = rng.range(0, 2 * Math.PI);
  const gcx = Math.cos(gradAngle);
  const gcy = Math.sin(gradAngle);
  const hazeAngle = rng.range(0, 2 * Math.PI);
  const hx = Math.cos(hazeAngle);
  const hy = Math.sin(hazeAngle);
  // Vignetting 1 - vig * r^pow as a lookup table over r in [0, 1] (Math.pow per pixel is slow).
  const LUT = 256;
  const vign = new Float64Array(LUT + 2);
  for (let i = 0; i <= LUT + 1; i++) vign[i] = 1 - cam.vig * Math.pow(Math.min(i / LUT, 1), cam.pow);
  const gain = cam.gain * q.gain;
  const c0 = cam.cast[0] * 255;
  const c1 = cam.cast[1] * 255;
  const c2 = cam.cast[2] * 255;
  const grain = cam.grain * 255;
  const d = cv.data;
  let seed = view.seed | 0;
  let o = 0;
  for (let py = 0; py < H; py++) {
    const v = (py - H / 2) / Rpx;
    for (let px = 0; px < W; px++, o += 3) {
      const u = (px - W / 2) / Rpx;
      const rr = Math.sqrt(u * u + v * v);
      // Integer hash grain (xorshift-multiply): deterministic, no allocation.
      seed = (Math.imul(seed ^ (seed >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) | 0;
      const noise = ((seed >>> 8) / 16777216 - 0.5) * 2;
      let mask = (1 - rr) * Rpx + 0.5;
      if (mask <= 0) {
        const g = 3 + noise;
        out[o] = g;
        out[o + 1] = g;
        out[o + 2] = g;
        continue;
      }
      if (mask > 1) mask = 1;
      const fi = (rr > 1 ? 1 : rr) * LUT;
      const ii = fi | 0;
      const vg = (vign[ii] as number) + ((vign[ii + 1] as number) - (vign[ii] as number)) * (fi - ii);
      let ill = gain * vg * (1 + q.gradient * (u * gcx + v * gcy));
      if (ill < 0) ill = 0;
      const m = ill * mask;
      let r = (d[o] as number) * c0 * m;
      let g = (d[o + 1] as number) * c1 * m;
      let b = (d[o + 2] as number) * c2 * m;
      if (q.haze > 0 && rr > 0.55) {
        // Bright crescent of stray light toward one side of the rim.
        const side = (u * hx + v * hy) / (rr + 1e-6);
        const h = q.haze * Math.max(0, side) * ((rr - 0.55) / 0.45) * mask;
        r += (242 - r) * h;
        g += (230 - g) * h;
        b += (217 - b) * h;
      }
      const gn = grain * noise * mask;
      // Uint8ClampedArray clamps to 0..255 and rounds to nearest.
      out[o] = r + gn;
      out[o + 1] = g + gn;
      out[o + 2] = b + gn;
    }
  }
}

/**
 * Render and encode one photo as JPEG (blur by sharp for focus defects).
 *
 * @example const jpg = await renderJpeg(scene, view); // Buffer starting with 0xff 0xd8
 */
export async function renderJpeg(scene: EyeScene, view: View): Promise<Buffer> {
  const rgb = renderRgb(scene, view);
  let img = sharp(rgb, { raw: { width: view.width, height: view.height, channels: 3 } });
  const sigma = view.quality.blur * view.height;
  if (sigma >= 0.3) img = img.blur(sigma);
  return img.jpeg(JPEG_OPTIONS).toBuffer();
}
