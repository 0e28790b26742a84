/**
 * `retalign eval`: a checkpoint + a dataset -> metrics.json (an EvalResult).
 *
 * In-domain (the dataset the model was trained on): the test split of the training run, under the
 * protocol it was trained with. Foreign data (another twin, a DeepEyeNet-format set): every record
 * is a test item and retrieval is zero-shot (tabular absent where the data has none).
 *
 * @example
 *   const r = await runEval({ checkpoint: 'runs/demo-kemt-honest/best', out: 'runs/demo-kemt-honest/eval' });
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { setNumThreads, cudaIsAvailable, type Device } from '../tensor/index.js';
import { buildModel, type ModelConfig, type RetalignModel } from '../models/index.js';
import { readCheckpoint, loadWeights } from '../train/checkpoint.js';
import { evaluate } from '../eval/evaluate.js';
import { serializeEvalResult, type EvalResult, type RawPredictions } from '../eval/result.js';
import { standardSubgroups } from '../eval/metrics/subgroups.js';
import type { ExamRecord } from '../data/types.js';
import { TabularFeaturizer } from '../data/tabular.js';
import { Tokenizer } from '../data/tokenizer/tokenizer.js';
import { detectFormat } from '../data/readers/index.js';
import { resolveRunConfig, type Protocol, type RunConfig } from './config.js';
import { prepareData, type Preprocessing, type PreparedData } from './prepare.js';
import { predict, tensorScores, type Predictions } from './predict.js';
import { fitLinearProbe } from './probe.js';
import type { PreparedItem } from './collate.js';

export interface LoadedRun {
  model: RetalignModel;
  modelConfig: ModelConfig;
  runConfig: RunConfig;
  pre: Preprocessing;
  /** Content hash of the weights: identifies the model in indexes and reports. */
  checkpointId: string;
  checkpointDir: string;
  /** The training run's folder (parent of last/ and best/). */
  runDir: string;
  datasetPath: string;
}

/** Loads a checkpoint folder (…/last or …/best, or a run folder: its best, else last). */
export function loadRun(path: string): LoadedRun {
  let dir = resolve(path);
  if (!existsSync(join(dir, 'state.json'))) {
    const best = join(dir, 'best');
    const last = join(dir, 'last');
    if (existsSync(join(best, 'state.json'))) dir = best;
    else if (existsSync(join(last, 'state.json'))) dir = last;
    else throw new Error(`${path}: not a checkpoint (no state.json here, nor in best/ or last/)`);
  }
  const ck = readCheckpoint(dir);
  const ex = ck.state.extras as { runConfig?: RunConfig; modelConfig?: ModelConfig; preprocessing?: Preprocessing; datasetPath?: string };
  if (!ex.runConfig || !ex.modelConfig || !ex.preprocessing) {
    throw new Error(`${dir}/state.json: missing extras.runConfig/modelConfig/preprocessing: not a retalign training checkpoint`);
  }
  const runConfig = resolveRunConfig(ex.runConfig as unknown as Record<string, unknown>, [], `${dir}/state.json runConfig`);
  const pre = ex.preprocessing;
  const tabDim = pre.tabular === null ? 0 : TabularFeaturizer.fromJSON(pre.tabular).dim;
  const vocabSize = pre.tokenizer.vocab.length;
  const model = buildModel(ex.modelConfig, { vocabSize, tabularDim: Math.max(tabDim, 1), specialIds: Tokenizer.fromJSON(pre.tokenizer) });
  loadWeights(model, ck.weights, dir);
  const checkpointId = createHash('sha256').update(readFileSync(join(dir, 'weights.safetensors'))).digest('hex').slice(0, 16);
  return { model, modelConfig: ex.modelConfig, runConfig, pre, checkpointId, checkpointDir: dir, runDir: dirname(dir), datasetPath: ex.datasetPath ?? '' };
}

/** Note options implied by an evaluation protocol (the model's own tokenizer etc. are kept). */
function notesFor(pre: Preprocessing, protocol: Protocol): Preprocessing['notes'] {
  return protocol === 'paper'
    ? { ...pre.notes, includeGrade: true, templateHoldout: false }
    : { ...pre.notes, includeGrade: false, templateHoldout: true };
}

function rawOf(p: Predictions, items: PreparedItem[], recs: Map<string, ExamRecord>, probe?: { icdr: Float32Array; sdrg: Float32Array }): RawPredictions {
  return {
    imageIds: items.map((i) => i.imageId),
    patientIds: items.map((i) => i.patientId),
    noteGroups: Int32Array.from(items, (i) => i.noteGroup),
    icdr: items.some((i) => i.icdr >= 0) ? Int32Array.from(items, (i) => (i.icdr >= 0 ? i.icdr : -1)) : null,
    sdrg: items.some((i) => i.sdrg >= 0) ? Int32Array.from(items, (i) => (i.sdrg >= 0 ? i.sdrg : -1)) : null,
    imageEmb: p.imageEmb, textEmb: p.textEmb, tabEmb: p.tabEmb, dim: p.dim,
    icdrProbs: probe?.icdr ?? p.icdrProbs, sdrgProbs: probe?.sdrg ?? p.sdrgProbs,
    icdrLogits: probe ? null : p.icdrLogits, sdrgLogits: probe ? null : p.sdrgLogits,
    subgroups: items.map((i) => standardSubgroups(recs.get(i.imageId) as ExamRecord)),
  };
}

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
}

export async function runEval(o: EvalRunOptions): Promise<{ result: EvalResult; out: string }> {
  const log = o.log ?? ((m: string) => console.log(m));
  const t0 = Date.now();
  const run = loadRun(o.checkpoint);
  setNumThreads(run.runConfig.train.threads > 0 ? run.runConfig.train.threads : 2);
  const protocol = o.protocol ?? run.runConfig.protocol;
  const trainedOn = run.datasetPath;
  const foreign = o.data !== undefined && resolve(o.data) !== resolve(trainedOn);
  if (!foreign && protocol !== run.runConfig.protocol) {
    throw new Error(`the model in ${run.checkpointDir} was trained under the '${run.runConfig.protocol}' protocol; ` +
      `evaluating it in-domain under '${protocol}' would reuse a split made for the other protocol ` +
      `(an image-level split lets a patient's eyes straddle train and test). Train a '${protocol}' model instead.`);
  }
  const cfg = run.runConfig;
  const pre: Preprocessing = { ...run.pre, notes: notesFor(run.pre, protocol) };
  const isClip = cfg.model.kind === 'clip';
  const data: PreparedData = await prepareData(
    { ...cfg, data: { ...cfg.data, splitFile: join(run.runDir, 'split.json') } },
    join(run.runDir, '..'),
    { log, pre, source: foreign ? resolve(o.data as string) : trainedOn, allTest: foreign,
      imageSplits: isClip && !foreign ? ['train', 'val', 'test'] : foreign ? ['test'] : ['val', 'test'] },
  );
  const recs = new Map(data.records.map((r) => [r.imageId, r]));
  const trainFormat = existsSync(trainedOn) ? detectFormat(trainedOn).format : null;
  const test = data.ids.test.map((id) => data.items.get(id) as PreparedItem);
  if (test.length === 0) throw new Error('no test items to evaluate');
  const S = run.modelConfig.image.imageSize;
  const tabularDim = data.featurizer?.dim ?? 0;
  const device = (cfg.train.device.startsWith('cuda') && cudaIsAvailable() ? cfg.train.device : 'cpu') as Device;
  if (device !== 'cpu') run.model.to(device);
  const co = { imageSize: S, maxTokens: pre.maxTokens, tabularDim, device };
  log(`evaluating ${run.model.name} (${run.checkpointId}) on ${test.length} test exams, ${protocol} protocol${foreign ? ', external data' : ''}`);
  const main = await predict(run.model, test, co);

  let probe: { icdr: Float32Array; sdrg: Float32Array } | undefined;
  if (isClip && main.imageEmb && test.some((t) => t.icdr >= 0)) {
    // CLIP has no grade heads: a linear probe on frozen image embeddings of the TRAINING split (for an
    // external set, the training run's own data and split are prepared again for this).
    const trainData = foreign
      ? await prepareData({ ...cfg, data: { ...cfg.data, splitFile: join(run.runDir, 'split.json') } }, join(run.runDir, '..'),
        { log, pre, source: trainedOn, imageSplits: ['train'] })
      : data;
    const train = trainData.ids.train.map((id) => trainData.items.get(id) as PreparedItem);
    const tp = await predict(run.model, train, { ...co, tabularDim: trainData.featurizer?.dim ?? 0 });
    if (tp.imageEmb) {
      const fit = (k: 'icdr' | 'sdrg'): Float32Array =>
        fitLinearProbe(tp.imageEmb as Float32Array, Int32Array.from(train, (t) => t[k]), tp.dim, 5, { seed: cfg.eval.seed })
          .predictProbs(main.imageEmb as Float32Array);
      probe = { icdr: fit('icdr'), sdrg: fit('sdrg') };
    }
  }
  const ablations: Record<string, RawPredictions> = {};
  if (!isClip && !foreign) {
    const settings: [string, { image: boolean; text: boolean; tabular: boolean }][] = [
      ['image', { image: true, text: false, tabular: false }],
      ['image+tabular', { image: true, text: false, tabular: true }],
      ['image+text', { image: true, text: true, tabular: false }],
      ['all', { image: true, text: true, tabular: true }],
    ];
    for (const [name, use] of settings) {
      if (use.tabular && tabularDim === 0) continue;
      ablations[name] = rawOf(await predict(run.model, test, { ...co, use }), test, recs);
    }
  }
  let val: RawPredictions | undefined;
  if (!isClip && !foreign && data.ids.val.length > 0) {
    const v = data.ids.val.map((id) => data.items.get(id) as PreparedItem);
    val = rawOf(await predict(run.model, v, co), v, recs);
  }
  const result = evaluate(
    { main: rawOf(main, test, recs, probe), ablations: Object.keys(ablations).length ? ablations : undefined, val },
    {
      model: cfg.name, kind: cfg.model.kind, protocol,
      dataset: o.datasetName ?? (foreign ? resolve(o.data as string)
        : cfg.data.source === 'synth' ? `synthetic twin (${cfg.data.synth.prevalence}, ${cfg.data.synth.patients} patients)` : data.datasetName),
      split: foreign ? 'all (external set)' : `test (${cfg.protocol === 'paper' ? 'image' : 'patient'}-level split)`,
      checkpoint: run.checkpointId, config: cfg.name, seed: cfg.train.seed, wallTimeS: (Date.now() - t0) / 1000,
      gradingSource: isClip ? 'linear probe' : 'heads',
      modalities: isClip ? 'image+text' : tabularDim > 0 ? 'image+text+tabular' : 'image+text',
      // Zero-shot = another kind of data (e.g. DeepEyeNet for a BRSET-trained model); the same format
      // with unseen patients (e.g. the real-prevalence twin) is an external test set, not zero-shot.
      zeroShotFrom: foreign && data.read.format !== trainFormat
        ? (run.runConfig.data.source === 'synth' ? `synthetic twin (${cfg.data.synth.prevalence})` : trainedOn) : null,
    },
    { bootstrap: o.bootstrap ?? cfg.eval.bootstrap, seed: cfg.eval.seed, ks: cfg.eval.ks, score: tensorScores },
  );
  const out = resolve(o.out ?? join(run.runDir, `eval-${protocol}${foreign ? '-foreign' : ''}`));
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'metrics.json'), serializeEvalResult(result));
  log(`wrote ${join(out, 'metrics.json')} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  return { result, out };
}
