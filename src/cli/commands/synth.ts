/**
 * `retalign synth`: write the synthetic twin (BRSET or DeepEyeNet format) with rendered fundus
 * images and ground truth; optionally a contact sheet of ICDR grades 0..4.
 *
 * @example retalign synth --out /tmp/brset-twin --patients 500 --size 224 --seed 1 --prevalence balanced
 */
import type { Command } from 'commander';
import { synthesize, type SynthFormat } from '../../data/synth/synthesize.js';
import type { Prevalence } from '../../data/synth/grades.js';
import { progress } from '../progress.js';

interface SynthFlags {
  out: string;
  patients: string;
  size: string;
  seed: string;
  prevalence: string;
  format: string;
  images: boolean;
  force: boolean;
  contactSheet?: string;
}

function integer(flag: string, v: string, lo: number, hi: number): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isInteger(n) || n < lo || n > hi) throw new Error(`${flag} ${v}: expected an integer in ${lo}..${hi}`);
  return n;
}

function oneOf<T extends string>(flag: string, v: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(v)) throw new Error(`${flag} ${v}: expected one of ${allowed.join(', ')}`);
  return v as T;
}


/** Add the `synth` command. */
export function register(program: Command): void {
  program
    .command('synth')
    .description(
      'write a synthetic twin of BRSET (labels.csv with the exact 34-column header, fundus_photos/imgNNNNN.jpg, ' +
        'ground_truth.json with every drawn lesion) or of DeepEyeNet (DeepEyeNet_{train,valid,test}.json + images ' +
        'with a different camera look). Deterministic: the same options give the same bytes.',
    )
    .requiredOption('--out <dir>', 'output folder: new or empty (it is created); a folder with other files is refused')
    .option('--patients <n>', 'BRSET: patients (1-4 images each, ~1.9 on average); DeepEyeNet: images', '200')
    .option('--size <px>', 'image height in px (BRSET frames are 1.3x wider, DeepEyeNet square)', '224')
    .option('--seed <s>', 'random seed (0..4294967295)', '1')
    .option('--prevalence <mix>', "grade mix: 'real' (BRSET: 93% ICDR 0) or 'balanced' (roughly equal ICDR grades)", 'real')
    .option('--format <name>', "'brset' or 'deepeyenet'", 'brset')
    .option('--no-images', 'write labels and ground truth only (no rendering)')
    .option('--contact-sheet <png>', 'also write a PNG with one image per ICDR grade 0..4, labelled')
    .option('--force', 'replace an earlier synth output in --out (marked by .retalign-synth.json); files synth did not write are never overwritten', false)
    .action(async (f: SynthFlags) => {
      const size = integer('--size', f.size, 32, 4096);
      const seed = integer('--seed', f.seed, 0, 0xffffffff);
      const summary = await synthesize({
        out: f.out,
        patients: integer('--patients', f.patients, 1, 1_000_000),
        size,
        seed,
        prevalence: oneOf<Prevalence>('--prevalence', f.prevalence, ['real', 'balanced']),
        format: oneOf<SynthFormat>('--format', f.format, ['brset', 'deepeyenet']),
        images: f.images,
        force: f.force,
        ...(f.contactSheet !== undefined ? { contactSheet: f.contactSheet } : {}),
        onProgress: progress('rendering'),
      });
      const perS = summary.imagesWritten > 0 ? ` (${(summary.imagesWritten / summary.seconds).toFixed(1)} images/s)` : '';
      console.log(
        `synth: wrote ${summary.records} ${summary.format} records, ${summary.imagesWritten} images, to ${summary.out} ` +
          `in ${summary.seconds.toFixed(1)} s${perS}`,
      );
      console.log(`  files: ${summary.files.join(', ')}${summary.imagesWritten > 0 ? ', images' : ''}`);
      console.log(`  ICDR 0..4: ${summary.icdrCounts.join(' / ')}   SDRG 0..4: ${summary.sdrgCounts.join(' / ')}`);
      if (f.contactSheet !== undefined) console.log(`  contact sheet: ${f.contactSheet}`);
    });
}
