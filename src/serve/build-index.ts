/**
 * `retalign index build`: a checkpoint + a dataset -> an EmbeddingIndex of every exam's image and
 * note embedding (the pre-fusion projections), with metadata (patientId, image path relative to
 * the data folder, note, grades, eye, split), plus serve.json: the data folder, the checkpoint and
 * the grade-head temperatures fitted on the training run's validation split.
 *
 * @example
 *   const r = await buildIndex({ checkpoint: 'runs/smoke/best', out: 'runs/smoke/index' });
 *   r.images // exams indexed; r.sidecar.calibration?.icdr.temperature
 */
import { existsSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, isAbsolute, sep } from 'node:path';
import { EmbeddingIndex, META_FILE, validateId, type NewItem } from '../index/index.js';
import { loadRun, predict, prepareData, type LoadedRun, type PreparedData, type PreparedItem } from '../run/index.js';
import { fitTemperature } from '../eval/metrics/calibration.js';
import { NUM_GRADES } from '../data/grades.js';
import { COLLAPSED_COSINE, MIN_CALIBRATION_EXAMS, writeSidecar, SIDECAR_FORMAT, type IndexSidecar, type TemperatureInfo } from './sidecar.js';

export interface BuildIndexOptions {
  /** Checkpoint folder (run/best, run/last) or a run folder. */
  checkpoint: string;
  /** Dataset to index (default: the one the model was trained on). */
  data?: string;
  /** Index folder to create (must not hold an index yet). */
  out: string;
  log?: (msg: string) => void;
  /** Exams per forward pass (default 64). */
  batchSize?: number;
  /** Fewest graded validation exams to fit temperatures on (default MIN_CALIBRATION_EXAMS); fewer: uncalibrated. */
  minCalibrationExams?: number;
}

export interface BuildIndexResult {
  out: string;
  images: number;
  notes: number;
  sidecar: IndexSidecar;
}

/** Items added per index transaction. */
const ADD_CHUNK = 1000;

/** Prepared data of the run's own dataset and split (in-domain) or of another dataset (all test). */
function prepare(run: LoadedRun, source: string, o: { foreign: boolean; imageSplits?: ('train' | 'val' | 'test')[]; log: (m: string) => void }): Promise<PreparedData> {
  const cfg = run.runConfig;
  return prepareData({ ...cfg, data: { ...cfg.data, splitFile: run.splitFile } }, join(run.runDir, '..'),
    { log: o.log, pre: run.pre, source, allTest: o.foreign, imageSplits: o.imageSplits });
}

type Calibration = { calibration: IndexSidecar['calibration']; skipped?: string };

/** Temperatures for both heads on the training run's validation exams, or why there are none. */
async function calibrate(run: LoadedRun, inDomain: PreparedData | null, co: { imageSize: number; maxTokens: number; tabularDim: number; batchSize: number },
  minExams: number, log: (m: string) => void): Promise<Calibration> {
  const skip = (why: string): Calibration => {
    log(`calibration: skipped (${why})`);
    return { calibration: null, skipped: why };
  };
  if (!run.model.capabilities.gradeHeads) return skip('the model has no grade heads');
  let data = inDomain;
  if (data === null) {
    if (!existsSync(run.datasetPath)) return skip(`the training dataset ${run.datasetPath} is gone; grades will be uncalibrated`);
    data = await prepare(run, run.datasetPath, { foreign: false, imageSplits: ['val'], log });
  }
  const val = data.ids.val.map((id) => data.items.get(id) as PreparedItem).filter((it) => it.image !== null);
  if (val.length === 0) return skip('the run has no validation exams; grades will be uncalibrated');
  const graded = Math.min(...(['icdr', 'sdrg'] as const).map((k) => val.filter((it) => it[k] >= 0).length));
  if (graded < minExams) {
    return skip(`${graded} graded validation exams; at least ${minExams} are needed for a temperature fit, so grades will be uncalibrated`);
  }
  const p = await predict(run.model, val, co);
  const fit = (k: 'icdr' | 'sdrg', logits: Float32Array | null): TemperatureInfo | null => {
    if (logits === null) return null;
    const rows = val.map((it, i) => [it[k], i] as const).filter(([y]) => y >= 0);
    if (rows.length === 0) return null;
    const K = NUM_GRADES;
    const l = new Float32Array(rows.length * K); // (n, K) logits of the graded exams
    rows.forEach(([, i], j) => l.set(logits.subarray(i * K, i * K + K), j * K));
    const f = fitTemperature(l, rows.map(([y]) => y), K);
    return { temperature: f.temperature, nllBefore: f.nllBefore, nllAfter: f.nllAfter, n: rows.length };
  };
  const icdr = fit('icdr', p.icdrLogits);
  const sdrg = fit('sdrg', p.sdrgLogits);
  if (icdr === null || sdrg === null) return skip('the validation exams have no grades');
  log(`calibration on ${val.length} validation exams: ICDR T=${icdr.temperature.toFixed(3)} (NLL ${icdr.nllBefore.toFixed(3)} -> ${icdr.nllAfter.toFixed(3)}), ` +
    `SDRG T=${sdrg.temperature.toFixed(3)} (NLL ${sdrg.nllBefore.toFixed(3)} -> ${sdrg.nllAfter.toFixed(3)})`);
  return { calibration: { icdr, sdrg, split: 'val', minExams } };
}

/** Builds the index; see the module comment. */
/**
 * Mean cosine over all pairs i != j of n unit rows of width d: (n^2 |mean|^2 - n) / (n (n - 1)), from
 * the mean vector in O(n d). 1 = every row the same; about 0 for unrelated directions. NaN when n < 2.
 * @example meanPairwiseCosine(Float32Array.from([1, 0, 0, 1]), 2, 2) // 0
 */
export function meanPairwiseCosine(rows: Float32Array, n: number, d: number): number {
  if (n < 2) return Number.NaN;
  const mean = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let k = 0; k < d; k++) mean[k] = (mean[k] as number) + (rows[i * d + k] as number);
  let sq = 0;
  for (let k = 0; k < d; k++) sq += ((mean[k] as number) / n) ** 2;
  return (n * n * sq - n) / (n * (n - 1));
}

export async function buildIndex(o: BuildIndexOptions): Promise<BuildIndexResult> {
  const log = o.log ?? ((m: string) => console.log(m));
  const out = resolve(o.out);
  if (existsSync(join(out, META_FILE))) {
    throw new Error(`${out} already holds an index (${META_FILE}); choose an empty folder, or delete it to rebuild`);
  }
  const t0 = Date.now();
  const run = loadRun(o.checkpoint);
  const trainedOn = run.datasetPath;
  const source = o.data === undefined ? trainedOn : resolve(o.data);
  if (source === '' || !existsSync(source)) {
    throw new Error(o.data === undefined
      ? `the checkpoint does not name an existing dataset (${JSON.stringify(trainedOn)}); pass --data DIR`
      : `--data ${o.data}: not found`);
  }
  const foreign = resolve(source) !== resolve(trainedOn);
  const data = await prepare(run, source, { foreign, log });
  const dataRoot = statSync(data.datasetPath).isDirectory() ? data.datasetPath : dirname(data.datasetPath);

  const items: PreparedItem[] = [];
  let unsafe = 0;
  for (const r of data.records) {
    const it = data.items.get(r.imageId);
    if (it === undefined || it.image === null) continue;
    try {
      validateId(r.imageId, 'index build');
      items.push(it);
    } catch {
      unsafe++;
    }
  }
  if (unsafe > 0) log(`${unsafe} exams skipped: their imageId is not a safe id ([A-Za-z0-9._-], not starting with '.' or '-')`);
  if (items.length === 0) throw new Error(`no exam of ${data.datasetPath} could be indexed`);

  const co = { imageSize: run.pre.image.size, maxTokens: run.pre.maxTokens, tabularDim: data.featurizer?.dim ?? 0, batchSize: o.batchSize ?? 64 };
  log(`embedding ${items.length} images and notes with ${run.model.name} (${run.checkpointId})`);
  const p = await predict(run.model, items, { ...co, use: { image: true, text: true, tabular: false } });
  if (p.imageEmb === null || p.textEmb === null) throw new Error('the model returned no image or text embeddings');

  const recOf = new Map(data.records.map((r) => [r.imageId, r]));
  const index = EmbeddingIndex.create(out, { checkpointId: run.checkpointId, modelName: `${run.runConfig.name}/${run.model.name}`, dim: p.dim, embeddingSpace: 'projection-pre-fusion' });
  let withoutImagePath = 0;
  try {
    for (let s = 0; s < items.length; s += ADD_CHUNK) {
      const batch: NewItem[] = [];
      items.slice(s, s + ADD_CHUNK).forEach((it, j) => {
        const i = s + j;
        const r = recOf.get(it.imageId);
        const rel = r === undefined ? null : relative(dataRoot, r.imagePath);
        const imagePath = rel === null || rel === '' || isAbsolute(rel) || rel === '..' || rel.startsWith(`..${sep}`) ? null : rel.split(sep).join('/');
        if (imagePath === null) withoutImagePath++;
        const meta = {
          patientId: it.patientId, note: data.notes.get(it.imageId) ?? null,
          icdr: it.icdr >= 0 ? it.icdr : null, sdrg: it.sdrg >= 0 ? it.sdrg : null,
          extras: { eye: r?.eye ?? 'unknown', split: data.splitOf.get(it.imageId) ?? 'test' },
        };
        batch.push({ id: it.imageId, kind: 'image', vector: (p.imageEmb as Float32Array).subarray(i * p.dim, (i + 1) * p.dim), meta: { ...meta, imagePath } });
        batch.push({ id: it.imageId, kind: 'note', vector: (p.textEmb as Float32Array).subarray(i * p.dim, (i + 1) * p.dim), meta });
      });
      index.add(batch);
    }
  } finally {
    index.close();
  }
  if (withoutImagePath > 0) log(`${withoutImagePath} images lie outside ${dataRoot}: indexed without an image path (the server shows no photo for them)`);

  const spread = { image: meanPairwiseCosine(p.imageEmb, items.length, p.dim), note: meanPairwiseCosine(p.textEmb, items.length, p.dim) };
  for (const [kind, c] of Object.entries(spread)) {
    if (c > COLLAPSED_COSINE) {
      log(`warning: the ${kind} embeddings are nearly identical (mean pairwise cosine ${c.toFixed(4)}): this model barely tells ` +
        `${kind}s apart, so ${kind === 'image' ? 'similar-case and image search' : 'text search'} rankings are close to arbitrary (train longer)`);
    }
  }
  const minExams = o.minCalibrationExams ?? MIN_CALIBRATION_EXAMS;
  if (!Number.isInteger(minExams) || minExams < 1) throw new Error(`buildIndex: minCalibrationExams is ${minExams}; expected a positive integer`);
  const { calibration, skipped } = await calibrate(run, foreign ? null : data, co, minExams, log);
  const sidecar: IndexSidecar = {
    format: SIDECAR_FORMAT,
    checkpointId: run.checkpointId,
    checkpointDir: run.checkpointDir,
    dataPath: dataRoot,
    datasetName: data.datasetName,
    createdAt: new Date().toISOString(),
    counts: { images: items.length, notes: items.length, withoutImagePath },
    meanPairwiseCosine: spread,
    calibration,
    ...(skipped === undefined ? {} : { calibrationSkipped: skipped }),
  };
  writeSidecar(out, sidecar);
  log(`indexed ${items.length} images and ${items.length} notes into ${out} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  return { out, images: items.length, notes: items.length, sidecar };
}
