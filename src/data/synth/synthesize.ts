/**
 * `synthesize(opts)`: write a synthetic BRSET folder (labels.csv + fundus_photos/ + ground_truth.json)
 * or a DeepEyeNet-shaped folder (DeepEyeNet_{train,valid,test}.json + eyenet0420/ + ground_truth.json).
 * Deterministic: the same options give the same bytes. Rendering is optional (`images: false`
 * writes labels and ground truth only). It never writes over a file it did not create: a folder
 * that is not empty is refused unless it holds an earlier synth output and `force` is given
 * (out-folder.ts has the rules).
 */
import { existsSync, mkdirSync, openSync, readSync, closeSync, statSync, writeFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { writeContactSheet } from './contact-sheet.js';
import { claimSynthFolder } from './out-folder.js';
import { brsetCsv } from './brset-csv.js';
import { generateCohort, type SynthImage } from './cohort.js';
import { DEEPEYENET_SPLITS, deepEyeNetJson, generateDeepEyeNet, type DeepEyeNetItem } from './deepeyenet.js';
import type { Prevalence } from './grades.js';
import { rngOf, SALT } from './hash.js';
import { summarizeLesions } from './lesions.js';
import { renderJpeg } from './render.js';
import { defectsOf, makeScene, makeView } from './scene.js';
import type { CameraStyle, EyeScene, ImageTruth, View } from './types.js';

/** Generator version, written into ground_truth.json; bump when output bytes change. */
export const SYNTH_VERSION = '1.0.0';

export type SynthFormat = 'brset' | 'deepeyenet';

export interface SynthOptions {
  /** Output folder (created). */
  out: string;
  /** BRSET: number of patients (1-4 images each). DeepEyeNet: number of images. Default 200. */
  patients?: number;
  /** Image height in px (BRSET frames are 1.3x wider; DeepEyeNet frames square). Default 224. */
  size?: number;
  /** Seed (uint32). Default 1. */
  seed?: number;
  /** 'real' (BRSET mix, 93% grade 0) or 'balanced' (roughly equal ICDR grades). Default 'real'. */
  prevalence?: Prevalence;
  /** Default 'brset'. */
  format?: SynthFormat;
  /** Render and write JPEGs. Default true. */
  images?: boolean;
  /** BRSET: probability of an SDRG label one step off its lesions for eyes with DR. Default 0.02. */
  gradeNoise?: number;
  /** Replace an earlier synth output in `out` (never a file synth did not write there). Default false. */
  force?: boolean;
  /** Also write a PNG contact sheet (one image per ICDR grade) here; an existing file is refused unless `force` and it is a PNG. */
  contactSheet?: string;
  /** Called after each image is written (or each record when images are off). */
  onProgress?: (done: number, total: number) => void;
}

export interface SynthSummary {
  format: SynthFormat;
  out: string;
  seed: number;
  size: number;
  prevalence: Prevalence;
  patients: number;
  /** Records written (rows of labels.csv / JSON entries). */
  records: number;
  imagesWritten: number;
  icdrCounts: number[];
  sdrgCounts: number[];
  /** Written files relative to `out`, excluding images. */
  files: string[];
  seconds: number;
}

/** Defaults and validation; throws naming the option, the value and what was expected. */
export function resolveSynthOptions(o: SynthOptions): Required<Omit<SynthOptions, 'onProgress' | 'contactSheet'>> & Pick<SynthOptions, 'onProgress' | 'contactSheet'> {
  const r = {
    out: resolve(o.out), patients: o.patients ?? 200, size: o.size ?? 224, seed: o.seed ?? 1,
    prevalence: o.prevalence ?? 'real', format: o.format ?? 'brset', images: o.images ?? true,
    gradeNoise: o.gradeNoise ?? 0.02, force: o.force ?? false, onProgress: o.onProgress,
    contactSheet: o.contactSheet === undefined ? undefined : resolve(o.contactSheet),
  };
  const bad = (name: string, v: unknown, expected: string): never => {
    throw new Error(`synth: option ${name} = ${JSON.stringify(v)}: expected ${expected}`);
  };
  if (!Number.isInteger(r.patients) || r.patients < 1 || r.patients > 1_000_000) bad('patients', r.patients, 'an integer in 1..1000000');
  if (!Number.isInteger(r.size) || r.size < 32 || r.size > 4096) bad('size', r.size, 'an integer in 32..4096 (px)');
  if (!Number.isInteger(r.seed) || r.seed < 0 || r.seed > 0xffffffff) bad('seed', r.seed, 'an integer in 0..4294967295');
  if (r.prevalence !== 'real' && r.prevalence !== 'balanced') bad('prevalence', r.prevalence, "'real' or 'balanced'");
  if (r.format !== 'brset' && r.format !== 'deepeyenet') bad('format', r.format, "'brset' or 'deepeyenet'");
  if (!(r.gradeNoise >= 0 && r.gradeNoise <= 1)) bad('gradeNoise', r.gradeNoise, 'a probability in [0, 1]');
  if (r.contactSheet !== undefined && r.size > 2048) bad('size', r.size, 'at most 2048 (px) with a contact sheet');
  return r;
}

/** One image to write: where, what is drawn, how it is framed, and its truth. */
interface Job {
  file: string;
  scene: EyeScene;
  view: View;
  truth: ImageTruth;
}

/** Scene and view of a BRSET cohort image (the same eye always gets the same scene). */
export function brsetJob(seed: number, size: number, img: SynthImage, scene?: EyeScene): Job {
  const s = scene ?? makeScene(rngOf(seed, SALT.anatomy, img.patientId, img.eyeIndex), { eye: img.eye, ...img.plan });
  const camera: CameraStyle = img.camera;
  const view = makeView(rngOf(seed, SALT.view, img.index), { size, camera, eye: img.eye, quality: img.quality });
  const file = `fundus_photos/${img.imageId}.jpg`;
  return {
    file, scene: s, view,
    truth: {
      imageId: img.imageId, patientId: String(img.patientId), eye: img.eye, icdr: img.icdr, sdrg: img.sdrg,
      gradeNoise: img.gradeNoise, lesions: summarizeLesions(s), quality: defectsOf(view), camera, file,
    },
  };
}

/** Scene and view of a DeepEyeNet item. */
export function deepEyeNetJob(seed: number, size: number, it: DeepEyeNetItem): Job {
  const scene = makeScene(rngOf(seed, SALT.deepeyenet, SALT.anatomy, it.index), { eye: it.eye, ...it.plan });
  const view = makeView(rngOf(seed, SALT.deepeyenet, SALT.view, it.index), { size, camera: 'deepeyenet', eye: it.eye, quality: it.quality });
  return {
    file: it.key, scene, view,
    truth: {
      imageId: it.key, patientId: String(it.index + 1), eye: it.eye, icdr: it.icdr, sdrg: it.sdrg, gradeNoise: false,
      lesions: summarizeLesions(scene), quality: defectsOf(view), camera: 'deepeyenet', file: it.key,
    },
  };
}

/**
 * Write a synthetic dataset.
 *
 * @example
 *   const s = await synthesize({ out: '/tmp/brset-twin', patients: 50, size: 128, seed: 7 });
 *   s.records // ~96 rows in /tmp/brset-twin/labels.csv
 */
export async function synthesize(opts: SynthOptions): Promise<SynthSummary> {
  const o = resolveSynthOptions(opts);
  const t0 = Date.now();

  // Everything to write is known before the first byte goes to disk, so the folder can be checked first.
  const texts: [string, string][] = [];
  const jobs: Job[] = [];
  if (o.format === 'brset') {
    const cohort = generateCohort({ patients: o.patients, seed: o.seed, prevalence: o.prevalence, gradeNoise: o.gradeNoise });
    texts.push(['labels.csv', brsetCsv(cohort.map((i) => i.row))]);
    const scenes = new Map<string, EyeScene>();
    for (const img of cohort) {
      const key = `${img.patientId}:${img.eyeIndex}`;
      const job = brsetJob(o.seed, o.size, img, scenes.get(key));
      scenes.set(key, job.scene);
      jobs.push(job);
    }
  } else {
    const items = generateDeepEyeNet({ entries: o.patients, seed: o.seed, prevalence: o.prevalence });
    for (const split of DEEPEYENET_SPLITS) texts.push([`DeepEyeNet_${split}.json`, deepEyeNetJson(items, split, o.seed)]);
    for (const it of items) jobs.push(deepEyeNetJob(o.seed, o.size, it));
  }
  const truth = {
    generator: 'retalign-synth', version: SYNTH_VERSION, seed: o.seed, format: o.format, size: o.size,
    prevalence: o.prevalence, patients: o.patients, gradeNoise: o.format === 'brset' ? o.gradeNoise : 0,
    images: jobs.map((j) => j.truth),
  };
  texts.push(['ground_truth.json', JSON.stringify(truth, null, 1) + '\n']);

  const sheetRel = o.contactSheet === undefined ? null : insideRel(o.out, o.contactSheet);
  if (sheetRel !== null && (texts.some(([rel]) => rel === sheetRel) || jobs.some((j) => j.file === sheetRel))) {
    throw new Error(`synth: --contact-sheet ${o.contactSheet} is one of the dataset's own files: name another file`);
  }
  const claim = claimSynthFolder(o.out, [
    ...texts.map(([rel]) => rel), ...(o.images ? jobs.map((j) => j.file) : []), ...(sheetRel !== null ? [sheetRel] : []),
  ], { force: o.force });
  if (o.contactSheet !== undefined && sheetRel === null) checkContactSheetPath(o.contactSheet, o.force);

  claim.begin();
  const files: string[] = [];
  for (const [rel, text] of texts) {
    writeFileSync(join(o.out, rel), text);
    files.push(rel);
  }

  let written = 0;
  if (o.images) {
    for (const d of new Set(jobs.map((j) => dirname(j.file)))) mkdirSync(join(o.out, d), { recursive: true });
    // Render on this thread while sharp encodes earlier images on its own threads.
    const inFlight: Promise<void>[] = [];
    for (const job of jobs) {
      const p = renderJpeg(job.scene, job.view).then((buf) => writeFile(join(o.out, job.file), buf)).then(() => {
        written++;
        o.onProgress?.(written, jobs.length);
      });
      inFlight.push(p);
      if (inFlight.length >= 8) await inFlight.shift();
    }
    await Promise.all(inFlight);
  } else {
    o.onProgress?.(jobs.length, jobs.length);
  }

  if (o.contactSheet !== undefined) await writeContactSheet(o.contactSheet, o.size, o.seed);
  claim.finish();

  const icdrCounts = [0, 0, 0, 0, 0];
  const sdrgCounts = [0, 0, 0, 0, 0];
  for (const j of jobs) {
    icdrCounts[j.truth.icdr] = (icdrCounts[j.truth.icdr] as number) + 1;
    sdrgCounts[j.truth.sdrg] = (sdrgCounts[j.truth.sdrg] as number) + 1;
  }
  return {
    format: o.format, out: o.out, seed: o.seed, size: o.size, prevalence: o.prevalence, patients: o.patients,
    records: jobs.length, imagesWritten: written, icdrCounts, sdrgCounts, files, seconds: (Date.now() - t0) / 1000,
  };
}

/** `file` relative to `dir` ('/'-separated) when it lies inside it, else null. */
function insideRel(dir: string, file: string): string | null {
  const rel = relative(dir, file);
  return rel === '' || rel.startsWith('..') || resolve(dir, rel) !== file ? null : rel.split(sep).join('/');
}

/** A contact sheet outside the output folder replaces an existing file only with `force`, and only a PNG. */
function checkContactSheetPath(path: string, force: boolean): void {
  if (!existsSync(path)) return;
  if (!force) throw new Error(`synth: --contact-sheet ${path} exists: pass --force to replace it, or name a new file`);
  const head = Buffer.alloc(8);
  let isPng = false;
  if (statSync(path).isFile()) {
    const fd = openSync(path, 'r');
    try {
      isPng = readSync(fd, head, 0, 8, 0) === 8 && head.equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
    } finally {
      closeSync(fd);
    }
  }
  if (!isPng) throw new Error(`synth --force: --contact-sheet ${path} exists and is not a PNG image: refusing to overwrite it`);
}
