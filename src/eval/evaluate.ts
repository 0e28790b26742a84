/**
 * Raw predictions of a model run -> one EvalResult (metrics.json): retrieval for every available
 * modality pair (strict and duplicate-aware, patient-bootstrap CIs), ICDR/SDRG grading with the
 * majority-class baseline, referable DR, calibration before/after a validation-fitted temperature,
 * subgroup gaps, a modality ablation, and a 2-D map of a sample of image embeddings.
 * Pure and deterministic per seed: no clock, no Math.random (machine info comes from node:os).
 */
import { cpus, platform, arch } from 'node:os';
import { Rng } from '../data/rng.js';
import { NUM_GRADES, UNKNOWN_GRADE } from '../data/grades.js';
import { bootstrapCI, type BootstrapCI } from './metrics/bootstrap.js';
import { calibrationFromProbs, fitTemperature, softmaxRows } from './metrics/calibration.js';
import {
  accuracyFromConfusion, argmaxRows, confusionMatrix, gradingMetrics, macroF1FromConfusion, quadraticWeightedKappaFromConfusion,
} from './metrics/grading.js';
import { binaryAtThreshold, referableMetrics, referableProbability, rocAuc, type RocPoint } from './metrics/referable.js';
import { gradeOnlyRecall, retrievalMetrics, summarizeRanks, type ScoreFn } from './metrics/retrieval.js';
import { embeddingSpread } from './metrics/spread.js';
import { subgroupReport } from './metrics/subgroups.js';
import { embed2d } from './charts/embed2d.js';
import {
  EVAL_RESULT_VERSION, toJsonNative,
  type AblationRow, type CalibrationBlock, type Embedding2D, type EvalMeta, type EvalResult, type GradingBlock,
  type RawPredictions, type ReferableBlock, type RetrievalBlock, type RetrievalPair, type StoredCI, type ValidationLogits,
} from './result.js';

const K = NUM_GRADES; // ICDR and SDRG are both 0..4

/** Options of {@link evaluate}. */
export interface EvaluateOptions {
  /** Bootstrap resamples (over patients) per confidence interval. */
  bootstrap: number;
  /** Seed of every bootstrap draw and of the embedding-map sample. */
  seed: number;
  /** Recall@K cut-offs. */
  ks: number[];
  /** Subgroups smaller than this are not scored. Default 30. */
  subgroupMinSize?: number;
  /** Image embeddings projected for the embedding map (0 = none). Default 400. */
  embedSample?: number;
  /** Reliability bins. Default 15. */
  calibrationBins?: number;
  /** Retrieval scorer (e.g. the tensor engine's matmul); default plain dot products. */
  score?: ScoreFn;
  /**
   * What the text -> image pair searches: 'image' (default: the photo's embedding) or 'fused' (the
   * normalized mean of the photo's and the record's embeddings: the gallery has seen the record that
   * the note restates, a leakage the report names). 'fused' needs tabEmb.
   */
  gallery?: 'image' | 'fused';
  /**
   * Galleries of this many items (the items shuffled with `seed`, cut into consecutive galleries,
   * the last one possibly smaller; each query ranked within its own); null/undefined = one gallery
   * of all items.
   */
  gallerySize?: number | null;
}

/** What {@link evaluate} takes: the main predictions, optional other modality settings, validation logits. */
export interface EvaluateInput {
  main: RawPredictions;
  /** Same test set under other inference modality settings, keyed by setting name ('image', 'image+text', ...). */
  ablations?: Record<string, RawPredictions>;
  val?: ValidationLogits;
}

/**
 * Computes every metric of one model on one test set.
 *
 * @example
 *   const r = evaluate({ main, ablations: { image: imgOnly }, val }, { model: 'retalign', kind: 'kemt',
 *     protocol: 'honest', dataset: 'synth', split: 'test', checkpoint: 'runs/a/best', config: 'honest',
 *     seed: 1, wallTimeS: 812 }, { bootstrap: 1000, seed: 1, ks: [1, 5, 10] });
 *   writeFileSync('runs/a/metrics.json', serializeEvalResult(r));
 */
export function evaluate(preds: EvaluateInput, meta: EvalMeta, opts: EvaluateOptions): EvalResult {
  const p = preds.main;
  checkPredictions(p, 'main');
  if (!Number.isInteger(opts.bootstrap) || opts.bootstrap < 1) throw new Error(`evaluate: bootstrap=${opts.bootstrap}, expected a positive integer`);
  const n = p.imageIds.length;
  const source = meta.gradingSource ?? 'heads';
  const bs = { iterations: opts.bootstrap, seed: opts.seed };
  const icdrProbs = probsOf(p.icdrProbs, p.icdrLogits);
  const sdrgProbs = probsOf(p.sdrgProbs, p.sdrgLogits);
  const retrieval = retrievalBlocks(p, opts);
  const t2i = retrieval.find((b) => b.block.pair === 'text->image');

  const ablation: AblationRow[] = [];
  const ablations = Object.entries(preds.ablations ?? {});
  if (ablations.length > 0) {
    ablation.push(ablationRow(meta.modalities ?? 'image+text+tabular', p, bs));
    for (const [name, a] of ablations) {
      checkPredictions(a, `ablations['${name}']`);
      a.imageIds.forEach((id, i) => {
        if (id !== p.imageIds[i]) throw new Error(`evaluate: ablations['${name}'].imageIds[${i}]='${id}' but main has '${p.imageIds[i]}' (expected the same test set in the same order)`);
      });
      ablation.push(ablationRow(name, a, bs));
    }
  }

  // Subgroup metrics on item indices; grading metrics use only items with a known grade.
  const idx = Array.from({ length: n }, (_, i) => i);
  const sgMetrics: Record<string, (s: number[]) => number> = {};
  if (p.icdr && icdrProbs) {
    const pred = argmaxRows(icdrProbs, K);
    const ref = referableProbability(icdrProbs, K);
    sgMetrics['icdrAccuracy'] = (s) => accuracyFromConfusion(confusionOn(p.icdr!, pred, s));
    sgMetrics['icdrKappa'] = (s) => quadraticWeightedKappaFromConfusion(confusionOn(p.icdr!, pred, s));
    sgMetrics['referableSensitivity'] = (s) => binaryOn(p.icdr!, ref, s, (l, sc) => binaryAtThreshold(l, sc).sensitivity);
    sgMetrics['referableAuc'] = (s) => binaryOn(p.icdr!, ref, s, rocAuc);
  }
  if (p.sdrg && sdrgProbs) {
    const pred = argmaxRows(sdrgProbs, K);
    sgMetrics['sdrgAccuracy'] = (s) => accuracyFromConfusion(confusionOn(p.sdrg!, pred, s));
  }
  if (t2i) {
    sgMetrics['t2iR1Strict'] = (s) => recallOn(t2i.strictRanks, s, 1);
    sgMetrics['t2iR1DuplicateAware'] = (s) => recallOn(t2i.dupRanks, s, 1);
  }
  const subgroupMinSize = opts.subgroupMinSize ?? 30;
  const subgroups = Object.keys(sgMetrics).length === 0 ? [] : subgroupReport(idx, {
    sex: (i) => p.subgroups[i]!.sex,
    ageBand: (i) => p.subgroups[i]!.ageBand,
    camera: (i) => p.subgroups[i]!.camera,
  }, sgMetrics, { minSize: subgroupMinSize });

  const cpu = cpus();
  const result: EvalResult = {
    version: EVAL_RESULT_VERSION,
    model: meta.model,
    kind: meta.kind,
    protocol: meta.protocol,
    dataset: meta.dataset,
    split: meta.split,
    n,
    nPatients: new Set(p.patientIds).size,
    modalities: meta.modalities ?? 'image+text+tabular',
    zeroShot: meta.zeroShotFrom ? { trainedOn: meta.zeroShotFrom } : null,
    options: { bootstrap: opts.bootstrap, seed: opts.seed, ks: [...opts.ks], subgroupMinSize },
    run: {
      checkpoint: meta.checkpoint, config: meta.config, seed: meta.seed, wallTimeS: meta.wallTimeS,
      machine: { cpuModel: cpu[0]?.model.trim() ?? 'unknown', cpus: cpu.length, platform: `${platform()} ${arch()}`, node: process.version },
    },
    spread: {
      image: p.imageEmb ? embeddingSpread(p.imageEmb, p.dim) : null,
      text: p.textEmb ? embeddingSpread(p.textEmb, p.dim) : null,
      record: p.tabEmb ? embeddingSpread(p.tabEmb, p.dim) : null,
    },
    retrieval: retrieval.map((r) => r.block),
    grading: {
      icdr: p.icdr && icdrProbs ? gradingBlock('ICDR', p.icdr, icdrProbs, p.patientIds, source, bs) : null,
      sdrg: p.sdrg && sdrgProbs ? gradingBlock('SDRG', p.sdrg, sdrgProbs, p.patientIds, source, bs) : null,
    },
    referable: p.icdr && icdrProbs ? referableBlock(p.icdr, icdrProbs, p.patientIds, bs) : null,
    calibration: {
      icdr: calibrationBlock('ICDR', p.icdr, p.icdrProbs, p.icdrLogits, preds.val?.icdr ?? null, preds.val?.icdrLogits ?? null, opts.calibrationBins ?? 15),
      sdrg: calibrationBlock('SDRG', p.sdrg, p.sdrgProbs, p.sdrgLogits, preds.val?.sdrg ?? null, preds.val?.sdrgLogits ?? null, opts.calibrationBins ?? 15),
    },
    subgroups: toJsonNative(subgroups),
    ablation,
    embedding2d: embeddingMap(p, opts.embedSample ?? 400, opts.seed),
  };
  return toJsonNative(result) as EvalResult;
}

type BsOpts = { iterations: number; seed: number };

/** Probabilities from probs, else softmax(logits), else null. */
function probsOf(probs: Float32Array | null, logits: Float32Array | null): ArrayLike<number> | null {
  return probs ?? (logits ? softmaxRows(logits, K) : null);
}

function ci(x: BootstrapCI): StoredCI {
  return toJsonNative(x);
}

// ---------------------------------------------------------------- retrieval

const PAIRS: [RetrievalPair, 'imageEmb' | 'textEmb' | 'tabEmb', 'imageEmb' | 'textEmb' | 'tabEmb'][] = [
  ['text->image', 'textEmb', 'imageEmb'], ['image->text', 'imageEmb', 'textEmb'],
  ['image->tabular', 'imageEmb', 'tabEmb'], ['tabular->image', 'tabEmb', 'imageEmb'],
  ['text->tabular', 'textEmb', 'tabEmb'], ['tabular->text', 'tabEmb', 'textEmb'],
];

interface RetrievalOut { block: RetrievalBlock; strictRanks: Int32Array; dupRanks: Int32Array }

/**
 * Row i = normalize(a_i + b_i) over (n, dim) row-major matrices: the mean of two L2-normalized
 * embeddings, normalized again (a zero row stays zero).
 *
 * @example fusedRows(new Float32Array([1, 0]), new Float32Array([0, 1]), 2) // [0.7071, 0.7071]
 */
export function fusedRows(a: Float32Array, b: Float32Array, dim: number): Float32Array {
  if (a.length !== b.length) throw new Error(`fusedRows: the two embeddings have ${a.length} and ${b.length} values, expected the same (n x ${dim})`);
  const out = new Float32Array(a.length);
  for (let o = 0; o < a.length; o += dim) {
    let ss = 0;
    for (let k = 0; k < dim; k++) {
      const v = a[o + k]! + b[o + k]!;
      out[o + k] = v;
      ss += v * v;
    }
    const inv = ss > 0 ? 1 / Math.sqrt(ss) : 0;
    for (let k = 0; k < dim; k++) out[o + k] = out[o + k]! * inv;
  }
  return out;
}

/**
 * retrievalMetrics within each of `galleries` (galleriesOf: a partition of the n items); query i is ranked
 * within the gallery holding its paired item i. Ranks come back in item order.
 */
function retrievalInGalleries(input: { queries: Float32Array; gallery: Float32Array; dim: number; groups: Int32Array },
  galleries: readonly number[][], o: { ks: number[]; score?: ScoreFn }): { strictRanks: Int32Array; dupRanks: Int32Array } {
  const { dim: d, groups } = input;
  const n = groups.length;
  const strictRanks = new Int32Array(n);
  const dupRanks = new Int32Array(n);
  for (const idx of galleries) {
    const pick = (m: Float32Array): Float32Array => {
      const out = new Float32Array(idx.length * d);
      idx.forEach((i, j) => out.set(m.subarray(i * d, (i + 1) * d), j * d));
      return out;
    };
    const g = idx.map((i) => groups[i]!);
    const r = retrievalMetrics({ queries: pick(input.queries), gallery: pick(input.gallery), dim: d, target: idx.map((_, j) => j), queryGroups: g, galleryGroups: g },
      { ks: o.ks, ...(o.score ? { score: o.score } : {}) });
    idx.forEach((i, j) => {
      strictRanks[i] = r.strictRanks[j]!;
      dupRanks[i] = r.duplicateAwareRanks![j]!;
    });
  }
  return { strictRanks, dupRanks };
}

/** The galleries retrieval runs in: all n items as one (size null), else the n shuffled with `seed` and cut into `size`-item galleries. */
function galleriesOf(n: number, size: number | null, seed: number): number[][] {
  if (size === null) return [Array.from({ length: n }, (_, i) => i)];
  const order = new Rng(seed).shuffle(Array.from({ length: n }, (_, i) => i));
  const out: number[][] = [];
  for (let s = 0; s < n; s += size) out.push(order.slice(s, s + size));
  return out;
}

/**
 * Every pair whose two embeddings exist. Query i's paired gallery item is item i. Duplicate groups:
 * note text when the pair involves text (identical notes are indistinguishable), else the tabular
 * record (tabGroups, or bitwise-equal tabEmb rows). With opts.gallery 'fused' the text -> image pair
 * searches the fused image+record embeddings; with opts.gallerySize every pair is scored within
 * galleries of that size.
 */
function retrievalBlocks(p: RawPredictions, opts: EvaluateOptions): RetrievalOut[] {
  const n = p.imageIds.length;
  const target = Int32Array.from({ length: n }, (_, i) => i);
  let tab: { groups: Int32Array; label: RetrievalBlock['duplicateGroups'] } | null = null;
  const out: RetrievalOut[] = [];
  const fused = opts.gallery === 'fused';
  if (fused && (!p.imageEmb || !p.tabEmb)) {
    throw new Error(`evaluate: gallery 'fused' needs image and record embeddings, but ${!p.imageEmb ? 'imageEmb' : 'tabEmb'} is null ` +
      "(a model without a record tower, or data without records: use gallery 'image')");
  }
  const size = opts.gallerySize ?? null;
  if (size !== null && !(Number.isInteger(size) && size >= 2)) throw new Error(`evaluate: gallerySize=${size}, expected null or an integer >= 2`);
  const galleries = galleriesOf(n, size, opts.seed); // the same galleries for every pair and the grade-only reference
  const icdr = p.icdr;
  const gradeOnly = icdr !== null && icdr.some((g) => g >= 0)
    ? gradeOnlyRecall(icdr, galleries, opts.ks) : null;
  for (const [pair, qKey, gKey] of PAIRS) {
    const q = p[qKey];
    const fusedHere = fused && pair === 'text->image';
    const g = fusedHere ? fusedRows(p.imageEmb!, p.tabEmb!, p.dim) : p[gKey];
    if (!q || !g) continue;
    let groups: Int32Array = p.noteGroups;
    let label: RetrievalBlock['duplicateGroups'] = 'note text';
    if (qKey !== 'textEmb' && gKey !== 'textEmb') {
      tab ??= p.tabGroups ? { groups: p.tabGroups, label: 'tabular record' } : { groups: rowGroups(p.tabEmb!, p.dim), label: 'tabular embedding (bitwise equal)' };
      groups = tab.groups;
      label = tab.label;
    }
    const r = size === null
      ? retrievalMetrics(
        { queries: q, gallery: g, dim: p.dim, target, queryGroups: groups, galleryGroups: groups },
        { ks: opts.ks, ...(opts.score ? { score: opts.score } : {}) },
      )
      : (() => {
        const c = retrievalInGalleries({ queries: q, gallery: g, dim: p.dim, groups }, galleries, { ks: opts.ks, score: opts.score });
        const galleryN = Math.min(size, n);
        return { strictRanks: c.strictRanks, strict: summarizeRanks(c.strictRanks, opts.ks, 'strict', galleryN),
          duplicateAwareRanks: c.dupRanks, duplicateAware: summarizeRanks(c.dupRanks, opts.ks, 'duplicate-aware', galleryN) };
      })();
    const dupRanks = r.duplicateAwareRanks as Int32Array;
    const ciOf = (ranks: Int32Array): Record<string, StoredCI> => Object.fromEntries(opts.ks.map((k) => [String(k),
      ci(bootstrapCI(Array.from(ranks), p.patientIds, (s) => recallOfRanks(s, k), { iterations: opts.bootstrap, seed: opts.seed }))]));
    out.push({
      block: {
        pair,
        duplicateGroups: label,
        ...(fusedHere ? { gallery: 'fused' as const } : {}),
        ...(size !== null ? { gallerySize: size } : {}),
        strict: toJsonNative(r.strict),
        duplicateAware: toJsonNative(r.duplicateAware!),
        ...(gradeOnly !== null ? { gradeOnly } : {}),
        ci: { strict: ciOf(r.strictRanks), duplicateAware: ciOf(dupRanks) },
      },
      strictRanks: r.strictRanks,
      dupRanks,
    });
  }
  return out;
}

/** Group ids of bitwise-equal rows of an (n, dim) matrix (first-appearance order). */
function rowGroups(m: Float32Array, dim: number): Int32Array {
  const n = m.length / dim;
  const ids = new Map<string, number>();
  const out = new Int32Array(n);
  const bytes = new Uint8Array(m.buffer, m.byteOffset, m.byteLength);
  for (let i = 0; i < n; i++) {
    const key = Buffer.from(bytes.subarray(i * dim * 4, (i + 1) * dim * 4)).toString('base64');
    let id = ids.get(key);
    if (id === undefined) { id = ids.size; ids.set(key, id); }
    out[i] = id;
  }
  return out;
}

function recallOfRanks(ranks: readonly number[], k: number): number {
  if (ranks.length === 0) return NaN;
  let hit = 0;
  for (const r of ranks) if (r <= k) hit++;
  return hit / ranks.length;
}

function recallOn(ranks: Int32Array, s: readonly number[], k: number): number {
  return recallOfRanks(s.map((i) => ranks[i]!), k);
}

// ---------------------------------------------------------------- grading, referable, calibration

/** Indices with a known grade (>= 0). */
function known(truth: Int32Array, s?: readonly number[]): number[] {
  const src = s ?? Array.from({ length: truth.length }, (_, i) => i);
  return src.filter((i) => truth[i]! >= 0);
}

function confusionOn(truth: Int32Array, pred: Int32Array, s: readonly number[]): number[][] {
  const ks = known(truth, s);
  return confusionMatrix(ks.map((i) => truth[i]!), ks.map((i) => pred[i]!), K);
}

/** A binary metric of referable DR (ICDR >= 2) on the known-grade items of a sample. */
function binaryOn(truth: Int32Array, score: Float64Array, s: readonly number[], fn: (l: boolean[], sc: number[]) => number): number {
  const ks = known(truth, s);
  return ks.length === 0 ? NaN : fn(ks.map((i) => truth[i]! >= 2), ks.map((i) => score[i]!));
}

function gradingBlock(scale: 'ICDR' | 'SDRG', truth: Int32Array, probs: ArrayLike<number>, patients: string[], source: GradingBlock['source'], bs: BsOpts): GradingBlock {
  const pred = argmaxRows(probs, K);
  const ks = known(truth);
  const report = gradingMetrics(ks.map((i) => truth[i]!), ks.map((i) => pred[i]!), K);
  const pids = ks.map((i) => patients[i]!);
  const on = (f: (m: number[][]) => number): StoredCI => ci(bootstrapCI(ks, pids, (s) => f(confusionMatrix(s.map((i) => truth[i]!), s.map((i) => pred[i]!), K)), bs));
  return {
    scale,
    source,
    n: ks.length,
    report: toJsonNative(report),
    ci: { accuracy: on(accuracyFromConfusion), kappa: on(quadraticWeightedKappaFromConfusion), macroF1: on(macroF1FromConfusion) },
  };
}

function referableBlock(truth: Int32Array, probs: ArrayLike<number>, patients: string[], bs: BsOpts): ReferableBlock {
  const score = referableProbability(probs, K);
  const ks = known(truth);
  const report = referableMetrics(ks.map((i) => truth[i]!), ks.flatMap((i) => Array.from({ length: K }, (_, c) => probs[i * K + c]!)));
  const pids = ks.map((i) => patients[i]!);
  const on = (fn: (l: boolean[], sc: number[]) => number): StoredCI => ci(bootstrapCI(ks, pids, (s) => binaryOn(truth, score, s, fn), bs));
  return {
    report: toJsonNative({ ...report, roc: thinRoc(report.roc, 201) }),
    ci: {
      sensitivity: on((l, sc) => binaryAtThreshold(l, sc).sensitivity),
      specificity: on((l, sc) => binaryAtThreshold(l, sc).specificity),
      auc: on(rocAuc),
    },
  };
}

/** At most `max` ROC points, evenly spaced by index, always keeping the first and the last. */
function thinRoc(pts: RocPoint[], max: number): RocPoint[] {
  if (pts.length <= max) return pts;
  return Array.from({ length: max }, (_, j) => pts[Math.round((j * (pts.length - 1)) / (max - 1))]!);
}

function calibrationBlock(
  scale: 'ICDR' | 'SDRG', truth: Int32Array | null, probs: Float32Array | null, logits: Float32Array | null,
  valTruth: Int32Array | null, valLogits: Float32Array | null, nBins: number,
): CalibrationBlock | null {
  const pr = probsOf(probs, logits);
  if (!truth || !pr) return null;
  const ks = known(truth);
  if (ks.length === 0) return null;
  const rows = (m: ArrayLike<number>, idx: number[]): number[] => idx.flatMap((i) => Array.from({ length: K }, (_, c) => m[i * K + c]!));
  const y = ks.map((i) => truth[i]!);
  const before = calibrationFromProbs(rows(pr, ks), y, K, nBins);
  let after: CalibrationBlock['after'] = null;
  if (logits && valTruth && valLogits) {
    if (valLogits.length !== valTruth.length * K) throw new Error(`evaluate: val.${scale.toLowerCase()}Logits has ${valLogits.length} values, expected ${valTruth.length} x ${K}`);
    const vk = known(valTruth);
    if (vk.length > 0) {
      const fit = fitTemperature(rows(valLogits, vk), vk.map((i) => valTruth[i]!), K);
      const c = calibrationFromProbs(softmaxRows(rows(logits, ks), K, fit.temperature), y, K, nBins);
      after = { temperature: fit.temperature, valNllBefore: fit.nllBefore, valNllAfter: fit.nllAfter, ece: c.ece, bins: toJsonNative(c.bins) };
    }
  }
  return { scale, nBins, before: { ece: before.ece, bins: toJsonNative(before.bins) }, after };
}

// ---------------------------------------------------------------- ablation, embedding map

function ablationRow(setting: string, p: RawPredictions, bs: BsOpts): AblationRow {
  const scores = (truth: Int32Array | null, probs: ArrayLike<number> | null): { accuracy: number; kappa: number; macroF1: number } | null => {
    if (!truth || !probs) return null;
    const m = confusionOn(truth, argmaxRows(probs, K), Array.from({ length: truth.length }, (_, i) => i));
    return { accuracy: accuracyFromConfusion(m), kappa: quadraticWeightedKappaFromConfusion(m), macroF1: macroF1FromConfusion(m) };
  };
  const icdrProbs = probsOf(p.icdrProbs, p.icdrLogits);
  const all = Array.from({ length: p.imageIds.length }, (_, i) => i);
  let icdrKappaCI: StoredCI | null = null;
  let referableAuc = NaN;
  if (p.icdr && icdrProbs) {
    const pred = argmaxRows(icdrProbs, K);
    const ks = known(p.icdr);
    icdrKappaCI = ci(bootstrapCI(ks, ks.map((i) => p.patientIds[i]!), (s) => quadraticWeightedKappaFromConfusion(confusionOn(p.icdr!, pred, s)), bs));
    referableAuc = binaryOn(p.icdr, referableProbability(icdrProbs, K), all, rocAuc);
  }
  return toJsonNative({ setting, icdr: scores(p.icdr, icdrProbs), sdrg: scores(p.sdrg, probsOf(p.sdrgProbs, p.sdrgLogits)), referableAuc, icdrKappaCI });
}

/** Up to `max` image embeddings (a seeded random sample, kept in test-set order) projected to 2-D. */
function embeddingMap(p: RawPredictions, max: number, seed: number): Embedding2D | null {
  if (!p.imageEmb || max <= 0) return null;
  const n = p.imageIds.length;
  const pick = new Rng(seed).shuffle(Array.from({ length: n }, (_, i) => i)).slice(0, Math.min(max, n)).sort((a, b) => a - b);
  const vecs = new Float32Array(pick.length * p.dim);
  pick.forEach((i, j) => vecs.set(p.imageEmb!.subarray(i * p.dim, (i + 1) * p.dim), j * p.dim));
  const minUmapPoints = 15; // embed2d's default: PCA below
  const grade = (t: Int32Array | null, i: number): number | null => (t && t[i]! >= 0 ? t[i]! : null);
  return {
    method: pick.length < minUmapPoints ? 'pca' : 'umap',
    imageIds: pick.map((i) => p.imageIds[i]!),
    points: Array.from(embed2d(vecs, p.dim, seed, { minUmapPoints }), (v) => v + 0),
    icdr: pick.map((i) => grade(p.icdr, i)),
    sdrg: pick.map((i) => grade(p.sdrg, i)),
  };
}

// ---------------------------------------------------------------- validation

/**
 * Checks lengths and value ranges of one RawPredictions; errors name the field and the expectation.
 *
 * @example checkPredictions(preds, 'main') // throws "evaluate: main.icdr[3]=7 (image img3), expected a grade in 0..4 or -100 (UNKNOWN_GRADE)"
 */
export function checkPredictions(p: RawPredictions, where: string): void {
  const n = p.imageIds.length;
  const len = (name: string, got: number, want: number): void => {
    if (got !== want) throw new Error(`evaluate: ${where}.${name} has length ${got}, expected ${want} (n=${n}, dim=${p.dim})`);
  };
  if (n === 0) throw new Error(`evaluate: ${where} has no items`);
  len('patientIds', p.patientIds.length, n);
  len('noteGroups', p.noteGroups.length, n);
  len('subgroups', p.subgroups.length, n);
  if (p.tabGroups) len('tabGroups', p.tabGroups.length, n);
  const hasEmb = p.imageEmb || p.textEmb || p.tabEmb;
  if (hasEmb && !(Number.isInteger(p.dim) && p.dim > 0)) throw new Error(`evaluate: ${where}.dim=${p.dim}, expected a positive integer`);
  for (const k of ['imageEmb', 'textEmb', 'tabEmb'] as const) { const v = p[k]; if (v) len(k, v.length, n * p.dim); }
  for (const k of ['icdrProbs', 'sdrgProbs', 'icdrLogits', 'sdrgLogits'] as const) { const v = p[k]; if (v) len(k, v.length, n * K); }
  for (const k of ['icdr', 'sdrg'] as const) {
    const t = p[k];
    if (!t) continue;
    len(k, t.length, n);
    t.forEach((g, i) => {
      if (g !== UNKNOWN_GRADE && !(g >= 0 && g < K)) {
        throw new Error(`evaluate: ${where}.${k}[${i}]=${g} (image ${p.imageIds[i]}), expected a grade in 0..${K - 1} or ${UNKNOWN_GRADE} (UNKNOWN_GRADE)`);
      }
    });
  }
}
