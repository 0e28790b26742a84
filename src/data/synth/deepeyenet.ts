/**
 * A synthetic DeepEyeNet-shaped set (the format readers/deepeyenet.ts reads) for zero-shot tests: JSON arrays keyed by
 * relative image path with `keywords` and a short `clinical-description` (age, sex, diagnosis),
 * DR at every grade plus a few non-DR conditions, a random 60/20/20 split, and a deliberately
 * different camera look (square framing, other colour cast, varying field of view).
 */
import type { Rng } from '../rng.js';
import { sdrgForIcdr, type Prevalence } from './grades.js';
import { rngOf, SALT } from './hash.js';
import type { LesionPlan } from './lesions.js';
import type { PhotoQuality } from './scene.js';

export type DeepEyeNetSplit = 'train' | 'valid' | 'test';
export const DEEPEYENET_SPLITS: readonly DeepEyeNetSplit[] = ['train', 'valid', 'test'];

/** One synthetic DeepEyeNet image. */
export interface DeepEyeNetItem {
  /** Relative image path, also the JSON key, e.g. `eyenet0420/test_set/img_00012.jpg`. */
  key: string;
  split: DeepEyeNetSplit;
  index: number;
  condition: string;
  eye: 'right' | 'left';
  age: number;
  sex: 'male' | 'female';
  icdr: number;
  sdrg: number;
  plan: LesionPlan;
  quality: PhotoQuality;
  keywords: string;
  description: string;
}

interface Condition {
  name: string;
  /** Weights under the real-like mix (~19% DR) and the balanced one. */
  real: number;
  balanced: number;
  icdr: number;
  ages: [number, number];
  keywords: string[];
  /** Diagnosis phrases for the description (one is picked). */
  phrases: string[];
  flags?: Partial<LesionPlan>;
}

const CONDITIONS: readonly Condition[] = [
  { name: 'normal', real: 10, balanced: 10, icdr: 0, ages: [20, 80], keywords: ['normal fundus'], phrases: ['normal fundus', 'unremarkable fundus', 'no retinal abnormality'] },
  { name: 'dr1', real: 3, balanced: 10, icdr: 1, ages: [30, 80], keywords: ['mild nonproliferative diabetic retinopathy'], phrases: ['mild NPDR', 'mild nonproliferative diabetic retinopathy', 'early DR with microaneurysms'] },
  { name: 'dr2', real: 6, balanced: 10, icdr: 2, ages: [30, 80], keywords: ['moderate nonproliferative diabetic retinopathy'], phrases: ['moderate NPDR', 'moderate nonproliferative diabetic retinopathy', 'moderate DR'] },
  { name: 'dr3', real: 3, balanced: 10, icdr: 3, ages: [30, 80], keywords: ['severe nonproliferative diabetic retinopathy'], phrases: ['severe NPDR', 'severe nonproliferative diabetic retinopathy', 'severe DR, 4-2-1 rule'] },
  { name: 'dr4', real: 6, balanced: 10, icdr: 4, ages: [25, 80], keywords: ['proliferative diabetic retinopathy'], phrases: ['PDR', 'proliferative diabetic retinopathy', 'proliferative DR'] },
  { name: 'drusen', real: 15, balanced: 6, icdr: 0, ages: [50, 90], keywords: ['drusen'], phrases: ['macular drusen', 'drusen', 'hard drusen'], flags: { drusen: true } },
  { name: 'amd', real: 15, balanced: 6, icdr: 0, ages: [60, 92], keywords: ['age-related macular degeneration', 'drusen'], phrases: ['dry AMD', 'age-related macular degeneration', 'nonexudative AMD'], flags: { amd: true } },
  { name: 'nevus', real: 12, balanced: 6, icdr: 0, ages: [20, 85], keywords: ['choroidal nevus'], phrases: ['choroidal nevus', 'flat choroidal nevus'], flags: { nevus: true } },
  { name: 'cupping', real: 15, balanced: 6, icdr: 0, ages: [40, 90], keywords: ['glaucoma suspect', 'optic disc cupping'], phrases: ['glaucoma suspect', 'enlarged cup-to-disc ratio', 'optic disc cupping'], flags: { increasedCup: true } },
  { name: 'toxo', real: 10, balanced: 6, icdr: 0, ages: [12, 55], keywords: ['toxoplasmosis', 'chorioretinal scar'], phrases: ['old toxoplasmosis scar', 'inactive toxoplasmic retinochoroiditis', 'chorioretinal scar'], flags: { scar: true } },
];

const VA = ['20/20', '20/25', '20/30', '20/40', '20/50', '20/70', '20/100', '20/200', 'CF'];

/**
 * Generate `n` DeepEyeNet-like items. Deterministic from (n, seed, prevalence).
 *
 * @example generateDeepEyeNet({ entries: 50, seed: 1, prevalence: 'real' })[0].key // 'eyenet0420/..._set/img_00001.jpg'
 */
export function generateDeepEyeNet(o: { entries: number; seed: number; prevalence: Prevalence }): DeepEyeNetItem[] {
  if (!Number.isInteger(o.entries) || o.entries < 1) {
    throw new Error(`generateDeepEyeNet: entries must be a positive integer, got ${o.entries}`);
  }
  // Split first: a random 60/20/20 permutation of indices (DeepEyeNet is not grouped by patient).
  const split = rngOf(o.seed, SALT.split);
  const perm = split.shuffle([...Array(o.entries).keys()]);
  const splitOf = new Array<DeepEyeNetSplit>(o.entries);
  perm.forEach((idx, k) => { splitOf[idx] = k < 0.6 * o.entries ? 'train' : k < 0.8 * o.entries ? 'valid' : 'test'; });

  const weights = CONDITIONS.map((c) => (o.prevalence === 'real' ? c.real : c.balanced));
  const items: DeepEyeNetItem[] = [];
  for (let i = 0; i < o.entries; i++) {
    const rng = rngOf(o.seed, SALT.deepeyenet, i);
    const c = CONDITIONS[rng.weighted(weights)] as Condition;
    const eye = rng.bernoulli(0.5) ? 'right' : 'left';
    const age = rng.int(c.ages[0], c.ages[1]);
    const sex = rng.bernoulli(0.5) ? 'female' : 'male';
    const sdrg = sdrgForIcdr(rng, c.icdr);
    const edema = c.icdr >= 2 && rng.bernoulli(0.4);
    const plan: LesionPlan = {
      icdr: c.icdr, sdrg, macularEdema: edema, drusen: false, amd: false, nevus: false, scar: false, increasedCup: false,
      ...c.flags,
    };
    const keywords = rng.bernoulli(0.04) ? '' : [...c.keywords, ...(edema ? ['diabetic macular edema'] : [])].join(', ');
    const diag = rng.pick(c.phrases) + (edema ? rng.pick([' with DME', ' with macular edema', ' and CSME']) : '');
    const split_ = splitOf[i] as DeepEyeNetSplit;
    items.push({
      key: `eyenet0420/${split_}_set/img_${String(i + 1).padStart(5, '0')}.jpg`,
      split: split_, index: i, condition: c.name, eye, age, sex, icdr: c.icdr, sdrg, plan,
      quality: { focus: rng.bernoulli(0.03), illumination: rng.bernoulli(0.02), imageField: false, artifacts: rng.bernoulli(0.02) },
      keywords,
      description: describe(rng, age, sex, eye, diag),
    });
  }
  return items;
}

/** Short free text in the DeepEyeNet manner (median ~8 words). */
function describe(rng: Rng, age: number, sex: 'male' | 'female', eye: 'right' | 'left', diag: string): string {
  const word = sex === 'female' ? rng.pick(['woman', 'female', 'lady']) : rng.pick(['man', 'male', 'gentleman']);
  const ou = eye === 'right' ? 'OD' : 'OS';
  const va = rng.pick(VA);
  switch (rng.int(0, 4)) {
    case 0: return `${age}-year-old ${word} with ${diag}.`;
    case 1: return `${age} yo ${sex === 'female' ? 'F' : 'M'}, ${diag} ${ou}.`;
    case 2: return `${cap(diag)} in a ${age}-year-old ${word}. VA ${va}.`;
    case 3: return `${cap(word)}, ${age}, ${diag}, ${ou}.`;
    default: return `${age}-year-old ${word}, ${eye} eye: ${diag}. Visual acuity ${va}.`;
  }
}

function cap(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

/**
 * The JSON text of one split file: an array of objects keyed by image path; about 3% of objects
 * hold two keys (the format allows it), and ~4% of keywords are empty.
 *
 * @example JSON.parse(deepEyeNetJson(items, 'test', 1))[0] // { 'eyenet0420/test_set/img_00004.jpg': { keywords, 'clinical-description' } }
 */
export function deepEyeNetJson(items: readonly DeepEyeNetItem[], split: DeepEyeNetSplit, seed: number): string {
  const rng = rngOf(seed, SALT.split, DEEPEYENET_SPLITS.indexOf(split) + 1);
  const objs: Record<string, { keywords: string; 'clinical-description': string }>[] = [];
  let cur: Record<string, { keywords: string; 'clinical-description': string }> | null = null;
  for (const it of items) {
    if (it.split !== split) continue;
    const value = { keywords: it.keywords, 'clinical-description': it.description };
    if (cur !== null && Object.keys(cur).length === 1 && rng.bernoulli(0.03)) cur[it.key] = value;
    else {
      cur = { [it.key]: value };
      objs.push(cur);
    }
  }
  return JSON.stringify(objs, null, 1) + '\n';
}
