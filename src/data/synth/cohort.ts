/**
 * The synthetic BRSET cohort, without pixels: patients first (age, sex, diabetes, duration,
 * insulin, comorbidities, camera, worse-eye DR grade), then 1-4 photos each (mostly one per eye)
 * with eye-level grades and flags and photo-level quality fields, written as raw BRSET cells with
 * the published codings, dirty values and missingness (BRSET v1.0.1 statistics).
 */
import { Rng } from '../rng.js';
import { BRSET_HEADER, type BrsetColumn } from './brset-csv.js';
import { fellowEyeGrade, IMAGE_PREVALENCE, patientGradeMix, sdrgForIcdr, type Prevalence } from './grades.js';
import { seedOf, SALT } from './hash.js';
import type { LesionPlan } from './lesions.js';
import type { PhotoQuality } from './scene.js';

/** One synthetic photo: identity, eye-level labels, photo quality and its raw labels.csv cells. */
export interface SynthImage {
  imageId: string;
  patientId: number;
  /** 0 = right, 1 = left (also the salt of the eye's scene). */
  eyeIndex: 0 | 1;
  eye: 'right' | 'left';
  /** 0-based position in labels.csv (the salt of the photo's view). */
  index: number;
  camera: 'canon' | 'nikon';
  icdr: number;
  /** SDRG label as written (may differ from the lesions when gradeNoise). */
  sdrg: number;
  gradeNoise: boolean;
  /** What is drawn on the eye (grades consistent with the lesions). */
  plan: LesionPlan;
  quality: PhotoQuality;
  /** Cells in BRSET_HEADER order. */
  row: string[];
}

export interface CohortOptions {
  patients: number;
  seed: number;
  prevalence: Prevalence;
  /** Probability that an eye with DR gets an SDRG label one step off its lesions (grader disagreement). */
  gradeNoise?: number;
}

/** Images per patient: 1..4 with weights giving a mean of ~1.91 (as in BRSET). */
const IMAGES_PER_PATIENT = [17, 76, 5, 2];
const COLUMN_INDEX = new Map<BrsetColumn, number>(BRSET_HEADER.map((c, i) => [c, i]));
const COMORBID_DIABETIC = ['diabetes2', 'diabetes2, SAH', 'diabetes1', 'diabetes1, SAH', 'diabetes2, SAH, dyslipidemia'];
const COMORBID_OTHER = ['SAH', 'SAH, dyslipidemia', 'hypothyroidism', 'dyslipidemia', 'glaucoma', 'SAH, hypothyroidism', 'cardiopathy'];

/**
 * Generate the cohort. Deterministic from (patients, seed, prevalence); patient k's values do not
 * depend on how many patients follow.
 *
 * @example const imgs = generateCohort({ patients: 100, seed: 1, prevalence: 'real' });
 *   imgs[0].row[0] // 'img00001'
 */
export function generateCohort(o: CohortOptions): SynthImage[] {
  if (!Number.isInteger(o.patients) || o.patients < 1) {
    throw new Error(`generateCohort: patients must be a positive integer, got ${o.patients}`);
  }
  const mix = patientGradeMix(o.prevalence);
  // Diabetes among patients without DR; 0.166 is tuned so that ~15.9% of real-mix images are diabetic (as in BRSET).
  const realDr = 1 - (IMAGE_PREVALENCE.real[0] as number);
  const pDiabetesNoDr = (0.166 - realDr) / (1 - realDr);
  const noise = o.gradeNoise ?? 0.02;
  const images: SynthImage[] = [];
  const digits = Math.max(5, String(o.patients * 4).length);

  for (let pid = 1; pid <= o.patients; pid++) {
    const rng = new Rng(seedOf(o.seed, SALT.cohort, pid));
    const worse = rng.weighted(mix);
    const diabetic = worse > 0 || rng.bernoulli(pDiabetesNoDr);
    const age = Math.round(clamp(
      diabetic ? rng.normal(61, 12) : rng.bernoulli(0.86) ? rng.normal(63, 14) : rng.range(5, 50), 5, 97));
    const sex = rng.bernoulli(0.618) ? 2 : 1;
    const duration = diabetic
      ? Math.round(clamp(Math.exp(rng.normal(Math.log([8, 10, 13, 15, 18][worse] as number), 0.55)), 0, Math.min(60, age - 1)))
      : null;
    const camera = rng.bernoulli(0.651) ? 'canon' : 'nikon';
    const comorbidities = diabetic
      ? (rng.bernoulli(0.85) ? rng.pick(COMORBID_DIABETIC) : '')
      : (rng.bernoulli(0.427) ? rng.pick(COMORBID_OTHER) : '');
    // Cells as [column, value] pairs: plain objects with these keys are slow to spread in V8.
    const patient: [BrsetColumn, string][] = [
      ['patient_id', String(pid)],
      ['camera', camera === 'canon' ? 'Canon CR' : 'NIKON NF5050'],
      ['patient_age', rng.bernoulli(0.335) ? '' : `${age}.0`],
      ['comorbidities', comorbidities],
      // Junk 'Não' ("no") stands where a duration is expected, as in real BRSET files.
      ['diabetes_time_y', duration !== null ? (rng.bernoulli(0.72) ? String(duration) : '') : (rng.bernoulli(0.004) ? 'Não' : '')],
      ['insuline', diabetic && rng.bernoulli(0.66) ? (rng.bernoulli(0.25 + 0.1 * worse) ? 'yes' : 'no') : ''],
      ['patient_sex', String(sex)],
      ['diabetes', diabetic ? 'yes' : 'No'],
      ['nationality', 'Brazil'],
    ];
    const hypertensive = comorbidities.includes('SAH');
    // Bilateral conditions: a patient-level tendency, then each eye with probability 0.85.
    const pDrusen = clamp(0.174 + 0.008 * (age - 58), 0.01, 0.55);
    const pAmd = age >= 60 ? 0.026 : 0.003;
    const tendency = {
      drusen: rng.bernoulli(Math.min(1, pDrusen / 0.85)),
      amd: rng.bernoulli(Math.min(1, pAmd / 0.85)),
      cup: rng.bernoulli(0.197 / 0.85),
      myopic: rng.bernoulli(0.017 / 0.85),
    };
    const worseEye = rng.int(0, 1);
    const grades = [0, 0];
    grades[worseEye] = worse;
    grades[1 - worseEye] = fellowEyeGrade(rng, worse);

    const eyes = [0, 1].map((e) => {
      const icdr = grades[e] as number;
      const trueSdrg = sdrgForIcdr(rng, icdr);
      let sdrg = trueSdrg;
      const noisy = icdr > 0 && rng.bernoulli(noise);
      if (noisy) sdrg = trueSdrg === 4 || (trueSdrg > 0 && rng.bernoulli(0.5)) ? trueSdrg - 1 : trueSdrg + 1;
      const f = {
        diabetic_retinopathy: icdr > 0,
        macular_edema: icdr >= 2 && rng.bernoulli(0.42),
        scar: rng.bernoulli(0.018),
        nevus: rng.bernoulli(0.008),
        amd: tendency.amd && rng.bernoulli(0.85),
        vascular_occlusion: rng.bernoulli(0.006),
        hypertensive_retinopathy: rng.bernoulli(hypertensive ? 0.04 : 0.01),
        drusens: tendency.drusen && rng.bernoulli(0.85),
        hemorrhage: rng.bernoulli(0.006),
        retinal_detachment: rng.bernoulli(0.0004),
        myopic_fundus: tendency.myopic && rng.bernoulli(0.85),
        increased_cup_disc: tendency.cup && rng.bernoulli(0.85),
        other: rng.bernoulli(0.05),
      };
      const opticDisc = rng.bernoulli(0.0006) ? 'bv' : (f.increased_cup_disc ? rng.bernoulli(0.92) : rng.bernoulli(0.025)) ? '2' : '1';
      const vessels = (icdr >= 3 && rng.bernoulli(0.7)) || (f.hypertensive_retinopathy && rng.bernoulli(0.6)) ||
        (f.vascular_occlusion && rng.bernoulli(0.9)) || rng.bernoulli(0.015) ? '2' : '1';
      const macula = ((f.drusens || f.amd || f.macular_edema) && rng.bernoulli(0.85)) || (f.scar && rng.bernoulli(0.5)) ||
        (icdr >= 2 && rng.bernoulli(0.4)) || rng.bernoulli(0.1) ? '2' : '1';
      const plan: LesionPlan = {
        icdr, sdrg: trueSdrg, macularEdema: f.macular_edema, drusen: f.drusens, amd: f.amd, nevus: f.nevus,
        scar: f.scar, increasedCup: f.increased_cup_disc,
      };
      const cells: [BrsetColumn, string][] = [
        ['optic_disc', opticDisc], ['vessels', vessels], ['macula', macula], ['DR_SDRG', String(sdrg)], ['DR_ICDR', String(icdr)],
      ];
      for (const [k, v] of Object.entries(f)) cells.push([k as BrsetColumn, v ? '1' : '0']);
      return { icdr, sdrg, noisy, plan, cells };
    });

    const nImages = 1 + rng.weighted(IMAGES_PER_PATIENT);
    const order: (0 | 1)[] = nImages === 1 ? [rng.bernoulli(0.5) ? 0 : 1] : nImages === 2 ? [0, 1]
      : nImages === 3 ? [0, 1, rng.bernoulli(0.5) ? 0 : 1] : [0, 1, 0, 1];
    for (const e of order) {
      const eye = eyes[e] as (typeof eyes)[number];
      const focusCode = rng.bernoulli(0.033) ? '2' : rng.bernoulli(0.002) ? '0' : '1';
      const quality: PhotoQuality = {
        focus: focusCode === '2',
        illumination: rng.bernoulli(0.005),
        imageField: rng.bernoulli(0.086),
        artifacts: rng.bernoulli(0.004),
      };
      const bad = quality.focus || quality.illumination || quality.imageField || quality.artifacts;
      const index = images.length;
      const imageId = `img${String(index + 1).padStart(digits, '0')}`;
      const row: string[] = new Array<string>(BRSET_HEADER.length).fill('\u0000');
      const put = (pairs: readonly [BrsetColumn, string][]): void => {
        for (const [c, v] of pairs) row[COLUMN_INDEX.get(c) as number] = v;
      };
      put(patient);
      put(eye.cells);
      put([
        ['image_id', imageId], ['exam_eye', e === 0 ? '1' : '2'], ['focus', focusCode],
        ['iluminaton', quality.illumination ? '2' : '1'], ['image_field', quality.imageField ? '2' : '1'],
        ['artifacts', quality.artifacts ? '2' : '1'], ['quality', bad ? 'Inadequate' : 'Adequate'],
      ]);
      const hole = row.indexOf('\u0000');
      if (hole >= 0) throw new Error(`generateCohort: no value for column ${BRSET_HEADER[hole]} (internal)`);
      images.push({
        imageId, patientId: pid, eyeIndex: e, eye: e === 0 ? 'right' : 'left', index, camera,
        icdr: eye.icdr, sdrg: eye.sdrg, gradeNoise: eye.noisy, plan: eye.plan, quality, row,
      });
    }
  }
  return images;
}

function clamp(x: number, lo: number, hi: number): number {
  return x < lo ? lo : x > hi ? hi : x;
}
