/**
 * Lesions of one synthetic eye, drawn so that the ICDR/SDRG grade definitions hold for the
 * eye's labels (checked by gradesFromLesions in the tests), plus non-DR findings from the flags.
 * Every instance is kept: the summary (type, quadrant, count) is the image's ground truth.
 */
import type { Rng } from '../rng.js';
import {
  DR_LESIONS, OTHER_FINDINGS, QUADRANTS,
  type Anatomy, type EyeScene, type Lesion, type LesionType, type Quadrant, type Site, type TruthEntry,
} from './types.js';

/** What to draw on one eye: its grades and the flags that have a visible sign. */
export interface LesionPlan {
  icdr: number;
  sdrg: number;
  macularEdema: boolean;
  drusen: boolean;
  amd: boolean;
  nevus: boolean;
  scar: boolean;
  increasedCup: boolean;
}

/** Sizes (radius, retina units) per lesion type: [lo, hi). */
const SIZE: Record<LesionType, [number, number]> = {
  microaneurysm: [0.01, 0.014],
  dot_haemorrhage: [0.016, 0.024],
  blot_haemorrhage: [0.03, 0.046],
  flame_haemorrhage: [0.04, 0.065],
  hard_exudate: [0.01, 0.017],
  cotton_wool_spot: [0.035, 0.055],
  venous_beading: [0, 0],
  irma: [0.05, 0.075],
  neovascularisation_disc: [0.18, 0.24],
  neovascularisation_elsewhere: [0.07, 0.1],
  preretinal_haemorrhage: [0.09, 0.14],
  laser_scar: [0.024, 0.032],
  drusen: [0.012, 0.022],
  increased_cup_disc: [0, 0],
  nevus: [0.06, 0.1],
  chorioretinal_scar: [0.07, 0.11],
};

/** Quadrant of a retina point for an eye whose disc is on side `side` (+1 right, -1 left). */
export function quadrantOf(x: number, y: number, side: number): Quadrant {
  const sup = y < 0;
  const nasal = x * side > 0;
  return sup ? (nasal ? 'superonasal' : 'superotemporal') : (nasal ? 'inferonasal' : 'inferotemporal');
}

/**
 * Draw the lesion instances of one eye.
 *
 * @example const { lesions } = makeLesions(rng, anatomy, { icdr: 1, sdrg: 1, ...noFlags });
 *   lesions.every((l) => l.type === 'microaneurysm') // true
 */
export function makeLesions(rng: Rng, a: Anatomy, plan: LesionPlan): Pick<EyeScene, 'lesions' | 'beading'> {
  const side = a.eye === 'right' ? 1 : -1;
  const lesions: Lesion[] = [];
  const beading: EyeScene['beading'] = [];

  const add = (type: LesionType, site: Site, x: number, y: number): void => {
    const [lo, hi] = SIZE[type];
    lesions.push({ type, site, x, y, size: rng.range(lo, hi), angle: rng.range(0, Math.PI), seed: rng.uniform() });
  };
  /** A point in quadrant q at distance [r0, r1) from the fovea, clear of the optic disc. */
  const pointIn = (q: Quadrant, r0: number, r1: number): [number, number] => {
    const sx = q.endsWith('nasal') ? side : -side;
    const sy = q.startsWith('supero') ? -1 : 1;
    for (let k = 0; ; k++) {
      const u = rng.range(0.04, Math.PI / 2 - 0.04);
      const r = rng.range(r0, r1);
      const x = sx * r * Math.cos(u);
      const y = sy * r * Math.sin(u);
      if (Math.hypot(x - a.disc.x, y - a.disc.y) > a.disc.ry * 1.4 || k > 30) return [x, y];
    }
  };
  const scatter = (type: LesionType, q: Quadrant, n: number, r0 = 0.12, r1 = 0.86): void => {
    for (let i = 0; i < n; i++) {
      const [x, y] = pointIn(q, r0, r1);
      add(type, q, x, y);
    }
  };
  const anyQ = (): Quadrant => rng.pick(QUADRANTS);
  const inHemi = (sup: boolean): Quadrant => rng.pick(QUADRANTS.filter((q) => q.startsWith('supero') === sup));
  const exudateCluster = (circinate: boolean, cx: number, cy: number, n: number): void => {
    const rad = rng.range(0.04, 0.075);
    for (let i = 0; i < n; i++) {
      const t = rng.range(0, 2 * Math.PI);
      const r = circinate ? rad * rng.range(0.8, 1.1) : rad * Math.sqrt(rng.uniform());
      const x = cx + r * Math.cos(t);
      const y = cy + r * Math.sin(t);
      add('hard_exudate', quadrantOf(x, y, side), x, y);
    }
  };
  const exudates = (clusters: number): void => {
    for (let c = 0; c < clusters; c++) {
      const [cx, cy] = pointIn(anyQ(), 0.2, 0.6);
      exudateCluster(rng.bernoulli(0.4), cx, cy, rng.int(5, 14));
    }
  };
  /** Bead a stretch of a main vein inside quadrant q (away from disc and field edge); false if none. */
  const beadIn = (q: Quadrant): boolean => {
    let best = { vessel: -1, from: 0, to: 0, score: 0 };
    for (let vi = 0; vi < a.vessels.length; vi++) {
      const v = a.vessels[vi] as Anatomy['vessels'][number];
      if (v.kind !== 'vein' || v.depth > 1) continue;
      let start = -1;
      for (let i = 0; i <= v.xs.length; i++) {
        const x = v.xs[i];
        const y = v.ys[i];
        const ok = x !== undefined && y !== undefined && quadrantOf(x, y, side) === q &&
          Math.hypot(x - a.disc.x, y - a.disc.y) > a.disc.ry * 1.6 && Math.hypot(x, y) < 0.88;
        if (ok && start < 0) start = i;
        if (!ok && start >= 0) {
          // Prefer trunks (depth 0, wide enough to show beads) over branches.
          const score = (i - start) * (v.depth === 0 ? 3 : 1);
          if (i - start >= 5 && score > best.score) best = { vessel: vi, from: start, to: i, score };
          start = -1;
        }
      }
    }
    if (best.vessel < 0) return false;
    const len = Math.min(best.to - best.from, rng.int(7, 11));
    const from = best.from + rng.int(0, best.to - best.from - len);
    beading.push({ vessel: best.vessel, from, to: from + len, site: q });
    return true;
  };

  const g = plan.icdr;
  if (g === 1) {
    for (let i = rng.int(5, 14); i > 0; i--) scatter('microaneurysm', anyQ(), 1);
  } else if (g === 2 || (g === 4 && rng.bernoulli(0.5))) {
    // Moderate NPDR: beyond microaneurysms, below the 4-2-1 rule. SDRG decides the blot pattern.
    for (let i = rng.int(8, 22); i > 0; i--) scatter('microaneurysm', anyQ(), 1);
    for (let i = rng.int(4, 12); i > 0; i--) scatter('dot_haemorrhage', anyQ(), 1);
    let supBlots = rng.int(0, 3);
    let infBlots = rng.int(0, 3);
    if (plan.sdrg === 2) {
      if (rng.bernoulli(0.5)) supBlots = rng.int(4, 8); else infBlots = rng.int(4, 8);
    } else if (plan.sdrg === 3 && g === 2) {
      // Referable background: >=4 blots in both hemifields, or venous beading in exactly one quadrant.
      if (rng.bernoulli(0.65) || !beadIn(anyQ())) { supBlots = rng.int(4, 8); infBlots = rng.int(4, 8); }
    }
    for (let i = 0; i < supBlots; i++) scatter('blot_haemorrhage', inHemi(true), 1);
    for (let i = 0; i < infBlots; i++) scatter('blot_haemorrhage', inHemi(false), 1);
    for (let i = rng.int(0, 4); i > 0; i--) scatter('flame_haemorrhage', anyQ(), 1, 0.15, 0.6);
    if (rng.bernoulli(0.6)) exudates(rng.int(1, 2));
    if (rng.bernoulli(0.35)) for (let i = rng.int(1, 3); i > 0; i--) scatter('cotton_wool_spot', anyQ(), 1, 0.15, 0.6);
  } else if (g === 3 || g === 4) {
    // Severe NPDR by the 4-2-1 rule: at least one of the three criteria, often several.
    let heavy = false;
    let beads = false;
    let irma = false;
    while (!heavy && !beads && !irma) {
      heavy = rng.bernoulli(0.6);
      beads = rng.bernoulli(0.45);
      irma = rng.bernoulli(0.55);
    }
    if (g === 4) { heavy = heavy && rng.bernoulli(0.5); }
    for (const q of QUADRANTS) {
      if (heavy) {
        const total = rng.int(21, 30);
        const blots = rng.int(4, 7);
        const flames = rng.int(1, 3);
        scatter('blot_haemorrhage', q, blots);
        scatter('flame_haemorrhage', q, flames, 0.15, 0.6);
        scatter('dot_haemorrhage', q, total - blots - flames);
      } else {
        scatter('dot_haemorrhage', q, rng.int(2, 8));
        scatter('blot_haemorrhage', q, rng.int(2, 4));
        scatter('flame_haemorrhage', q, rng.int(0, 2), 0.15, 0.6);
      }
    }
    if (beads) {
      const qs = rng.shuffle([...QUADRANTS]);
      let done = 0;
      const want = rng.int(2, 4);
      for (const q of qs) if (done < want && beadIn(q)) done++;
      if (done < 2) irma = true; // vein geometry did not allow two beaded quadrants
    }
    if (irma) {
      for (const q of rng.shuffle([...QUADRANTS]).slice(0, rng.int(1, 3))) scatter('irma', q, rng.int(1, 2), 0.25, 0.7);
    }
    for (let i = rng.int(15, 35); i > 0; i--) scatter('microaneurysm', anyQ(), 1);
    if (rng.bernoulli(0.75)) exudates(rng.int(1, 3));
    for (let i = rng.int(2, 6); i > 0; i--) scatter('cotton_wool_spot', anyQ(), 1, 0.15, 0.6);
  }
  if (g === 4) proliferative(rng, a, side, add, pointIn);

  if (plan.macularEdema && g >= 2) {
    const t = rng.range(0, 2 * Math.PI);
    const r = rng.range(0.06, 0.14);
    const before = lesions.length;
    exudateCluster(true, r * Math.cos(t), r * Math.sin(t), rng.int(10, 20));
    for (let i = before; i < lesions.length; i++) (lesions[i] as Lesion).site = 'macula';
  }
  if (plan.drusen || plan.amd) {
    const n = plan.amd ? rng.int(25, 45) : rng.int(8, 25);
    for (let i = 0; i < n; i++) {
      const t = rng.range(0, 2 * Math.PI);
      const r = rng.range(0.03, 0.3);
      add('drusen', 'macula', r * Math.cos(t), r * Math.sin(t));
      if (plan.amd) (lesions[lesions.length - 1] as Lesion).size *= 1.5;
    }
  }
  if (plan.nevus) scatter('nevus', anyQ(), 1, 0.35, 0.75);
  if (plan.scar) {
    if (rng.bernoulli(0.5)) add('chorioretinal_scar', 'macula', rng.range(-0.12, 0.12), rng.range(-0.1, 0.1));
    else scatter('chorioretinal_scar', anyQ(), 1, 0.3, 0.7);
  }
  if (plan.increasedCup) add('increased_cup_disc', 'disc', a.disc.x, a.disc.y);
  return { lesions, beading };
}

/** PDR features: at least one of new vessels (disc / elsewhere), preretinal haemorrhage, laser scars. */
function proliferative(
  rng: Rng, a: Anatomy, side: number,
  add: (t: LesionType, s: Site, x: number, y: number) => void,
  pointIn: (q: Quadrant, r0: number, r1: number) => [number, number],
): void {
  let nvd = false;
  let nve = false;
  let pre = false;
  let laser = false;
  while (!nvd && !nve && !pre && !laser) {
    nvd = rng.bernoulli(0.5);
    nve = rng.bernoulli(0.45);
    pre = rng.bernoulli(0.3);
    laser = rng.bernoulli(0.4);
  }
  if (nvd) add('neovascularisation_disc', 'disc', a.disc.x, a.disc.y);
  if (nve) {
    for (const q of rng.shuffle([...QUADRANTS]).slice(0, rng.int(1, 2))) {
      // New vessels grow along the arcades: put them on a main vessel point of that quadrant.
      const pts: [number, number][] = [];
      for (const v of a.vessels) {
        if (v.depth !== 0) continue;
        v.xs.forEach((x, i) => {
          const y = v.ys[i] as number;
          const r = Math.hypot(x, y);
          if (quadrantOf(x, y, side) === q && r > 0.3 && r < 0.8 && Math.hypot(x - a.disc.x, y - a.disc.y) > 0.3) pts.push([x, y]);
        });
      }
      const [x, y] = pts.length > 0 ? rng.pick(pts) : pointIn(q, 0.35, 0.75);
      add('neovascularisation_elsewhere', quadrantOf(x, y, side), x, y);
    }
  }
  if (pre) {
    const q = rng.bernoulli(0.7) ? (rng.bernoulli(0.5) ? 'inferotemporal' : 'inferonasal') : rng.pick(QUADRANTS);
    const [x, y] = pointIn(q, 0.3, 0.6);
    add('preretinal_haemorrhage', q, x, y);
  }
  if (laser) {
    // Panretinal photocoagulation: a jittered hexagonal grid of burns in the periphery, sparing
    // the macula and the disc.
    const s = rng.range(0.075, 0.09);
    for (let row = -14; row <= 14; row++) {
      for (let col = -14; col <= 14; col++) {
        const x = (col + (row % 2 === 0 ? 0 : 0.5)) * s + rng.range(-0.012, 0.012);
        const y = row * s * 0.87 + rng.range(-0.012, 0.012);
        const r = Math.hypot(x, y);
        if (r < 0.5 || r > 0.92 || Math.hypot(x - a.disc.x, y - a.disc.y) < a.disc.ry * 2.2) continue;
        add('laser_scar', quadrantOf(x, y, side), x, y);
      }
    }
  }
}

const TYPE_ORDER: readonly LesionType[] = [...DR_LESIONS, ...OTHER_FINDINGS];
const SITE_ORDER: readonly Site[] = [...QUADRANTS, 'disc', 'macula'];

/**
 * Ground-truth summary of a scene: counts per (type, site), sorted by type then site. Each beaded
 * vein stretch counts as one venous_beading entry in its quadrant.
 *
 * @example summarizeLesions(scene) // [{ type: 'microaneurysm', quadrant: 'superotemporal', count: 3 }, ...]
 */
export function summarizeLesions(scene: Pick<EyeScene, 'lesions' | 'beading'>): TruthEntry[] {
  const counts = new Map<string, TruthEntry>();
  const bump = (type: LesionType, quadrant: Site): void => {
    const k = `${type}|${quadrant}`;
    const e = counts.get(k);
    if (e) e.count++;
    else counts.set(k, { type, quadrant, count: 1 });
  };
  for (const l of scene.lesions) bump(l.type, l.site);
  for (const b of scene.beading) bump('venous_beading', b.site);
  return [...counts.values()].sort((p, q) =>
    TYPE_ORDER.indexOf(p.type) - TYPE_ORDER.indexOf(q.type) || SITE_ORDER.indexOf(p.quadrant) - SITE_ORDER.indexOf(q.quadrant));
}
