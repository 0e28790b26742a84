/**
 * The fixed anatomy of one synthetic eye, in retina units (see types.ts): optic disc, choroidal
 * texture and a branching vessel tree. Shapes follow a real macula-centred 45-degree photo: the disc ~1/7 of the field wide,
 * ~0.7 R nasal of the fovea and slightly above it; two arcades leave the disc vertically and curve
 * around the macula; nasal trunks fan out toward the nasal periphery; veins are darker and wider
 * than arteries; every vessel thins outward.
 */
import type { Rng } from '../rng.js';
import type { Anatomy, Vessel } from './types.js';

/** Vessel widths at the disc (retina units; the field radius is 1). */
const VEIN_W = 0.026;
const ARTERY_W = 0.018;
/** Step between polyline points (retina units). */
const STEP = 0.022;
/** Vessels end once this far from the fovea (a little beyond the field edge). */
const LIMIT = 1.12;

export interface AnatomyOptions {
  eye: 'right' | 'left';
  /** Cup/disc ratio well above normal (BRSET increased_cup_disc). */
  increasedCup: boolean;
}

/**
 * Build one eye's anatomy.
 *
 * @example const a = makeAnatomy(rngOf(seed, SALT.anatomy, 3, 0), { eye: 'right', increasedCup: false });
 *   a.disc.x > 0 // true: the disc of a right eye is on the image right
 */
export function makeAnatomy(rng: Rng, opts: AnatomyOptions): Anatomy {
  const side = opts.eye === 'right' ? 1 : -1;
  const ry = rng.range(0.135, 0.155);
  const disc = {
    x: side * rng.range(0.66, 0.74),
    y: rng.range(-0.1, -0.04),
    rx: ry * rng.range(0.84, 0.94),
    ry,
    cupRatio: opts.increasedCup ? rng.range(0.65, 0.82) : rng.range(0.22, 0.42),
  };
  const n = 12;
  const values: number[] = [];
  for (let i = 0; i < n * n; i++) values.push(Math.max(-1, Math.min(1, rng.normal(0, 0.5))));
  const tint: [number, number, number] = [rng.range(0.93, 1.05), rng.range(0.85, 1.12), rng.range(0.8, 1.2)];

  const vessels: Vessel[] = [];
  for (const s of [-1, 1]) {
    // Arcades: elliptical arcs around the fovea, starting at the disc with a vertical tangent.
    for (const kind of ['vein', 'artery'] as const) {
      const arc = arcade(rng, disc, side, s, kind);
      vessels.push(arc);
      branchesOf(rng, arc, vessels, side, 1, disc);
    }
    // Nasal trunks: random walks from the disc toward the nasal periphery, up and down.
    for (const kind of ['vein', 'artery'] as const) {
      const heading = Math.atan2(s * rng.range(0.55, 1.15), side);
      const w = (kind === 'vein' ? VEIN_W : ARTERY_W) * 0.8;
      const v = walk(rng, disc.x, disc.y, heading, rng.range(0.55, 0.8), w, w * 0.4, 0.1, kind, 0);
      vessels.push(v);
      branchesOf(rng, v, vessels, side, 1, disc);
    }
  }
  // Small papillomacular vessels from the disc toward the macula.
  for (let i = 0; i < 2; i++) {
    const heading = Math.atan2(rng.range(-0.35, 0.35), -side);
    const kind = i === 0 ? 'vein' : 'artery';
    vessels.push(walk(rng, disc.x, disc.y, heading, rng.range(0.3, 0.45), 0.008, 0.003, 0.12, kind, 1));
  }
  return { eye: opts.eye, disc, texture: { n, values }, vessels, tint };
}

/**
 * Arcade of sign s (-1 superior, +1 inferior): a quarter ellipse leaving the disc vertically and
 * turning temporally above/below the macula, then running on toward the temporal periphery while
 * converging slightly (the arcades never close around the fovea). A smooth wobble breaks symmetry.
 */
function arcade(rng: Rng, disc: Anatomy['disc'], side: number, s: number, kind: 'vein' | 'artery'): Vessel {
  const cx = side * rng.range(0.0, 0.1);
  const a = Math.abs(disc.x - cx);
  const b = kind === 'vein' ? rng.range(0.5, 0.62) : rng.range(0.44, 0.55);
  const converge = rng.range(0.05, 0.25);
  const w0 = (kind === 'vein' ? VEIN_W : ARTERY_W) * rng.range(0.92, 1.08);
  const ph1 = rng.range(0, 6.3);
  const ph2 = rng.range(0, 6.3);
  const xs: number[] = [];
  const ys: number[] = [];
  const widths: number[] = [];
  const half = Math.PI / 2;
  let phi = 0;
  for (let i = 0; i < 400; i++) {
    const wob = 0.014 * Math.sin(phi * 4 + ph1) + 0.009 * Math.sin(phi * 9 + ph2);
    let x: number;
    let y: number;
    let speed: number;
    if (phi <= half) {
      x = cx + side * a * Math.cos(phi);
      y = disc.y * Math.max(0, 1 - phi / 1.2) + s * (b + wob) * Math.sin(phi);
      speed = Math.hypot(a * Math.sin(phi), b * Math.cos(phi));
    } else {
      const t = phi - half;
      x = cx - side * a * t;
      y = s * (b + wob) * (1 + 0.1 * t - converge * t * t);
      speed = Math.hypot(a, b * (0.1 - 2 * converge * t));
    }
    if (Math.hypot(x, y) > LIMIT) break;
    xs.push(x);
    ys.push(y);
    widths.push(w0 * Math.max(0.35, 1 - 0.45 * phi / 2.4));
    // Equal arc-length steps: d(phi) = STEP / |dP/dphi|.
    phi += STEP / (speed + 1e-3);
  }
  return { kind, xs, ys, widths, depth: 0 };
}

/** A random-walk vessel: heading drifts by N(0, wiggle) per step; width tapers linearly. */
function walk(
  rng: Rng, x0: number, y0: number, heading: number, length: number, w0: number, w1: number,
  wiggle: number, kind: 'vein' | 'artery', depth: number,
): Vessel {
  const steps = Math.max(2, Math.round(length / STEP));
  const xs = [x0];
  const ys = [y0];
  const widths = [w0];
  let x = x0;
  let y = y0;
  let h = heading;
  let turn = 0;
  for (let i = 1; i <= steps; i++) {
    turn = 0.6 * turn + rng.normal(0, wiggle);
    h += turn;
    x += STEP * Math.cos(h);
    y += STEP * Math.sin(h);
    // Vessels stop short of the foveal avascular zone and at the field edge.
    if (Math.hypot(x, y) < 0.1 || Math.hypot(x, y) > LIMIT) break;
    xs.push(x);
    ys.push(y);
    widths.push(w0 + (w1 - w0) * (i / steps));
  }
  return { kind, xs, ys, widths, depth };
}

/** Add side branches (and, recursively, sub-branches) along a parent vessel. */
function branchesOf(
  rng: Rng, parent: Vessel, out: Vessel[], side: number, depth: number, disc: Anatomy['disc'],
): void {
  if (depth > 2) return;
  const n = parent.xs.length;
  let i = Math.round(rng.range(4, 8));
  const spacing = depth === 1 ? [6, 10] : [5, 9];
  while (i < n - 2) {
    const x = parent.xs[i] as number;
    const y = parent.ys[i] as number;
    const tx = (parent.xs[i + 1] as number) - x;
    const ty = (parent.ys[i + 1] as number) - y;
    const tangent = Math.atan2(ty, tx);
    // Outward = away from the fovea (origin); macular branches point inward.
    const outward = Math.atan2(y, x);
    const inward = rng.bernoulli(depth === 1 ? 0.3 : 0.15);
    const target = inward ? outward + Math.PI : outward;
    const sign = Math.sin(target - tangent) >= 0 ? 1 : -1;
    const heading = tangent + sign * rng.range(0.45, 1.0);
    const pw = parent.widths[i] as number;
    const w0 = pw * rng.range(0.5, 0.7);
    const length = inward ? rng.range(0.1, 0.22) : rng.range(0.18, 0.42) / depth;
    const nearDisc = Math.hypot(x - disc.x, y - disc.y) < disc.ry * 1.5;
    if (!nearDisc) {
      const b = walk(rng, x, y, heading, length, w0, w0 * 0.35, 0.12, parent.kind, depth);
      if (b.xs.length > 2) {
        out.push(b);
        if (!inward) branchesOf(rng, b, out, side, depth + 1, disc);
      }
    }
    i += Math.round(rng.range(spacing[0] as number, spacing[1] as number));
  }
}
