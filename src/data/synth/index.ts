/**
 * Public API of the synthetic twin.
 *
 * @example
 *   import { synthesize, writeContactSheet } from './data/synth/index.js';
 *   await synthesize({ out: '/tmp/twin', patients: 100, size: 128, seed: 1, prevalence: 'balanced' });
 */
export { synthesize, resolveSynthOptions, SYNTH_VERSION, type SynthOptions, type SynthSummary, type SynthFormat } from './synthesize.js';
export { generateCohort, type SynthImage, type CohortOptions } from './cohort.js';
export { generateDeepEyeNet, deepEyeNetJson, type DeepEyeNetItem, type DeepEyeNetSplit } from './deepeyenet.js';
export { gradesFromLesions, patientGradeMix, IMAGE_PREVALENCE, type Prevalence } from './grades.js';
export { BRSET_HEADER, BRSET_FLAGS, brsetCsv } from './brset-csv.js';
export { makeScene, makeView, defectsOf, type PhotoQuality } from './scene.js';
export { renderRgb, renderJpeg, JPEG_OPTIONS } from './render.js';
export { writeContactSheet } from './contact-sheet.js';
export type { ImageTruth, TruthEntry, LesionType, Site, Quadrant, EyeScene, View } from './types.js';
