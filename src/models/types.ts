/**
 * The contract between data collation, models, losses and the training loop.
 * Models return one named record (ModelOutput) and never compute losses; losses are pure
 * functions of (ModelOutput, Batch); the loop knows neither.
 */
import type { Tensor } from '../tensor/index.js';

/** Modalities, in the fixed order used for type embeddings and presence masks. */
export const MODALITIES = ['image', 'text', 'tabular'] as const;
export type Modality = (typeof MODALITIES)[number];

/** One collated batch (tensors made from tensor-free data by a thin collate step). */
export interface Batch {
  /** (B, 3, H, W) float32, normalized. */
  images: Tensor | null;
  /** (B, L) int64 WordPiece ids, [CLS] first, [PAD]-padded. */
  tokenIds: Tensor | null;
  /** (B, L) int64, 1 = real token, 0 = padding. */
  attentionMask: Tensor | null;
  /** (B, F) float32 featurized patient record. */
  tabular: Tensor | null;
  /** (B) int64 ICDR grade 0..4, -100 where unknown. */
  icdr: Tensor | null;
  /** (B) int64 SDRG grade 0..4, -100 where unknown. */
  sdrg: Tensor | null;
  /** (B, 3) bool: which modalities each sample presents to the fusion (modality dropout). */
  present: Tensor;
  /**
   * Per sample, an id of its note text: samples with equal ids have identical notes and are not
   * negatives of each other in the contrastive losses. Length B.
   */
  noteGroup: Int32Array;
  /** Batch size. */
  size: number;
}

/** Masked-image-modelling output (MAE-style): loss on masked patches only. */
export interface MaeOutput {
  /** (B, Np, P*P*3) predicted pixels per patch. */
  pred: Tensor;
  /** (B, Np, P*P*3) target pixels per patch (normalized image). */
  target: Tensor;
  /** (B, Np) float32, 1 = masked (loss counted), 0 = visible. */
  mask: Tensor;
}

/** Masked-language-modelling output. */
export interface MlmOutput {
  /** (N, V) logits for N token positions (Kemt: the selected positions only). */
  logits: Tensor;
  /** (N) int64 original ids; -100 marks a position that does not count. */
  labels: Tensor;
}

/** Everything a model computes for one batch. Absent parts are null (never a changed shape). */
export interface ModelOutput {
  /** (B, E) L2-normalized per-modality projections taken BEFORE fusion: the retrieval embeddings. */
  imageEmb: Tensor | null;
  textEmb: Tensor | null;
  tabEmb: Tensor | null;
  /** 0-d learnable log(1/temperature) for the contrastive losses (init log(1/0.07)). */
  logitScale: Tensor;
  /** (B, D) fused representation (the fusion transformer's pooled output), null for CLIP. */
  fused: Tensor | null;
  /** (B, 5) logits on the fused token; null for models without heads (CLIP). */
  icdrLogits: Tensor | null;
  sdrgLogits: Tensor | null;
  /**
   * (B, 5) logits of the image-only grade heads, on the image tower's [CLS] token before fusion; null
   * without an image or for models without heads. Trained by the icdrImage/sdrgImage loss parts so that
   * the photo teaches the image tower directly, whatever the note says.
   */
  imageIcdrLogits: Tensor | null;
  imageSdrgLogits: Tensor | null;
  mae: MaeOutput | null;
  mlm: MlmOutput | null;
}

/** Options for one forward pass. */
export interface ForwardOptions {
  /** Dropout on, masking for MAE/MLM on. */
  training: boolean;
  /** Compute the MAE branch (masked-patch reconstruction): ratio of patches masked. 0 = off. */
  maeMaskRatio: number;
  /** Compute the MLM branch: probability a token is selected. 0 = off. */
  mlmProb: number;
  /**
   * Fraction of the batch (its first ceil(f * B) samples) that the MAE and MLM side passes run on
   * (default 1). Each side pass is a second trip through a tower; on a CPU a quarter of the batch
   * keeps the reconstruction signal at a quarter of its cost.
   */
  reconFraction?: number;
}

/** What the training loop needs from any model. */
export interface TrainableModel {
  readonly name: string;
  forward(batch: Batch, o: ForwardOptions): ModelOutput;
  /** Named parameters (stable order and names: checkpoint keys). */
  namedParameters(): Map<string, Tensor>;
  /** Whether weight decay applies (matrices yes; biases, norms, embeddings-of-position, scales no). */
  decays(name: string, p: Tensor): boolean;
}
