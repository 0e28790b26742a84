/**
 * Evaluation data types. `RawPredictions` is what a model run yields on one test set under one
 * modality setting (tensor-free typed arrays); `EvalResult` is what `metrics.json` holds: plain,
 * versioned, JSON-native data (numbers that are undefined, e.g. kappa of a constant truth or AUC
 * without positives, are stored as null rather than NaN, so `JSON.parse(JSON.stringify(r))` deep-equals r).
 */
import type { BootstrapCI } from './metrics/bootstrap.js';
import type { ReliabilityBin } from './metrics/calibration.js';
import type { GradingReport } from './metrics/grading.js';
import type { ReferableReport } from './metrics/referable.js';
import type { RetrievalResult } from './metrics/retrieval.js';
import type { SubgroupResult } from './metrics/subgroups.js';

/** Bump when the EvalResult shape changes; {@link parseEvalResult} rejects other versions. */
export const EVAL_RESULT_VERSION = 1;

/** Subgroup attributes of one test item (see standardSubgroups in metrics/subgroups.ts). */
export interface SubgroupAttrs {
  sex: string;
  ageBand: string;
  camera: string;
}

/**
 * Raw outputs of one model on one test set under one inference modality setting. n items,
 * row-major (n, dim) embeddings, (n, 5) probabilities/logits. Absent modality or head -> null.
 */
export interface RawPredictions {
  imageIds: string[];
  patientIds: string[];
  /** Length n: same id = identical note text (duplicate-aware retrieval). */
  noteGroups: Int32Array;
  /**
   * Optional length n: same id = identical structured record (duplicate-aware retrieval against
   * the tabular modality). When absent, rows of tabEmb that are bitwise equal are grouped instead.
   */
  tabGroups?: Int32Array | null;
  /** True ICDR grade per item (0..4, or UNKNOWN_GRADE), or null when the set has no ICDR labels. */
  icdr: Int32Array | null;
  /** True SDRG grade per item (0..4, or UNKNOWN_GRADE), or null. */
  sdrg: Int32Array | null;
  /** (n, dim) L2-normalized per-modality embeddings, taken before fusion. */
  imageEmb: Float32Array | null;
  textEmb: Float32Array | null;
  tabEmb: Float32Array | null;
  dim: number;
  /** (n, 5) predicted probabilities (grade heads, or a linear probe for CLIP). */
  icdrProbs: Float32Array | null;
  sdrgProbs: Float32Array | null;
  /** (n, 5) logits before softmax, for temperature scaling; null when not available. */
  icdrLogits: Float32Array | null;
  sdrgLogits: Float32Array | null;
  /** Length n. */
  subgroups: SubgroupAttrs[];
}

/** Validation-set labels and logits used only to fit calibration temperatures. RawPredictions fits. */
export type ValidationLogits = Pick<RawPredictions, 'icdr' | 'sdrg' | 'icdrLogits' | 'sdrgLogits'>;

/** Replaces every `number` in T (deeply) by `number | null`: NaN/Infinity are stored as null. */
export type Nullable<T> = T extends number
  ? number | null
  : T extends readonly (infer U)[]
    ? Nullable<U>[]
    : T extends object
      ? { [K in keyof T]: Nullable<T[K]> }
      : T;

/** Bootstrap CI as stored (bounds null when no resample had a finite value). */
export type StoredCI = Nullable<BootstrapCI>;

/** Who is queried against whom. 'text->image' is the paper's headline. */
export type RetrievalPair = 'text->image' | 'image->text' | 'image->tabular' | 'tabular->image' | 'text->tabular' | 'tabular->text';

/** Retrieval in one direction, both protocols, always labelled. */
export interface RetrievalBlock {
  pair: RetrievalPair;
  /** What makes two items duplicates under 'duplicate-aware'. */
  duplicateGroups: 'note text' | 'tabular record' | 'tabular embedding (bitwise equal)';
  /**
   * Set only when the gallery is not the plain one: 'fused' = each gallery item embedded from its photo
   * and its record together (a leakage; the text -> image pair of a protocol-ladder rung). Absent = the
   * gallery modality's own embedding.
   */
  gallery?: 'fused';
  /** Set only when retrieval ran within galleries of this many items (absent = one gallery of all items). */
  gallerySize?: number;
  strict: Nullable<RetrievalResult>;
  duplicateAware: Nullable<RetrievalResult>;
  /**
   * Expected strict Recall@K (keyed by K) of a retriever that knows each item's true ICDR grade and
   * nothing else, in the same galleries (gradeOnlyRecall): the level retrieval by grade alone reaches.
   * Absent when the set has no ICDR labels (and in results written before it existed).
   */
  gradeOnly?: Record<string, number>;
  /** Patient-bootstrap CIs of Recall@K (queries resampled, the gallery fixed), keyed by K. */
  ci: { strict: Record<string, StoredCI>; duplicateAware: Record<string, StoredCI> };
}

/** Grading on one scale. */
export interface GradingBlock {
  scale: 'ICDR' | 'SDRG';
  /** 'heads' = the model's grade heads; 'linear probe' = CLIP baseline probe on frozen embeddings. */
  source: 'heads' | 'linear probe';
  /** Items with a known grade (UNKNOWN_GRADE ones are left out). */
  n: number;
  report: Nullable<GradingReport>;
  ci: { accuracy: StoredCI; kappa: StoredCI; macroF1: StoredCI };
}

/** Referable DR (ICDR >= 2) from P(grade >= 2). ROC points thinned to at most 201. */
export interface ReferableBlock {
  report: Nullable<ReferableReport>;
  ci: { sensitivity: StoredCI; specificity: StoredCI; auc: StoredCI };
}

/** Top-label calibration on one scale. */
export interface CalibrationBlock {
  scale: 'ICDR' | 'SDRG';
  nBins: number;
  before: { ece: number | null; bins: Nullable<ReliabilityBin>[] };
  /** Temperature fitted on validation logits, applied to test logits; null without both. */
  after: { temperature: number; valNllBefore: number | null; valNllAfter: number | null; ece: number | null; bins: Nullable<ReliabilityBin>[] } | null;
}

/** Grading under one inference modality setting (same test set). */
export interface AblationRow {
  setting: string;
  icdr: { accuracy: number | null; kappa: number | null; macroF1: number | null } | null;
  sdrg: { accuracy: number | null; kappa: number | null; macroF1: number | null } | null;
  referableAuc: number | null;
  /** Patient-bootstrap CI of ICDR kappa (null without ICDR). */
  icdrKappaCI: StoredCI | null;
}

/** A sample of image embeddings projected to 2-D for the embedding map. */
export interface Embedding2D {
  method: 'umap' | 'pca';
  imageIds: string[];
  /** (m, 2) row-major coordinates. */
  points: number[];
  icdr: (number | null)[];
  sdrg: (number | null)[];
}

/** Run metadata given by the caller (the CLI). */
export interface EvalMeta {
  /** Display name, e.g. 'retalign' or 'CLIP baseline'. */
  model: string;
  kind: 'kemt' | 'clip';
  protocol: 'paper' | 'honest';
  dataset: string;
  split: string;
  checkpoint: string | null;
  config: string | null;
  /** Training seed of the checkpoint. */
  seed: number | null;
  /** Wall time of the run that produced the predictions (seconds), if known. */
  wallTimeS: number | null;
  /** Grade probabilities come from the model's heads or from a linear probe (CLIP). Default 'heads'. */
  gradingSource?: 'heads' | 'linear probe';
  /** Name of the main prediction's modality setting. Default 'image+text+tabular'. */
  modalities?: string;
  /** Set for zero-shot evaluation: the dataset the model was trained on (e.g. 'BRSET'). */
  zeroShotFrom?: string | null;
}

/** metrics.json. */
export interface EvalResult {
  version: number;
  model: string;
  kind: 'kemt' | 'clip';
  protocol: 'paper' | 'honest';
  dataset: string;
  split: string;
  n: number;
  nPatients: number;
  /** Modality setting of the main predictions (retrieval, grading, calibration, subgroups). */
  modalities: string;
  /** Non-null for a zero-shot evaluation: where the model was trained. */
  zeroShot: { trainedOn: string } | null;
  options: { bootstrap: number; seed: number; ks: number[]; subgroupMinSize: number };
  run: {
    checkpoint: string | null;
    config: string | null;
    seed: number | null;
    wallTimeS: number | null;
    machine: { cpuModel: string; cpus: number; platform: string; node: string };
  };
  /**
   * embeddingSpread (1 - |mean row|) of each tower's test embeddings, null for an absent tower: 0 = every
   * exam the same vector (a collapsed tower; the report says so). Absent in results written before it existed.
   */
  spread?: { image: number | null; text: number | null; record: number | null };
  /** Available pairs; the 'text->image' block comes first when present. */
  retrieval: RetrievalBlock[];
  grading: { icdr: GradingBlock | null; sdrg: GradingBlock | null };
  referable: ReferableBlock | null;
  calibration: { icdr: CalibrationBlock | null; sdrg: CalibrationBlock | null };
  /** Per attribute (sex, ageBand, camera): metric per subgroup and the largest gap per metric. */
  subgroups: Nullable<SubgroupResult>[];
  /** One row per inference modality setting (main first); empty without ablations. */
  ablation: AblationRow[];
  embedding2d: Embedding2D | null;
}

/**
 * Deep copy as JSON-native data: NaN/Infinity -> null, -0 -> 0, typed arrays -> arrays, undefined
 * properties dropped. The result survives JSON.stringify/parse unchanged.
 *
 * @example toJsonNative({ a: NaN, b: new Float64Array([1, -0]) }) // -> { a: null, b: [1, 0] }
 */
export function toJsonNative<T>(x: T): Nullable<T> {
  return convert(x) as Nullable<T>;
}

function convert(x: unknown): unknown {
  if (typeof x === 'number') return Number.isFinite(x) ? x + 0 : null;
  if (x === null || typeof x !== 'object') return x;
  if (ArrayBuffer.isView(x)) return Array.from(x as unknown as ArrayLike<number>, (v) => convert(v));
  if (Array.isArray(x)) return x.map(convert);
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(x)) if (v !== undefined) out[k] = convert(v);
  return out;
}

/**
 * metrics.json text of a result (2-space indented).
 *
 * @example writeFileSync('runs/a/metrics.json', serializeEvalResult(result));
 */
export function serializeEvalResult(r: EvalResult): string {
  return `${JSON.stringify(r, null, 2)}\n`;
}

/**
 * Parses metrics.json text, checking the version and the top-level shape.
 *
 * @example const r = parseEvalResult(readFileSync('runs/a/metrics.json', 'utf8'), 'runs/a/metrics.json');
 */
export function parseEvalResult(text: string, where = 'metrics.json'): EvalResult {
  let o: unknown;
  try {
    o = JSON.parse(text);
  } catch (e) {
    throw new Error(`${where}: not valid JSON (${(e as Error).message})`);
  }
  if (o === null || typeof o !== 'object' || Array.isArray(o)) throw new Error(`${where}: expected a JSON object, got ${Array.isArray(o) ? 'an array' : typeof o}`);
  const r = o as Record<string, unknown>;
  if (r['version'] !== EVAL_RESULT_VERSION) throw new Error(`${where}: version ${JSON.stringify(r['version'])}, expected ${EVAL_RESULT_VERSION}`);
  const need: [string, string][] = [
    ['model', 'string'], ['kind', 'string'], ['protocol', 'string'], ['dataset', 'string'], ['split', 'string'],
    ['n', 'number'], ['retrieval', 'array'], ['grading', 'object'], ['calibration', 'object'], ['subgroups', 'array'], ['ablation', 'array'],
  ];
  for (const [k, t] of need) {
    const v = r[k];
    const ok = t === 'array' ? Array.isArray(v) : typeof v === t && v !== null;
    if (!ok) throw new Error(`${where}: field '${k}' is ${JSON.stringify(v)}, expected ${t === 'array' ? 'an array' : `a ${t}`}`);
  }
  if (r['kind'] !== 'kemt' && r['kind'] !== 'clip') throw new Error(`${where}: field 'kind' is ${JSON.stringify(r['kind'])}, expected 'kemt' or 'clip'`);
  if (r['protocol'] !== 'paper' && r['protocol'] !== 'honest') throw new Error(`${where}: field 'protocol' is ${JSON.stringify(r['protocol'])}, expected 'paper' or 'honest'`);
  return o as EvalResult;
}
