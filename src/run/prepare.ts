/**
 * Data preparation for a run: dataset -> records -> split -> notes -> tokenizer, tabular featurizer,
 * image tensors (preloaded once, un-augmented) -> PreparedItem per exam.
 *
 * The preprocessing state (tokenizer vocab, tabular statistics, image settings, note options)
 * travels with the model in every checkpoint (`Preprocessing`, preprocessing.ts), so eval, index
 * and serve prepare data exactly as training did. It lives in run/ because the server's index build
 * prepares data too, and the server imports nothing from job/.
 *
 * @example
 *   const data = await prepareData(cfg, runDir, { log: console.log });
 *   data.items.get('img00001') // PreparedItem
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createHash } from 'node:crypto';
import type { ExamRecord } from '../data/types.js';
import { UNKNOWN_GRADE } from '../data/grades.js';
import { loadPreset } from '../models/presets.js';
import { readDataset, type DatasetRead } from '../data/readers/index.js';
import { loadOrMakeSplit, type SplitFile } from '../data/split.js';
import { buildNoteWithTemplates, mirrorEyeRecord, mirrorEyeText, resolveNoteOptions, type NoteTruth } from '../data/notes/index.js';
import { Tokenizer } from '../data/tokenizer/tokenizer.js';
import { buildVocab } from '../data/tokenizer/builder.js';
import { TabularFeaturizer, tabularFieldSpecs } from '../data/tabular.js';
import { imageBackend } from '../data/images/fastpath.js';
import { ImageLoader } from '../data/images/loader.js';
import { resolveImageConfig, type ImageConfig } from '../data/images/config.js';
import { synthesize } from '../data/synth/index.js';
import type { MirrorView, PreparedItem } from './collate.js';
import type { RunConfig } from './config.js';
import type { Preprocessing } from './preprocessing.js';

export type SplitName = 'train' | 'val' | 'test';

export interface PreparedData {
  /** Dataset folder actually read (the synthesized one for source = 'synth'). */
  datasetPath: string;
  datasetName: string;
  read: DatasetRead;
  split: SplitFile;
  /** imageId -> split. */
  splitOf: Map<string, SplitName>;
  records: ExamRecord[];
  notes: Map<string, string>;
  tokenizer: Tokenizer;
  featurizer: TabularFeaturizer | null;
  pre: Preprocessing;
  items: Map<string, PreparedItem>;
  /** Record ids per split, in record order. */
  ids: Record<SplitName, string[]>;
}

export interface PrepareOptions {
  log?: (msg: string) => void;
  /** Preprocessing from a checkpoint (eval/serve): reuse its tokenizer, featurizer, image settings. */
  pre?: Preprocessing;
  /** Override the dataset (e.g. zero-shot evaluation on another set). */
  source?: string;
  /** Only prepare these splits' images (others keep image = null). Default: all. */
  imageSplits?: SplitName[];
  /** Treat every record as test (a foreign evaluation set, e.g. zero-shot). */
  allTest?: boolean;
  /**
   * The split file and whether it may be made. `create: true` (training): reused and verified when
   * it exists, else made and written there. `create: false` (eval, the index build): it must exist,
   * since a new split could put training images in the test set. Default: data.splitFile (resolved
   * against the working directory) must exist; without one, split-<protocol>.json in `runRoot` is
   * made when absent.
   */
  split?: { path: string; create: boolean };
}

/**
 * The image settings a run trains with: the run's image side and the model preset's normalization
 * (image.mean/std travel with the weights; the checkpoint's preprocessing stores them for eval and serve).
 */
function trainingImageConfig(cfg: RunConfig): ImageConfig {
  const { mean, std } = loadPreset(cfg.model.preset).image;
  return resolveImageConfig({ size: cfg.data.imageSize, mean, std }, 'image config');
}

/** Max bytes of preloaded image tensors before we refuse (a hint to lower data.imageSize). */
const IMAGE_BUDGET_BYTES = 6 * 1024 ** 3;

/** Where a synthetic twin with these settings lives (shared by runs under the same root). */
export function synthDir(root: string, s: RunConfig['data']['synth'], format: 'brset' | 'deepeyenet' = 'brset'): string {
  const key = createHash('sha1').update(JSON.stringify({ ...s, format })).digest('hex').slice(0, 10);
  return join(root, `synth-${format}-${s.prevalence}-${s.patients}p-${s.size}px-${key}`);
}

/** Synthesizes the twin unless the folder already holds a complete one (replacing an incomplete synth output there). */
export async function ensureSynth(dir: string, s: RunConfig['data']['synth'], format: 'brset' | 'deepeyenet', log: (m: string) => void): Promise<string> {
  const marker = join(dir, format === 'brset' ? 'labels.csv' : 'DeepEyeNet_test.json');
  if (existsSync(marker) && existsSync(join(dir, 'ground_truth.json'))) return dir;
  log(`synthesizing a ${format} twin: ${s.patients} ${format === 'brset' ? 'patients' : 'images'}, ${s.size}px, ${s.prevalence} prevalence -> ${dir}`);
  mkdirSync(dir, { recursive: true });
  const t0 = Date.now();
  const r = await synthesize({ out: dir, patients: s.patients, size: s.size, seed: s.seed, prevalence: s.prevalence, format, force: true });
  log(`  ${r.imagesWritten} images in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  return dir;
}

function loadTruths(dir: string): Map<string, NoteTruth> {
  const p = join(dir, 'ground_truth.json');
  const out = new Map<string, NoteTruth>();
  if (!existsSync(p)) return out;
  const j = JSON.parse(readFileSync(p, 'utf8')) as { images?: { imageId: string; lesions: NoteTruth['lesions']; quality?: Record<string, number> }[] };
  for (const t of j.images ?? []) out.set(t.imageId, { lesions: t.lesions, quality: t.quality });
  return out;
}

/**
 * Builds the preparation for a run (training) or reuses a checkpoint's (evaluation). The stages,
 * in order: read the dataset, split it, write the notes, make the tokenizer and the tabular
 * featurizer, collect them as the run's Preprocessing, preload the images, build the items.
 */
export async function prepareData(cfg: RunConfig, runRoot: string, o: PrepareOptions = {}): Promise<PreparedData> {
  const log = o.log ?? (() => {});
  const source = o.source ?? cfg.data.source;
  const { datasetPath, read } = await readRecords(cfg, runRoot, source, log);
  const records = read.records;
  const splitAt = o.split ?? (cfg.data.splitFile !== null
    ? { path: resolve(cfg.data.splitFile), create: false }
    : { path: join(runRoot, `split-${cfg.protocol}.json`), create: true });
  const { split, splitOf, ids } = splitRecords(cfg, splitAt, records, o.allTest === true);
  const splitOfRecord = (r: ExamRecord): SplitName => splitOf.get(r.imageId) ?? 'test';

  const noteOpts = o.pre?.notes ?? trainingNoteOptions(cfg);
  const notes = writeNotes(records, splitOfRecord, noteOpts, loadTruths(datasetPath));
  const tokenizer = makeTokenizer(cfg, ids.train.map((id) => notes.get(id) as string), o.pre);
  const featurizer = makeFeaturizer(cfg, read, splitOfRecord, o.pre);
  const pre: Preprocessing = {
    tokenizer: tokenizer.toJSON(), tabular: featurizer?.toJSON() ?? null, image: o.pre?.image ?? trainingImageConfig(cfg),
    maxTokens: o.pre?.maxTokens ?? cfg.data.maxTokens, notes: noteOpts,
  };

  const wantsImage = (r: ExamRecord): boolean => !o.imageSplits || o.imageSplits.includes(splitOfRecord(r));
  const pixels = await preloadImages(records.filter(wantsImage), pre.image, log);
  // DeepEyeNet records carry no tabular input (even when a checkpoint's featurizer is given).
  const { items, distinctNotes, cut } = buildItems(records, { notes, tokenizer, maxTokens: pre.maxTokens,
    featurizer: read.format !== 'deepeyenet' ? featurizer : null, pixels, wantsImage,
    // Mirror views only where the training stream uses them (train.flip 'mirror', training split).
    wantsMirror: (r) => cfg.train.flip === 'mirror' && splitOfRecord(r) === 'train' });
  for (const k of ['train', 'val', 'test'] as const) ids[k] = ids[k].filter((id) => items.has(id));
  log(`prepared ${items.size} exams (train ${ids.train.length}, val ${ids.val.length}, test ${ids.test.length}); ` +
    `${distinctNotes} distinct notes; vocab ${tokenizer.vocabSize}; tabular width ${featurizer?.dim ?? 0}; images ${pre.image.size}px ` +
    `(${imageBackend() === 'native' ? 'native fast path: libjpeg-turbo + Lanczos' : 'sharp only'})`);
  const cutWarning = noteCutWarning(cut, items.size, pre.maxTokens);
  if (cutWarning !== null) log(cutWarning);
  const datasetName = source === 'synth' ? `synthetic twin (${cfg.data.synth.prevalence}, ${cfg.data.synth.patients} patients)` : datasetPath;
  return { datasetPath, datasetName, read, split, splitOf, records, notes, tokenizer, featurizer, pre, items, ids };
}

/** Reads the dataset (synthesizing the twin first for source = 'synth'); refuses one with no usable rows. */
async function readRecords(cfg: RunConfig, runRoot: string, source: string, log: (msg: string) => void): Promise<{ datasetPath: string; read: DatasetRead }> {
  const datasetPath = source === 'synth'
    ? await ensureSynth(synthDir(join(runRoot, 'data'), cfg.data.synth), cfg.data.synth, 'brset', log)
    : resolve(source);
  if (!existsSync(datasetPath)) throw new Error(`dataset not found: ${datasetPath} (data.source in the run config)`);
  const read = await readDataset(datasetPath, { checkImages: 'sniff', allowOutside: cfg.data.allowOutside });
  const skipped = read.report.skipped.length;
  log(`read ${read.format} dataset ${datasetPath}: ${read.records.length} usable rows` +
    (skipped > 0 ? `, ${skipped} skipped (${read.report.skipped.slice(0, 3).map((s) => `${s.imageId ?? `row ${s.row}`}: ${s.reason}`).join('; ')}${skipped > 3 ? '; ...' : ''})` : ''));
  for (const n of read.report.notes) log(`  note: ${n}`);
  if (read.records.length === 0) throw new Error(`dataset ${datasetPath} has no usable rows`);
  return { datasetPath, read };
}

/**
 * The run's split file (made on first use, by split.mode: by patient under the honest protocol's
 * default, by image under the paper protocol's, whose own split method is unknown), or every record in
 * test for a foreign evaluation set.
 * `ids` lists each split's record ids in record order.
 */
function splitRecords(cfg: RunConfig, at: { path: string; create: boolean }, records: readonly ExamRecord[], allTest: boolean):
  { split: SplitFile; splitOf: Map<string, SplitName>; ids: Record<SplitName, string[]> } {
  let split: SplitFile;
  if (allTest) {
    const assignment: Record<string, SplitName> = {};
    for (const r of records) assignment[r.imageId] = 'test';
    split = { version: 1, mode: 'image', config: { train: 0, val: 0, test: 1, seed: 0 },
      counts: { train: { images: 0, patients: 0 }, val: { images: 0, patients: 0 }, test: { images: records.length, patients: new Set(records.map((r) => r.patientId)).size } }, assignment };
  } else {
    if (!at.create && !existsSync(at.path)) {
      throw new Error(`the run's split file ${at.path} is missing: refusing to make a new split, which could put training images in ` +
        'the test set. Restore the file (from a copy of the run folder) or train the run again.');
    }
    split = loadOrMakeSplit(at.path, records, cfg.split).split;
  }
  const splitOf = new Map<string, SplitName>(Object.entries(split.assignment) as [string, SplitName][]);
  const ids: Record<SplitName, string[]> = { train: [], val: [], test: [] };
  for (const r of records) ids[splitOf.get(r.imageId) ?? 'test'].push(r.imageId);
  return { split, splitOf, ids };
}

/** The note options a training run writes its notes with (a checkpoint stores them as Preprocessing.notes). */
function trainingNoteOptions(cfg: RunConfig): Preprocessing['notes'] {
  return { ...resolveNoteOptions({ includeGrade: cfg.notes.includeGrade, includeFindings: cfg.notes.includeFindings,
    includePatient: cfg.notes.includePatient, includeRecord: cfg.notes.includeRecord, seed: cfg.notes.seed }), templateHoldout: cfg.notes.templateHoldout };
}

/**
 * imageId -> note: the record's own note where the data ships one, else one built from the record
 * and the synthetic ground truth. With templateHoldout, test notes use templates training never sees.
 */
function writeNotes(records: readonly ExamRecord[], splitOf: (r: ExamRecord) => SplitName, noteOpts: Preprocessing['notes'],
  truths: Map<string, NoteTruth>): Map<string, string> {
  const notes = new Map<string, string>();
  for (const r of records) {
    if (r.note !== undefined && r.note.trim() !== '') {
      notes.set(r.imageId, r.note);
      continue;
    }
    const s = splitOf(r);
    const templateSplit = noteOpts.templateHoldout ? (s === 'test' ? 'test' : 'train') : 'all';
    const { templateHoldout: _h, ...builderOpts } = noteOpts;
    notes.set(r.imageId, buildNoteWithTemplates(r, { ...builderOpts, templateSplit }, truths.get(r.imageId)).text);
  }
  return notes;
}

/** The checkpoint's tokenizer, else a pretrained text tower's vocab, else one built from the training notes. */
function makeTokenizer(cfg: RunConfig, trainNotes: string[], pre: Preprocessing | undefined): Tokenizer {
  if (pre) return Tokenizer.fromJSON(pre.tokenizer);
  if (cfg.model.textWeights) return Tokenizer.fromVocabFile(join(cfg.model.textWeights, 'vocab.txt'), { maxLength: cfg.data.maxTokens });
  return new Tokenizer(buildVocab(trainNotes, { size: cfg.data.vocabSize, lowercase: true }), { lowercase: true, maxLength: cfg.data.maxTokens });
}

/** The checkpoint's tabular featurizer, else one fitted on the training split only (none for DeepEyeNet). */
function makeFeaturizer(cfg: RunConfig, read: DatasetRead, splitOf: (r: ExamRecord) => SplitName, pre: Preprocessing | undefined): TabularFeaturizer | null {
  if (pre) return pre.tabular === null ? null : TabularFeaturizer.fromJSON(pre.tabular);
  if (read.format === 'deepeyenet') return null;
  const train = read.records.filter((r) => splitOf(r) === 'train');
  return TabularFeaturizer.fit(train, tabularFieldSpecs(cfg.data.tabularFields));
}

/**
 * imageId -> pixels, decoded once (worker threads) and un-augmented (flips happen in collate).
 * Images that fail to decode are left out and logged; more than IMAGE_BUDGET_BYTES is refused.
 */
async function preloadImages(wanted: readonly ExamRecord[], image: ImageConfig, log: (msg: string) => void): Promise<Map<string, Float32Array>> {
  const bytes = wanted.length * 3 * image.size * image.size * 4;
  if (bytes > IMAGE_BUDGET_BYTES) {
    throw new Error(`preloading ${wanted.length} images at ${image.size}px needs ${(bytes / 1024 ** 3).toFixed(1)} GiB; ` +
      `lower data.imageSize or use a smaller subset`);
  }
  const loader = new ImageLoader({ config: image });
  const pixels = new Map<string, Float32Array>();
  const failed: string[] = [];
  try {
    const chunk = 64;
    for (let i = 0; i < wanted.length; i += chunk) {
      const part = wanted.slice(i, i + chunk);
      const results = await Promise.allSettled(part.map((r) => loader.load([r.imagePath]).then((xs) => xs[0] as Float32Array)));
      results.forEach((res, j) => {
        const r = part[j] as ExamRecord;
        if (res.status === 'fulfilled') pixels.set(r.imageId, res.value);
        else failed.push(`${r.imageId}: ${(res.reason as Error).message}`);
      });
    }
  } finally {
    await loader.close();
  }
  if (failed.length > 0) log(`${failed.length} images could not be decoded and are skipped: ${failed.slice(0, 3).join('; ')}${failed.length > 3 ? '; ...' : ''}`);
  return pixels;
}

/**
 * One PreparedItem (typed arrays only) per record; a record whose wanted image failed to decode is
 * dropped. Records with the same note text share a noteGroup (numbered in order of first use).
 */
function buildItems(records: readonly ExamRecord[], o: { notes: Map<string, string>; tokenizer: Tokenizer; maxTokens: number;
  featurizer: TabularFeaturizer | null; pixels: Map<string, Float32Array>; wantsImage: (r: ExamRecord) => boolean;
  wantsMirror: (r: ExamRecord) => boolean }):
  { items: Map<string, PreparedItem>; distinctNotes: number; cut: NoteCuts } {
  const groupOf = new Map<string, number>();
  const items = new Map<string, PreparedItem>();
  const cut: NoteCuts = { count: 0, longest: 0, byIcdr: new Map() };
  for (const r of records) {
    const px = o.pixels.get(r.imageId) ?? null;
    if (o.wantsImage(r) && px === null) continue;
    const text = o.notes.get(r.imageId) as string;
    const group = (s: string): number => {
      if (!groupOf.has(s)) groupOf.set(s, groupOf.size);
      return groupOf.get(s) as number;
    };
    const noteGroup = group(text);
    const t = o.tokenizer.encodeBatch([text], { maxLength: o.maxTokens, padding: 'max' });
    if (t.attentionMask[o.maxTokens - 1] === 1) {
      const full = o.tokenizer.encode(text, Number.MAX_SAFE_INTEGER).length;
      if (full > o.maxTokens) {
        cut.count++;
        cut.longest = Math.max(cut.longest, full);
        const g = r.labels.icdr === null ? 'unknown' : String(r.labels.icdr);
        cut.byIcdr.set(g, (cut.byIcdr.get(g) ?? 0) + 1);
      }
    }
    items.set(r.imageId, {
      imageId: r.imageId, patientId: r.patientId, image: px, tokenIds: t.inputIds, attention: t.attentionMask,
      tabular: o.featurizer ? o.featurizer.transform(r) : null,
      icdr: r.labels.icdr ?? UNKNOWN_GRADE, sdrg: r.labels.sdrg ?? UNKNOWN_GRADE, noteGroup,
      mirror: o.wantsMirror(r) ? mirrorView(r, text, o, group) : null,
    });
  }
  return { items, distinctNotes: new Set([...items.values()].map((it) => it.noteGroup)).size, cut };
}

/**
 * The note and record of a record's mirror image (right <-> left swapped in both), for the training
 * stream's eye-aware flips; null when the eye is unknown. Mirror notes join the same note groups.
 */
function mirrorView(r: ExamRecord, text: string, o: { tokenizer: Tokenizer; maxTokens: number; featurizer: TabularFeaturizer | null },
  group: (s: string) => number): MirrorView | null {
  const m = mirrorEyeRecord(r);
  if (m === null) return null;
  const mtext = mirrorEyeText(text);
  const t = o.tokenizer.encodeBatch([mtext], { maxLength: o.maxTokens, padding: 'max' });
  return { tokenIds: t.inputIds, attention: t.attentionMask, tabular: o.featurizer ? o.featurizer.transform(m) : null, noteGroup: group(mtext) };
}

/** Notes longer than maxTokens (cut at tokenization): how many, the longest, and how many per ICDR grade. */
interface NoteCuts { count: number; longest: number; byIcdr: Map<string, number> }

/** The warning for cut notes, or null when none was cut. */
export function noteCutWarning(cut: NoteCuts, total: number, maxTokens: number): string | null {
  if (cut.count === 0) return null;
  const by = [...cut.byIcdr].sort(([a], [b]) => a.localeCompare(b)).map(([g, n]) => `ICDR ${g}: ${n}`).join(', ');
  return `warning: ${cut.count} of ${total} notes are longer than data.maxTokens=${maxTokens} tokens and were cut (longest ${cut.longest}; ` +
    `${by}): the model never reads their end (data.maxTokens sets the budget, at most the preset's text.maxPositions).`;
}
