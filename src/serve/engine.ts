/**
 * ServeEngine: a trained model plus the preprocessing it was trained with: grade images (with an
 * optional note and patient fields), embed text queries, embed images. Each call takes a batch of
 * requests and runs ONE forward pass for all of them (the server's InferenceQueue collects the
 * requests that arrive together); the single-request methods are batches of one. Shared by the HTTP
 * server and the `grade`/`search` commands.
 *
 * A row's answer does not depend on the other rows of its batch: the model runs in inference mode
 * (eval: no dropout, whatever the model's train flag was), its norms are per sample (LayerNorm,
 * GroupNorm; no BatchNorm) and attention is per sample; a request without a note (or without patient
 * fields) in a batch where others have one is marked absent in `present`, so the fusion leaves that
 * modality out exactly as for a request graded alone (checked against one-by-one answers in
 * test/serve/batching.test.ts, within 1e-5).
 *
 * Every tensor lives inside one noGrad + tidy scope per call, and the batch is disposed in a
 * finally: the live-tensor count is the same before and after each call (checked in the tests).
 * Image decoding (sharp, libuv threads) is async and tensor-free; the model calls are synchronous.
 *
 * @example
 *   const engine = ServeEngine.fromCheckpoint('runs/smoke/best', temperaturesFromSidecar(readSidecar('ix')));
 *   const img = await engine.prepareImage(bytes, 'upload.jpg');
 *   const g = engine.grade({ image: img, note: 'dot haemorrhages', fields: { patient_age: 61 } }, { attention: true });
 *   g.icdr.probabilities // 5 calibrated probabilities; g.referable.flag
 *   const [a, b] = engine.gradeBatch([{ image: img }, { image: img2, note: 'laser scars' }], { attention: [true, false] });
 */
import { Tensor, noGrad, tidy } from '../tensor/index.js';
import type { RetalignModel } from '../models/index.js';
import { Tokenizer } from '../data/tokenizer/tokenizer.js';
import { TabularFeaturizer } from '../data/tabular.js';
import { cropFundus } from '../data/images/preprocess.js';
import { toChw } from '../data/images/augment.js';
import type { ExamRecord, FieldValue } from '../data/types.js';
import { NUM_GRADES, UNKNOWN_GRADE } from '../data/grades.js';
import { softmaxRows } from '../eval/metrics/calibration.js';
import { referableProbability } from '../eval/metrics/referable.js';
import { collate, disposeBatch, loadRun, type PreparedItem, type Preprocessing } from '../run/index.js';
import sharp from 'sharp';
import { MIN_CALIBRATION_EXAMS, type IndexSidecar } from './sidecar.js';

/** What the engine needs of a model: a loaded checkpoint, or a freshly built one (benchmarks). */
export interface ServeModel {
  model: RetalignModel;
  pre: Preprocessing;
  /** Identifies the weights; an index built from other weights is refused. */
  checkpointId: string;
  /** Display name, e.g. 'smoke/kemt'. */
  name: string;
}

/** Grade-head temperatures applied at grade time (1 = uncalibrated). */
export interface Temperatures {
  icdr: number;
  sdrg: number;
  /** True when fitted on validation data; false = raw softmax. */
  fitted: boolean;
  /** Validation exams the temperatures were fitted on (the smaller head's count), when fitted. */
  exams?: number;
  /** Why the probabilities are not calibrated, when they are not and the reason is known. */
  note?: string;
}

export const UNCALIBRATED: Readonly<Temperatures> = Object.freeze({ icdr: 1, sdrg: 1, fitted: false });

/**
 * The temperatures an index build fitted, or UNCALIBRATED (with the reason) when it fitted none or
 * fitted them on fewer validation exams than the minimum (an older index may hold such a fit).
 */
export function temperaturesFromSidecar(s: IndexSidecar | null): Temperatures {
  const c = s?.calibration;
  if (c === null || c === undefined) {
    return { ...UNCALIBRATED, ...(s?.calibrationSkipped === undefined ? {} : { note: s.calibrationSkipped }) };
  }
  const min = c.minExams ?? MIN_CALIBRATION_EXAMS;
  const n = Math.min(c.icdr.n, c.sdrg.n);
  if (!(n >= min)) {
    return { ...UNCALIBRATED, note: `the index's temperatures were fitted on ${n} graded validation exams; at least ${min} are needed` };
  }
  return { icdr: c.icdr.temperature, sdrg: c.sdrg.temperature, fitted: true, exams: n };
}

/** Widest accepted photo, long side / short side: fundus photos are near square (a 16:9 frame is 1.78). */
export const MAX_ASPECT_RATIO = 2;

/** A photo too small for the model's input or too elongated to be a fundus photo (before any decoding). */
export class ImageShapeError extends Error {
  constructor(readonly width: number, readonly height: number, message: string) {
    super(message);
    this.name = 'ImageShapeError';
  }
}

/**
 * Throws ImageShapeError unless a width x height photo has a short side of at least `minSide`
 * pixels (the model's input size: smaller is upsampled, with no lesion detail) and an aspect
 * ratio of at most MAX_ASPECT_RATIO.
 * @example checkImageShape(30000, 1, 224, 'eye.png') // throws: eye.png: 30000x1 pixels: the short side, 1 px, is below ...
 */
export function checkImageShape(width: number, height: number, minSide: number, name: string): void {
  const short = Math.min(width, height);
  if (short < minSide) {
    throw new ImageShapeError(width, height, `${name}: ${width}x${height} pixels: the short side, ${short} px, is below the minimum of ` +
      `${minSide} px (the model's input size); a smaller photo holds no lesion detail`);
  }
  const ratio = Math.max(width, height) / short;
  if (ratio > MAX_ASPECT_RATIO) {
    throw new ImageShapeError(width, height, `${name}: ${width}x${height} pixels: the aspect ratio ${ratio.toFixed(2)}:1 is beyond the ` +
      `limit of ${MAX_ASPECT_RATIO}:1 (fundus photos are near square)`);
  }
}

/** A decoded upload: the model's input and the S x S crop it was made from (for the heatmap). */
export interface PreparedImage {
  /** (3, S, S) normalized CHW. */
  chw: Float32Array;
  /** (S, S, 3) RGB bytes of the crop around the fundus disc. */
  rgb: Uint8Array;
  size: number;
}

export interface GradeInput {
  image: PreparedImage;
  /** Clinical note; absent = the text modality is left out of the fusion. */
  note?: string;
  /** Decoded patient fields (parseFields); absent or empty = tabular left out. */
  fields?: Record<string, FieldValue>;
}

/** One scale's answer. Probabilities are calibrated (softmax(logits / T)). */
export interface ScaleGrade {
  /** P(grade = 0..4), NUM_GRADES values summing to 1. */
  probabilities: number[];
  /** The most probable grade. */
  grade: number;
  /** Its calibrated probability. */
  confidence: number;
}

export interface GradeOutput {
  icdr: ScaleGrade;
  sdrg: ScaleGrade;
  /** Referable DR = ICDR >= 2: probability P(ICDR >= 2) and flag = probability >= 0.5. */
  referable: { probability: number; flag: boolean };
  temperatures: Temperatures;
  /** (E) unit image embedding (the retrieval embedding, pre-fusion). */
  imageEmb: Float32Array;
  /** Attention rollout of [CLS] over the patch grid (rows x cols, row-major, sums to 1), or null. */
  attention: { rows: number; cols: number; weights: Float32Array } | null;
  /** Which inputs reached the fusion. */
  used: { image: true; note: boolean; fields: string[] };
}

export class ServeEngine {
  readonly tokenizer: Tokenizer;
  readonly featurizer: TabularFeaturizer | null;
  /** BRSET field names the tabular featurizer reads; null when the model takes no patient fields. */
  readonly acceptedFields: ReadonlySet<string> | null;
  private readonly gridSide: number;

  constructor(readonly served: ServeModel, readonly temperatures: Temperatures = { ...UNCALIBRATED }) {
    this.tokenizer = Tokenizer.fromJSON(served.pre.tokenizer);
    this.featurizer = served.pre.tabular === null ? null : TabularFeaturizer.fromJSON(served.pre.tabular);
    this.acceptedFields = this.featurizer === null || !served.model.capabilities.modalities.includes('tabular')
      ? null
      : new Set(this.featurizer.fields().map((f) => (f.kind === 'textFlag' ? (f.source as string) : f.name)));
    const img = served.model.config.image;
    if (img.imageSize !== served.pre.image.size) {
      throw new Error(`ServeEngine: the model expects ${img.imageSize}px images but the preprocessing makes ${served.pre.image.size}px`);
    }
    this.gridSide = img.imageSize / img.patchSize;
    for (const [k, t] of [['icdr', temperatures.icdr], ['sdrg', temperatures.sdrg]] as const) {
      if (!(t > 0) || !Number.isFinite(t)) throw new Error(`ServeEngine: ${k} temperature ${t}; expected a finite number > 0`);
    }
  }

  /**
   * Loads a checkpoint folder (run/best, run/last or a run folder).
   * @example ServeEngine.fromCheckpoint('runs/smoke/best')
   */
  static fromCheckpoint(path: string, temperatures?: Temperatures): ServeEngine {
    const run = loadRun(path);
    return new ServeEngine({ model: run.model, pre: run.pre, checkpointId: run.checkpointId, name: `${run.runConfig.name}/${run.model.name}` }, temperatures);
  }

  get checkpointId(): string {
    return this.served.checkpointId;
  }

  get imageSize(): number {
    return this.served.pre.image.size;
  }

  get embedDim(): number {
    return this.served.model.config.embedDim;
  }

  /** The model grades itself (Kemt); a model without heads (the CLIP baseline) can search but not grade. */
  get hasGradeHeads(): boolean {
    return this.served.model.capabilities.gradeHeads;
  }

  /**
   * Encoded bytes -> the model's input. Refuses images over `maxPixels` (ImageTooLargeError) and
   * too small or elongated ones (ImageShapeError), both from the header, before decoding; an
   * undecodable image throws an Error naming `name`.
   */
  async prepareImage(bytes: Buffer, name: string, maxPixels = this.served.pre.image.maxInputPixels): Promise<PreparedImage> {
    const meta = await sharp(bytes).metadata().catch(() => null); // unreadable: cropFundus says why
    if (meta?.width !== undefined && meta.height !== undefined) checkImageShape(meta.width, meta.height, this.served.pre.image.size, name);
    const cfg = { ...this.served.pre.image, maxInputPixels: Math.min(maxPixels, this.served.pre.image.maxInputPixels) };
    const { rgb } = await cropFundus(bytes, cfg, name);
    return { chw: toChw(rgb, cfg.size, cfg.mean, cfg.std, null), rgb, size: cfg.size };
  }

  /** Token ids and mask of one text, padded to the model's maxTokens. */
  private tokens(text: string): { ids: Int32Array; mask: Uint8Array } {
    const e = this.tokenizer.encodeBatch([text], { maxLength: this.served.pre.maxTokens, padding: 'max' });
    return { ids: e.inputIds, mask: e.attentionMask };
  }

  /** Featurized patient fields; throws when the model takes none. */
  private tabular(fields: Record<string, FieldValue>): Float32Array {
    if (this.featurizer === null) throw new Error('ServeEngine: this model takes no patient fields');
    const rec: ExamRecord = {
      imageId: 'request', patientId: 'request', imagePath: '', eye: 'unknown', fields,
      labels: { icdr: null, sdrg: null, diabeticRetinopathy: null, macularEdema: null, flags: {} },
    };
    return this.featurizer.transform(rec);
  }

  /**
   * Grades one image. Probabilities are softmax(logits / T) with the engine's temperatures.
   * `attention` adds the attention rollout (a second pass through the image tower).
   */
  grade(input: GradeInput, o: { attention: boolean }): GradeOutput {
    return this.gradeBatch([input], { attention: [o.attention] })[0] as GradeOutput;
  }

  /**
   * Grades a batch of images in one forward pass: one GradeOutput per input, in order, each the
   * answer `grade` gives that input alone. `attention[i]` (or one flag for all) adds row i's
   * attention rollout; the rollout pass runs on the rows that ask for it only.
   */
  gradeBatch(inputs: readonly GradeInput[], o: { attention: boolean | readonly boolean[] }): GradeOutput[] {
    if (!this.hasGradeHeads) throw new Error(`the model ${this.served.name} has no grade heads (a CLIP baseline): it can search but not grade`);
    const B = inputs.length;
    if (B === 0) return [];
    const wantAtt = typeof o.attention === 'boolean' ? inputs.map(() => o.attention as boolean) : o.attention;
    if (wantAtt.length !== B) throw new Error(`ServeEngine.gradeBatch: ${wantAtt.length} attention flags for ${B} inputs`);
    const S = this.imageSize;
    const notes = inputs.map((x) => (x.note !== undefined && x.note.trim() !== '' ? x.note : undefined));
    const fields = inputs.map((x) => (x.fields !== undefined && Object.keys(x.fields).length > 0 ? x.fields : undefined));
    // A modality is fed to the towers when some row has it; rows without it get a placeholder (an
    // empty note, a zero record) that `present` marks absent, so the fusion ignores it.
    const anyNote = notes.some((n) => n !== undefined);
    const anyFields = fields.some((f) => f !== undefined);
    const noNote = anyNote ? this.tokens('') : null;
    const noFields = anyFields ? new Float32Array(this.featurizer?.dim ?? 0) : null;
    const items: PreparedItem[] = inputs.map((x, i) => {
      const note = notes[i];
      const f = fields[i];
      const t = note === undefined ? noNote : this.tokens(note);
      if (x.image.chw.length !== 3 * S * S) throw new Error(`ServeEngine.gradeBatch: image ${i} has ${x.image.chw.length} values, expected 3x${S}x${S}`);
      return {
        imageId: 'request', patientId: 'request', image: x.image.chw, tokenIds: t?.ids ?? null, attention: t?.mask ?? null,
        tabular: f === undefined ? noFields : this.tabular(f), icdr: UNKNOWN_GRADE, sdrg: UNKNOWN_GRADE, noteGroup: 0,
      };
    });
    const present = new Uint8Array(B * 3); // (B, 3): image, text, tabular per row
    for (let i = 0; i < B; i++) {
      present[i * 3] = 1;
      present[i * 3 + 1] = notes[i] === undefined ? 0 : 1;
      present[i * 3 + 2] = fields[i] === undefined ? 0 : 1;
    }
    const model = this.served.model;
    const collated = collate(items, { imageSize: S, maxTokens: this.served.pre.maxTokens, tabularDim: this.featurizer?.dim ?? 0 });
    collated.present.dispose();
    const batch = { ...collated, present: Tensor.from(present, [B, 3], 'bool') };
    const attRows = wantAtt.flatMap((w, i) => (w ? [i] : []));
    let raw: { icdr: Float32Array; sdrg: Float32Array; emb: Float32Array; att: Float32Array | null };
    try {
      raw = noGrad(() => tidy(() => {
        const out = model.forward(batch, { training: false, maeMaskRatio: 0, mlmProb: 0 });
        if (out.icdrLogits === null || out.sdrgLogits === null || out.imageEmb === null) throw new Error('ServeEngine.grade: the model returned no grade logits');
        let att: Float32Array | null = null;
        if (attRows.length > 0 && batch.images !== null) {
          const imgs = attRows.length === B ? batch.images : batch.images.indexSelect(0, Tensor.from(BigInt64Array.from(attRows, (i) => BigInt(i)), [attRows.length])); // (A, 3, S, S)
          att = model.imageAttention(imgs).toFloat32(); // (A, Np)
        }
        return {
          icdr: out.icdrLogits.toFloat32(), // (B, 5)
          sdrg: out.sdrgLogits.toFloat32(), // (B, 5)
          emb: out.imageEmb.toFloat32(), // (B, E)
          att,
        };
      }));
    } finally {
      disposeBatch(batch);
    }
    const scale = (logits: Float32Array, T: number): ScaleGrade => {
      const p = Array.from(softmaxRows(logits, NUM_GRADES, T));
      let grade = 0;
      for (let k = 1; k < NUM_GRADES; k++) if ((p[k] as number) > (p[grade] as number)) grade = k;
      return { probabilities: p, grade, confidence: p[grade] as number };
    };
    const E = raw.emb.length / B;
    const Np = this.gridSide * this.gridSide;
    return inputs.map((_, i) => {
      const icdr = scale(raw.icdr.subarray(i * NUM_GRADES, (i + 1) * NUM_GRADES), this.temperatures.icdr);
      const sdrg = scale(raw.sdrg.subarray(i * NUM_GRADES, (i + 1) * NUM_GRADES), this.temperatures.sdrg);
      const pRef = referableProbability(icdr.probabilities, NUM_GRADES)[0] as number; // P(ICDR >= 2)
      const a = attRows.indexOf(i);
      const f = fields[i];
      return {
        icdr, sdrg,
        referable: { probability: pRef, flag: pRef >= 0.5 },
        temperatures: { ...this.temperatures },
        imageEmb: raw.emb.slice(i * E, (i + 1) * E),
        attention: a < 0 || raw.att === null ? null : { rows: this.gridSide, cols: this.gridSide, weights: raw.att.slice(a * Np, (a + 1) * Np) },
        used: { image: true, note: notes[i] !== undefined, fields: f === undefined ? [] : Object.keys(f) },
      };
    });
  }

  /**
   * Retrieval embedding of a text query: (E) unit vector.
   * @example engine.embedText('proliferative retinopathy with new vessels')
   */
  embedText(text: string): Float32Array {
    return this.embedTexts([text])[0] as Float32Array;
  }

  /** Retrieval embeddings of text queries in one pass: one (E) unit vector per text, in order. */
  embedTexts(texts: readonly string[]): Float32Array[] {
    const B = texts.length;
    if (B === 0) return [];
    const L = this.served.pre.maxTokens; // every text is padded to it ('max')
    const ids = new BigInt64Array(B * L);
    const mask = new BigInt64Array(B * L);
    texts.forEach((text, i) => {
      const t = this.tokens(text);
      if (t.ids.length !== L) throw new Error(`ServeEngine.embedTexts: text ${i} has ${t.ids.length} tokens, expected ${L}`);
      for (let j = 0; j < L; j++) {
        ids[i * L + j] = BigInt(t.ids[j] as number);
        mask[i * L + j] = BigInt(t.mask[j] as number);
      }
    });
    const flat = noGrad(() => tidy(() =>
      this.served.model.encodeText(Tensor.from(ids, [B, L]), Tensor.from(mask, [B, L])).toFloat32())); // (B, E)
    return rows(flat, B);
  }

  /** Retrieval embedding of an image: (E) unit vector. */
  embedImage(image: PreparedImage): Float32Array {
    return this.embedImages([image])[0] as Float32Array;
  }

  /** Retrieval embeddings of images in one pass: one (E) unit vector per image, in order. */
  embedImages(images: readonly PreparedImage[]): Float32Array[] {
    const B = images.length;
    if (B === 0) return [];
    const S = this.imageSize;
    const per = 3 * S * S;
    const buf = new Float32Array(B * per);
    images.forEach((image, i) => {
      if (image.chw.length !== per) throw new Error(`ServeEngine.embedImage: image ${i} has ${image.chw.length} values, expected 3x${S}x${S}`);
      buf.set(image.chw, i * per);
    });
    const flat = noGrad(() => tidy(() => this.served.model.encodeImage(Tensor.from(buf, [B, 3, S, S])).toFloat32())); // (B, E)
    return rows(flat, B);
  }
}

/** (B * E) row-major -> B rows of E, each its own buffer. */
function rows(flat: Float32Array, B: number): Float32Array[] {
  const E = flat.length / B;
  return Array.from({ length: B }, (_, i) => flat.slice(i * E, (i + 1) * E));
}
