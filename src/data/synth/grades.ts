/**
 * DR grade statistics of the twin (after BRSET's published counts): per-image ICDR prevalence, the fellow-eye relation,
 * the ICDR -> SDRG joint, and the grading rules used to check drawn lesions against labels.
 */
import type { Rng } from '../rng.js';
import { HAEMORRHAGES, type TruthEntry } from './types.js';

export type Prevalence = 'real' | 'balanced';

/** Per-image ICDR 0..4 mix. real: BRSET v1.0.1 counts 15183/158/451/78/396 of 16266. */
export const IMAGE_PREVALENCE: Record<Prevalence, readonly number[]> = {
  real: [15183, 158, 451, 78, 396].map((c) => c / 16266),
  balanced: [0.2, 0.2, 0.2, 0.2, 0.2],
};

/**
 * Fellow-eye ICDR given the worse eye's ICDR (rows: worse eye 0..4; columns: fellow eye 0..4).
 * DR is usually bilateral and roughly symmetric; the fellow eye is never worse by construction.
 */
export const FELLOW_EYE: readonly (readonly number[])[] = [
  [1, 0, 0, 0, 0],
  [0.4, 0.6, 0, 0, 0],
  [0.15, 0.2, 0.65, 0, 0],
  [0.05, 0.1, 0.3, 0.55, 0],
  [0, 0.05, 0.15, 0.05, 0.75],
];

/**
 * Patient-level (worse-eye) grade mix p such that the expected per-image mix is `m`.
 * Each patient contributes its worse eye and fellow eye equally in expectation, so
 * m = p (I + T) / 2 with T = FELLOW_EYE; T is lower-triangular, so p is solved from grade 4 down.
 * Negative solutions (unreachable mixes) are clamped to 0 and p renormalized.
 *
 * @example patientGradeMix('real')[0] // ~0.93
 */
export function patientGradeMix(prevalence: Prevalence): number[] {
  const m = IMAGE_PREVALENCE[prevalence];
  const p = [0, 0, 0, 0, 0];
  for (let h = 4; h >= 0; h--) {
    let rhs = 2 * (m[h] as number);
    for (let g = h + 1; g <= 4; g++) rhs -= (p[g] as number) * (FELLOW_EYE[g]?.[h] as number);
    p[h] = Math.max(0, rhs / (1 + (FELLOW_EYE[h]?.[h] as number)));
  }
  const total = p.reduce((a, b) => a + b, 0);
  return p.map((x) => x / total);
}

/** Draw the fellow eye's ICDR given the worse eye's. */
export function fellowEyeGrade(rng: Rng, worse: number): number {
  return rng.weighted(FELLOW_EYE[worse] as number[]);
}

/**
 * SDRG for an ICDR grade. The scales agree at 0, 1, 3, 4; ICDR 2 spreads over SDRG 1/2/3 in the
 * proportions 122:133:185 (a plausible joint chosen for the twin).
 *
 * @example sdrgForIcdr(rng, 3) // 3
 */
export function sdrgForIcdr(rng: Rng, icdr: number): number {
  if (icdr !== 2) return icdr;
  return 1 + rng.weighted([122, 133, 185]);
}

/**
 * Grades implied by a lesion list (the ICDR and SDRG definitions), used to check the generator.
 * ICDR: 4 if new vessels / preretinal haemorrhage / laser scars; 3 by the 4-2-1 rule (>20
 * intraretinal haemorrhages in each of 4 quadrants, venous beading in >=2 quadrants, IRMA in any);
 * 2 if anything beyond microaneurysms; 1 if microaneurysms only.
 * SDRG: R4 as ICDR 4; R3 if >=4 blots in both hemifields, venous beading or IRMA; R2 if >=4 blots
 * in one hemifield; R1 if any microaneurysm, haemorrhage, hard exudate or cotton-wool spot.
 *
 * @example gradesFromLesions([{ type: 'microaneurysm', quadrant: 'superotemporal', count: 3 }]) // { icdr: 1, sdrg: 1 }
 */
export function gradesFromLesions(lesions: readonly TruthEntry[]): { icdr: number; sdrg: number } {
  const count = (pred: (e: TruthEntry) => boolean): number =>
    lesions.filter(pred).reduce((a, e) => a + e.count, 0);
  const quadrantsWith = (type: string): number =>
    new Set(lesions.filter((e) => e.type === type && e.count > 0).map((e) => e.quadrant)).size;
  const pdr = count((e) =>
    ['neovascularisation_disc', 'neovascularisation_elsewhere', 'preretinal_haemorrhage', 'laser_scar'].includes(e.type));
  if (pdr > 0) return { icdr: 4, sdrg: 4 };

  const haemIn = (q: string): number => count((e) => HAEMORRHAGES.includes(e.type) && e.quadrant === q);
  const allFour = ['superotemporal', 'superonasal', 'inferotemporal', 'inferonasal'].every((q) => haemIn(q) > 20);
  const beading = quadrantsWith('venous_beading');
  const irma = count((e) => e.type === 'irma');
  const blotsSup = count((e) => e.type === 'blot_haemorrhage' && e.quadrant.startsWith('supero'));
  const blotsInf = count((e) => e.type === 'blot_haemorrhage' && e.quadrant.startsWith('infero'));
  const ma = count((e) => e.type === 'microaneurysm');
  const background = count((e) =>
    HAEMORRHAGES.includes(e.type) || e.type === 'hard_exudate' || e.type === 'cotton_wool_spot');

  let icdr = 0;
  if (allFour || beading >= 2 || irma > 0) icdr = 3;
  else if (background > 0 || beading > 0) icdr = 2;
  else if (ma > 0) icdr = 1;

  let sdrg = 0;
  if ((blotsSup >= 4 && blotsInf >= 4) || beading > 0 || irma > 0) sdrg = 3;
  else if (blotsSup >= 4 || blotsInf >= 4) sdrg = 2;
  else if (ma + background > 0) sdrg = 1;
  return { icdr, sdrg };
}
