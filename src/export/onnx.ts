/**
 * ONNX export of a trained run's inference graph: the model's own forward pass, recorded op by op
 * (tensor/trace.ts) and written as ONNX opset 17, float32, batch 1 (src/export/onnx-graph.ts). No
 * graph is written by hand here: a model that changes, or a new one, exports the same way.
 *
 * Parts choose the inputs and outputs: `image`, `text`, `tabular` are the modalities fed (graph
 * inputs `image` (1, 3, S, S) float32 normalized, `token_ids` and `attention_mask` (1, L) int64,
 * `tabular` (1, F) float32; with more than the image, `present` (1, 3) bool says which reach the
 * fusion, as batch.present); `fusion` + `heads` add the grades (`icdr_logits`, `sdrg_logits`,
 * `icdr_probs`, `sdrg_probs`, (1, 5)); each modality adds its retrieval embedding
 * (`image_embedding`, ...); `attention` adds the image tower's attention rollout (1, Np) for the
 * heatmap. The preprocessing (size, mean/std, the crop rule), the grade-head temperatures and the
 * model's identity travel in the ONNX metadata (key `retalign`, one JSON object).
 *
 * @example
 *   const { bytes, meta } = exportOnnx(sourceOf(loadRun('runs/demo')), { parts: ['image', 'fusion', 'heads'] });
 *   writeFileSync('model.onnx', bytes); meta.outputs // ['icdr_logits', ..., 'image_embedding']
 */
import { readFileSync } from 'node:fs';
import { Tensor, noGrad, tidy, traceOps } from '../tensor/index.js';
import { packageRoot } from '../data/assets.js';
import { NUM_GRADES } from '../data/grades.js';
import { THUMB_SHORT, WORK_FACTOR } from '../data/images/preprocess.js';
import type { RetalignModel } from '../models/index.js';
import type { Batch } from '../models/types.js';
import type { LoadedRun, Preprocessing } from '../run/index.js';
import { TabularFeaturizer } from '../data/tabular.js';
import { OPSET, traceToGraph } from './onnx-graph.js';
import { encodeModel } from './onnx-proto.js';

export const EXPORT_PARTS = ['image', 'text', 'tabular', 'fusion', 'heads', 'attention'] as const;
export type ExportPart = (typeof EXPORT_PARTS)[number];
/** The metadata format; the web page refuses a model of another. */
export const ONNX_FORMAT = 'retalign-onnx-1';

/** Grade-head temperatures the page applies (softmax(logits / T)), as the server does. */
export interface ExportTemperatures {
  icdr: number;
  sdrg: number;
  fitted: boolean;
  exams?: number;
  note?: string;
}

/** The JSON stored under metadata key `retalign`. */
export interface OnnxMeta {
  format: typeof ONNX_FORMAT;
  /** Display name 'run/architecture', and the weights' content hash (as /v1/info). */
  model: string;
  checkpointId: string;
  architecture: string;
  parts: ExportPart[];
  inputs: string[];
  outputs: string[];
  /** How a photo becomes the `image` input (src/data/images/preprocess.ts). */
  preprocessing: {
    size: number; mean: number[]; std: number[]; cropThreshold: number;
    /** The decode's shorter side is workFactor * size; the disc is found on a thumbnail of about thumbShort px (block means). */
    workFactor: number; thumbShort: number; minLineFraction: number; resample: 'lanczos3';
  };
  /** Attention grid (rows = cols = size / patch), when `attention` is exported. */
  grid: number | null;
  temperatures: ExportTemperatures;
  maxTokens: number;
  tabularDim: number;
  numGrades: number;
}

export interface ExportOptions {
  parts?: readonly ExportPart[];
  temperatures?: ExportTemperatures;
}

/**
 * Parses `--parts` (comma-separated). Errors name the bad part and the valid ones.
 * @example parseParts('image,fusion,heads') // ['image', 'fusion', 'heads']
 */
export function parseParts(s: string): ExportPart[] {
  const parts = s.split(',').map((p) => p.trim()).filter((p) => p !== '');
  for (const p of parts) {
    if (!(EXPORT_PARTS as readonly string[]).includes(p)) throw new Error(`--parts: unknown part '${p}'; valid parts: ${EXPORT_PARTS.join(', ')}`);
  }
  return [...new Set(parts)] as ExportPart[];
}

/** What an export reads: a loaded run (sourceOf), or the model a server holds (its ServeModel fits). */
export interface ExportSource {
  model: RetalignModel;
  pre: Preprocessing;
  checkpointId: string;
  /** Display name, 'run/architecture'. */
  name: string;
}

/** A loaded run as an export source. */
export function sourceOf(run: LoadedRun): ExportSource {
  return { model: run.model, pre: run.pre, checkpointId: run.checkpointId, name: `${run.runConfig.name}/${run.model.name}` };
}

/** The parts a run exports by default: the photo's grades (or its embedding for a model without heads) and the heatmap. */
export function defaultParts(run: ExportSource): ExportPart[] {
  return run.model.capabilities.gradeHeads ? ['image', 'fusion', 'heads', 'attention'] : ['image', 'attention'];
}

function version(): string {
  try {
    return (JSON.parse(readFileSync(`${packageRoot()}/package.json`, 'utf8')) as { version: string }).version;
  } catch {
    return '0';
  }
}

/** Exports a loaded run; throws UnsupportedOpError (naming the op) for a forward pass ONNX cannot express. */
export function exportOnnx(run: ExportSource, o: ExportOptions = {}): { bytes: Uint8Array; meta: OnnxMeta } {
  const model = run.model;
  const parts = [...(o.parts ?? defaultParts(run))];
  const has = (p: ExportPart): boolean => parts.includes(p);
  const caps = model.capabilities;
  for (const m of ['image', 'text', 'tabular'] as const) {
    if (has(m) && !caps.modalities.includes(m)) throw new Error(`--parts ${m}: the model ${run.name} takes no ${m} input (it takes ${caps.modalities.join(', ')})`);
  }
  if (!has('image') && !has('text') && !has('tabular')) throw new Error(`--parts ${parts.join(',')}: no input; name at least one of image, text, tabular`);
  if (has('heads') && !caps.gradeHeads) throw new Error(`--parts heads: the model ${run.name} has no grade heads (a CLIP baseline exports embeddings only)`);
  if (has('heads') !== has('fusion')) throw new Error(`--parts: 'heads' and 'fusion' go together (the grade heads read the fused token); got ${parts.join(',')}`);
  if (has('attention') && !has('image')) throw new Error("--parts attention: needs 'image' (the rollout is the image tower's)");
  const pre = run.pre;
  const S = pre.image.size;
  const L = pre.maxTokens;
  const F = pre.tabular === null ? 0 : TabularFeaturizer.fromJSON(pre.tabular).dim;
  if (has('tabular') && F === 0) throw new Error('--parts tabular: the run has no tabular featurizer (its data had no patient fields)');
  const cfg = model.config.image;
  const temperatures = o.temperatures ?? { icdr: 1, sdrg: 1, fitted: false, note: 'no index was given to the export (--index)' };

  const wasTraining = model.training;
  const graph = noGrad(() => tidy(() => {
    const device = model.logitScale.device; // the traced inputs sit where the weights are
    const inputs: Record<string, Tensor> = {};
    if (has('image')) inputs['image'] = Tensor.zeros([1, 3, S, S], 'float32', device);
    if (has('text')) {
      inputs['token_ids'] = Tensor.zeros([1, L], 'int64', device);
      inputs['attention_mask'] = Tensor.ones([1, L], 'int64', device);
    }
    if (has('tabular')) inputs['tabular'] = Tensor.zeros([1, F], 'float32', device);
    const multi = Number(has('image')) + Number(has('text')) + Number(has('tabular')) > 1;
    if (multi) inputs['present'] = Tensor.full([1, 3], true, 'bool', device);
    const trace = traceOps(inputs, model.namedParameters(), () => {
      const batch: Batch = {
        images: inputs['image'] ?? null, tokenIds: inputs['token_ids'] ?? null, attentionMask: inputs['attention_mask'] ?? null,
        tabular: inputs['tabular'] ?? null, icdr: null, sdrg: null,
        present: inputs['present'] ?? Tensor.from([has('image'), has('text'), has('tabular')], [1, 3], 'bool').to(device), // a constant of the graph
        noteGroup: new Int32Array(1), size: 1,
      };
      const out = model.forward(batch, { training: false, maeMaskRatio: 0, mlmProb: 0 });
      const r: Record<string, Tensor> = {};
      if (has('heads')) {
        if (out.icdrLogits === null || out.sdrgLogits === null) throw new Error(`the model ${model.name} returned no grade logits`);
        r['icdr_logits'] = out.icdrLogits;
        r['sdrg_logits'] = out.sdrgLogits;
        r['icdr_probs'] = out.icdrLogits.softmax(-1);
        r['sdrg_probs'] = out.sdrgLogits.softmax(-1);
      }
      if (has('image') && out.imageEmb !== null) r['image_embedding'] = out.imageEmb;
      if (has('text') && out.textEmb !== null) r['text_embedding'] = out.textEmb;
      if (has('tabular') && out.tabEmb !== null) r['tabular_embedding'] = out.tabEmb;
      if (has('attention')) r['attention'] = model.imageAttention(inputs['image'] as Tensor);
      return r;
    });
    model.train(wasTraining);
    return { graph: traceToGraph(trace, run.name), inputs: trace.inputs.map((i) => i.name), outputs: trace.outputs.map((x) => x.name) };
  }));
  const meta: OnnxMeta = {
    format: ONNX_FORMAT, model: run.name, checkpointId: run.checkpointId, architecture: model.name, parts,
    inputs: graph.inputs, outputs: graph.outputs,
    preprocessing: {
      size: S, mean: [...pre.image.mean], std: [...pre.image.std], cropThreshold: pre.image.cropThreshold,
      workFactor: WORK_FACTOR, thumbShort: THUMB_SHORT, minLineFraction: 0.1, resample: 'lanczos3',
    },
    grid: has('attention') ? cfg.imageSize / cfg.patchSize : null,
    temperatures, maxTokens: L, tabularDim: F, numGrades: NUM_GRADES,
  };
  const bytes = encodeModel({
    irVersion: 8, opsetImport: [{ domain: '', version: OPSET }], producerName: 'retalign', producerVersion: version(),
    docString: `retalign ${meta.model}, checkpoint ${run.checkpointId}: ${parts.join(', ')}`,
    graph: graph.graph, metadataProps: [{ key: 'retalign', value: JSON.stringify(meta) }],
  });
  return { bytes, meta };
}
