/**
 * `retalign data ...`: dataset commands.
 *   data check <path>   read a BRSET folder / DeepEyeNet JSON / manifest, check images, print counts;
 *                       exit code 1 when the dataset is not usable
 *   data split <path>   make (or verify and reuse) a split file for a dataset
 */
import type { Command } from 'commander';
import { dirname, resolve } from 'node:path';
import { checkOutputFolder } from '../../data/paths.js';
import { checkDataset, formatCheck } from '../../data/check.js';
import { readDataset } from '../../data/readers/index.js';
import { DEFAULT_SPLIT, loadOrMakeSplit, type SplitMode } from '../../data/split.js';
import { progress } from '../progress.js';

const IMAGE_MODES = ['none', 'sniff', 'decode'] as const;
type ImageMode = (typeof IMAGE_MODES)[number];

function imageMode(v: string): ImageMode {
  if (!(IMAGE_MODES as readonly string[]).includes(v)) throw new Error(`--image-check ${v}: expected one of ${IMAGE_MODES.join(', ')}`);
  return v as ImageMode;
}

function positiveInt(flag: string, v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${flag} ${v}: expected a positive integer`);
  return n;
}

function ratio(flag: string, v: string): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n < 0 || n > 1) throw new Error(`${flag} ${v}: expected a number in [0, 1]`);
  return n;
}


interface CheckFlags { images?: string; imageCheck: string; concurrency: string; maxRows: string; json?: boolean; allowOutside: boolean }
interface SplitFlags { out: string; train: string; val: string; test: string; seed: string; mode: string; images?: string; imageCheck: string; allowOutside: boolean }

const ALLOW_OUTSIDE = 'read images outside the dataset folder (absolute or ../ paths, symlinks leading elsewhere); refused by default';

/** Add the `data` command (or extend an existing one) with `check` and `split`. */
export function register(program: Command): void {
  const data = program.commands.find((c) => c.name() === 'data') ?? program.command('data').description('dataset tools: check a dataset, make a split');

  data
    .command('check')
    .description(
      'read a dataset (BRSET folder with labels_brset.csv or labels.csv, DeepEyeNet JSON folder or file, ' +
        'or a CSV/JSONL manifest), check every image, and print rows, patients, images found/missing/corrupt, ' +
        'ICDR and SDRG distributions, missingness per field and dirty values. Exit code 1 when not usable.',
    )
    .argument('<path>', 'dataset folder or file')
    .option('--images <dir>', 'image folder (default: fundus_photos/ or images/ for BRSET, the JSON folder for DeepEyeNet)')
    .option('--image-check <mode>', `image check: ${IMAGE_MODES.join(' | ')} (decode catches truncated files)`, 'decode')
    .option('--concurrency <n>', 'images checked at once', '4')
    .option('--max-rows <n>', 'skipped rows listed', '20')
    .option('--json', 'print the full result as JSON instead of tables')
    .option('--allow-outside', ALLOW_OUTSIDE, false)
    .action(async (path: string, flags: CheckFlags) => {
      const onProgress = progress('checking images');
      const result = await checkDataset(path, {
        checkImages: imageMode(flags.imageCheck),
        concurrency: positiveInt('--concurrency', flags.concurrency),
        allowOutside: flags.allowOutside,
        ...(flags.images !== undefined ? { imagesDir: flags.images } : {}),
        ...(onProgress !== undefined ? { onProgress } : {}),
      });
      console.log(flags.json ? JSON.stringify(result, null, 1) : formatCheck(result, { maxSkipped: positiveInt('--max-rows', flags.maxRows) }));
      if (!result.usable) process.exitCode = 1;
    });

  data
    .command('split')
    .description(
      'assign every usable image to train/val/test and write the split file (JSON) that later runs reuse. ' +
        'mode patient (default): a patient never straddles splits, stratified on the patient\'s max ICDR. ' +
        'mode image: image-level split, a guess at the paper\'s unstated protocol (lets a patient\'s other eye leak). ' +
        'If the file exists it is verified against the dataset and the options instead of being rewritten.',
    )
    .argument('<path>', 'dataset folder or file')
    .requiredOption('--out <file>', 'split file to write (or verify)')
    .option('--train <r>', 'train fraction', String(DEFAULT_SPLIT.train))
    .option('--val <r>', 'validation fraction', String(DEFAULT_SPLIT.val))
    .option('--test <r>', 'test fraction', String(DEFAULT_SPLIT.test))
    .option('--seed <n>', 'shuffle seed', String(DEFAULT_SPLIT.seed))
    .option('--mode <mode>', 'patient | image', DEFAULT_SPLIT.mode)
    .option('--images <dir>', 'image folder (as for data check)')
    .option('--image-check <mode>', `drop rows whose image fails: ${IMAGE_MODES.join(' | ')}`, 'sniff')
    .option('--allow-outside', ALLOW_OUTSIDE, false)
    .action(async (path: string, flags: SplitFlags) => {
      if (flags.mode !== 'patient' && flags.mode !== 'image') throw new Error(`--mode ${flags.mode}: expected patient or image`);
      const seed = Number(flags.seed);
      if (!Number.isInteger(seed)) throw new Error(`--seed ${flags.seed}: expected an integer`);
      checkOutputFolder(dirname(resolve(flags.out)), 'data split: the folder of --out');
      const read = await readDataset(path, {
        checkImages: imageMode(flags.imageCheck),
        ...(flags.images !== undefined ? { imagesDir: flags.images } : {}),
        allowOutside: flags.allowOutside,
      });
      if (read.records.length === 0) throw new Error(`${read.path}: 0 usable rows; run \`retalign data check ${path}\` to see why`);
      const config = {
        train: ratio('--train', flags.train), val: ratio('--val', flags.val), test: ratio('--test', flags.test),
        seed, mode: flags.mode as SplitMode,
      };
      const { split, created } = loadOrMakeSplit(flags.out, read.records, config);
      const c = split.counts;
      console.log(`${created ? 'wrote' : 'verified existing'} ${flags.out} (mode ${split.mode}, seed ${split.config.seed})`);
      for (const s of ['train', 'val', 'test'] as const) console.log(`  ${s.padEnd(5)} ${String(c[s].images).padStart(7)} images ${String(c[s].patients).padStart(7)} patients`);
      if (read.report.skipped.length > 0) console.log(`  (${read.report.skipped.length} rows skipped while reading: see retalign data check)`);
    });
}
