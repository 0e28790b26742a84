/**
 * `retalign eval`: a checkpoint + a dataset -> metrics.json (an EvalResult).
 *
 * In-domain (the dataset the model was trained on): the test split of the training run, under the
 * protocol it was trained with. Foreign data (another twin, a DeepEyeNet-format set): every record
 * is a test item and retrieval is zero-shot (tabular absent where the data has none).
 *
 * The stages, top-down in runEval: open the run; decide the scope (protocol, in-domain or foreign);
 * prepare the data; predict the test set; grade, with the model's heads or, for a model without
 * them (capabilities.gradeHeads false), with a linear probe on the training split's image
 * embeddings; for a model with heads evaluated in-domain, the modality ablation and the validation
 * logits for calibration; evaluate; write metrics.json.
 *
 * @example
 *   const r = await runEval({ checkpoint: 'runs/demo-kemt-honest/best', out: 'runs/demo-kemt-honest/eval' });
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { setNumThreads, cudaIsAvailable, type Device } from '../tensor/index.js';
import type { RetalignModel } from '../models/index.js';
import { evaluate } from '../eval/evaluate.js';
import { serializeEvalResult, type EvalMeta, type EvalResult, type RawPredictions } from '../eval/result.js';
import { standardSubgroups } from '../eval/metrics/subgroups.js';
import type { ExamRecord } from '../data/types.js';
import { NUM_GRADES } from '../data/grades.js';
import { detectFormat } from '../data/readers/index.js';
import {
  loadRun, predict, prepareData, tensorScores,
  type CollateOptions, type LoadedRun, type PreparedData, type PreparedItem, type Predictions, type Preprocessing, type PrepareOptions, type Protocol,
  type RunConfig,
} from '../run/index.js';
import { fitLinearProbe } from './probe.js';
import { checkOutputFolder } from '../data/paths.js';

export interface EvalRunOptions {
  checkpoint: string;
  /** Dataset path; default: the one the model was trained on. */
  data?: string;
  protocol?: Protocol;
  /** Where metrics.json goes (default <run>/eval-<protocol>[-<data name>]). */
  out?: string;
  /** Overrides of the run config's eval block. */
  bootstrap?: number;
  log?: (m: string) => void;
  /** A name for the dataset in the report. */
  datasetName?: string;
  /**
   * Overrides of the run config's eval.gallery, eval.gallerySize and eval.split (the protocol
   * ladder evaluates one trained run under several rungs). Default: the run config's own.
   */
  settings?: Partial<Pick<RunConfig['eval'], 'gallery' | 'gallerySize' | 'split'>>;
}

/** What one evaluation covers, decided from the options and the run before any data is read. */
interface EvalScope {
  protocol: Protocol;
  /** Another dataset than the training one: every record is a test item. */
  foreign: boolean;
  /** The dataset evaluated. */
  source: string;
  /** The run's preprocessing with the note options of `protocol`. */
  pre: Preprocessing;
  /** The split evaluated in-domain ('test', or 'train': a leakage, only the protocol ladder asks for it). */
  split: 'test' | 'train';
  /** The text -> image gallery: 'fused' only when asked for and the model has a record embedding. */
  gallery: 'image' | 'fused';
  gallerySize: number | null;
}

/** Grade probabilities from a linear probe, (n x NUM_GRADES) each. */
interface ProbeGrades {
  icdr: Float32Array;
  sdrg: Float32Array;
}

export async function runEval(o: EvalRunOptions): Promise<{ result: EvalResult; out: string }> {
  const log = o.log ?? ((m: string) => console.log(m));
  const t0 = Date.now();
  const run = loadRun(o.checkpoint);
  setNumThreads(run.runConfig.train.threads > 0 ? run.runConfig.train.threads : 2);
  const scope = evalScope(run, o);
  const out = checkOutputFolder(o.out ?? join(run.runDir, `eval-${scope.protocol}${scope.foreign ? '-foreign' : ''}`), 'eval: --out');
  if (!scope.foreign && !existsSync(run.splitFile)) {
    throw new Error(`eval: the run's split file ${run.splitFile} is missing: refusing to make a new split, which could put training ` +
      'images in the test set. Restore the file (from a copy of the run folder) or train the run again.');
  }
  const data = await prepareEvalData(run, scope, log);
  const test = itemsOf(data, scope.split === 'train' ? data.ids.train : data.ids.test);
  if (test.length === 0) throw new Error(`no ${scope.split} items to evaluate`);
  const co = predictOptions(run, data);
  log(`evaluating ${run.model.name} (${run.checkpointId}) on ${test.length} ${scope.split} exams, ${scope.protocol} protocol${scope.foreign ? ', external data' : ''}` +
    (scope.gallery === 'fused' ? ', fused image+record gallery (leakage)' : '') + (scope.gallerySize !== null ? `, galleries of ${scope.gallerySize}` : ''));
  const main = await predict(run.model, test, co);
  const recs = new Map(data.records.map((r) => [r.imageId, r]));

  const heads = run.model.capabilities.gradeHeads;
  const probe = heads ? undefined : await probeGrades(run, scope, data, main, test, co, log);
  const ablations = heads && !scope.foreign ? await modalityAblations(run.model, test, recs, co, main) : undefined;
  const val = heads && !scope.foreign ? await validationPredictions(run.model, data, recs, co) : undefined;

  const cfg = run.runConfig;
  const result = evaluate(
    { main: rawOf(main, test, recs, probe), ablations, val },
    evalMeta(run, scope, data, co.tabularDim, { datasetName: o.datasetName, wallTimeS: (Date.now() - t0) / 1000 }),
    { bootstrap: o.bootstrap ?? cfg.eval.bootstrap, seed: cfg.eval.seed, ks: cfg.eval.ks, score: tensorScores, gallery: scope.gallery, gallerySize: scope.gallerySize },
  );
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'metrics.json'), serializeEvalResult(result));
  log(`wrote ${join(out, 'metrics.json')} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  return { result, out };
}

/**
 * The protocol and the dataset. In-domain, only the protocol the model was trained under is
 * allowed: its split was made for it.
 */
function evalScope(run: LoadedRun, o: EvalRunOptions): EvalScope {
  const protocol = o.protocol ?? run.runConfig.protocol;
  const foreign = o.data !== undefined && resolve(o.data) !== resolve(run.datasetPath);
  if (!foreign && protocol !== run.runConfig.protocol) {
    throw new Error(`the model in ${run.checkpointDir} was trained under the '${run.runConfig.protocol}' protocol; ` +
      `evaluating it in-domain under '${protocol}' would reuse a split made for the other protocol ` +
      `(an image-level split lets a patient's eyes straddle train and test). Train a '${protocol}' model instead.`);
  }
  const ev = { ...run.runConfig.eval, ...o.settings };
  if (foreign && ev.split === 'train') throw new Error("eval: eval.split 'train' evaluates the training run's own training split; it cannot apply to another dataset");
  // A fused gallery needs the record's embedding: a model without a record tower (CLIP) keeps the image gallery.
  const fusable = run.model.capabilities.modalities.includes('tabular') && run.pre.tabular !== null;
  return {
    protocol, foreign, source: foreign ? resolve(o.data as string) : run.datasetPath,
    // In-domain, the notes are written exactly as in training (a run may set note options apart from its protocol).
    pre: foreign ? { ...run.pre, notes: notesFor(run.pre, protocol) } : run.pre,
    split: ev.split, gallery: ev.gallery === 'fused' && fusable ? 'fused' : 'image', gallerySize: ev.gallerySize,
  };
}

/** Note options implied by an evaluation protocol (the model's own tokenizer etc. are kept). */
function notesFor(pre: Preprocessing, protocol: Protocol): Preprocessing['notes'] {
  return protocol === 'paper'
    ? { ...pre.notes, includeGrade: true, templateHoldout: false }
    : { ...pre.notes, includeGrade: false, templateHoldout: true };
}

/**
 * A dataset prepared with the run's preprocessing and, unless every record is a test item, the
 * run's own split.json, which must exist: a new split could put training images in the test set.
 */
function prepareWithRun(run: LoadedRun, pre: Preprocessing, o: Omit<PrepareOptions, 'pre' | 'split'> & { log: (m: string) => void }): Promise<PreparedData> {
  return prepareData(run.runConfig, run.runDir, { ...o, pre, split: { path: run.splitFile, create: false } });
}

/**
 * The evaluated data. Images are decoded for the test split, the validation split (calibration)
 * and, when grading needs a linear probe, the training split it is fitted on.
 */
function prepareEvalData(run: LoadedRun, scope: EvalScope, log: (m: string) => void): Promise<PreparedData> {
  const imageSplits: PrepareOptions['imageSplits'] = scope.foreign ? ['test']
    : run.model.capabilities.gradeHeads && scope.split === 'test' ? ['val', 'test'] : ['train', 'val', 'test'];
  return prepareWithRun(run, scope.pre, { log, source: scope.source, allTest: scope.foreign, imageSplits });
}

function itemsOf(data: PreparedData, ids: readonly string[]): PreparedItem[] {
  return ids.map((id) => data.items.get(id) as PreparedItem);
}

/** Collate options for this data; moves the model to the run's device when it is available. */
function predictOptions(run: LoadedRun, data: PreparedData): CollateOptions {
  const train = run.runConfig.train;
  const device: Device = train.device.startsWith('cuda') && cudaIsAvailable() ? train.device : 'cpu';
  if (device !== 'cpu') run.model.to(device);
  return { imageSize: run.modelConfig.image.imageSize, maxTokens: run.pre.maxTokens, tabularDim: data.featurizer?.dim ?? 0, device };
}

/**
 * Grades for a model without grade heads: a linear probe on frozen image embeddings of the TRAINING
 * split (for an external set, the training run's own data and split are prepared again for this).
 * Undefined when there is nothing to grade (no image embeddings, no known grade in the test set).
 */
async function probeGrades(run: LoadedRun, scope: EvalScope, data: PreparedData, main: Predictions, test: PreparedItem[],
  co: CollateOptions, log: (m: string) => void): Promise<ProbeGrades | undefined> {
  const testEmb = main.imageEmb;
  if (testEmb === null || !test.some((t) => t.icdr >= 0)) return undefined;
  const trainData = scope.foreign ? await prepareWithRun(run, scope.pre, { log, source: run.datasetPath, imageSplits: ['train'] }) : data;
  const train = itemsOf(trainData, trainData.ids.train);
  const tp = await predict(run.model, train, { ...co, tabularDim: trainData.featurizer?.dim ?? 0 });
  const trainEmb = tp.imageEmb;
  if (trainEmb === null) return undefined;
  const fit = (k: 'icdr' | 'sdrg'): Float32Array =>
    fitLinearProbe(trainEmb, Int32Array.from(train, (t) => t[k]), tp.dim, NUM_GRADES, { seed: run.runConfig.eval.seed }).predictProbs(testEmb);
  return { icdr: fit('icdr'), sdrg: fit('sdrg') };
}

/** The test set graded with subsets of the inputs (the modality ablation table); tabular ones only when the data has it. */
async function modalityAblations(model: RetalignModel, test: PreparedItem[], recs: Map<string, ExamRecord>,
  co: CollateOptions, main: Predictions): Promise<Record<string, RawPredictions> | undefined> {
  const settings: [string, { image: boolean; text: boolean; tabular: boolean }][] = [
    ['image', { image: true, text: false, tabular: false }],
    ['image+tabular', { image: true, text: false, tabular: true }],
    ['image+text', { image: true, text: true, tabular: false }],
    ['all', { image: true, text: true, tabular: true }],
  ];
  const ablations: Record<string, RawPredictions> = {};
  for (const [name, use] of settings) {
    if (use.tabular && co.tabularDim === 0) continue;
    // Every input is what the main pass already presented: reuse it rather than run the towers again.
    const same = co.use === undefined && use.image && use.text && use.tabular;
    ablations[name] = rawOf(same ? main : await predict(model, test, { ...co, use }), test, recs);
  }
  return Object.keys(ablations).length > 0 ? ablations : undefined;
}

/** Predictions on the run's validation split: the logits the calibration block fits a temperature on. */
async function validationPredictions(model: RetalignModel, data: PreparedData, recs: Map<string, ExamRecord>,
  co: CollateOptions): Promise<RawPredictions | undefined> {
  if (data.ids.val.length === 0) return undefined;
  const v = itemsOf(data, data.ids.val);
  return rawOf(await predict(model, v, co), v, recs);
}

function rawOf(p: Predictions, items: PreparedItem[], recs: Map<string, ExamRecord>, probe?: ProbeGrades): RawPredictions {
  return {
    imageIds: items.map((i) => i.imageId),
    patientIds: items.map((i) => i.patientId),
    noteGroups: Int32Array.from(items, (i) => i.noteGroup),
    icdr: items.some((i) => i.icdr >= 0) ? Int32Array.from(items, (i) => i.icdr) : null, // 0..4 or UNKNOWN_GRADE, as prepared
    sdrg: items.some((i) => i.sdrg >= 0) ? Int32Array.from(items, (i) => i.sdrg) : null,
    imageEmb: p.imageEmb, textEmb: p.textEmb, tabEmb: p.tabEmb, dim: p.dim,
    icdrProbs: probe?.icdr ?? p.icdrProbs, sdrgProbs: probe?.sdrg ?? p.sdrgProbs,
    icdrLogits: probe ? null : p.icdrLogits, sdrgLogits: probe ? null : p.sdrgLogits,
    subgroups: items.map((i) => standardSubgroups(recs.get(i.imageId) as ExamRecord)),
  };
}

/** The header of metrics.json: which model, data, split, grading source and inputs. */
function evalMeta(run: LoadedRun, scope: EvalScope, data: PreparedData, tabularDim: number, o: { datasetName?: string; wallTimeS: number }): EvalMeta {
  const cfg = run.runConfig;
  const caps = run.model.capabilities;
  const trainFormat = existsSync(run.datasetPath) ? detectFormat(run.datasetPath).format : null;
  return {
    model: cfg.name, kind: cfg.model.kind, protocol: scope.protocol,
    dataset: o.datasetName ?? (scope.foreign ? scope.source
      : cfg.data.source === 'synth' ? `synthetic twin (${cfg.data.synth.prevalence}, ${cfg.data.synth.patients} patients)` : data.datasetName),
    split: scope.foreign ? 'all (external set)' : `${scope.split} (${cfg.split.mode}-level split)`,
    checkpoint: run.checkpointId, config: cfg.name, seed: cfg.train.seed, wallTimeS: o.wallTimeS,
    gradingSource: caps.gradeHeads ? 'heads' : 'linear probe',
    modalities: caps.modalities.filter((m) => m !== 'tabular' || tabularDim > 0).join('+'),
    // Zero-shot = another kind of data (e.g. DeepEyeNet for a BRSET-trained model); the same format
    // with unseen patients (e.g. the real-prevalence twin) is an external test set, not zero-shot.
    zeroShotFrom: scope.foreign && data.read.format !== trainFormat
      ? (cfg.data.source === 'synth' ? `synthetic twin (${cfg.data.synth.prevalence})` : run.datasetPath) : null,
  };
}
