/**
 * The thin step between tensor-free data and the model: prepared items -> one Batch of tensors.
 *
 * @example
 *   const batch = collate(items.slice(0, 32), { imageSize: 96, maxTokens: 64, tabularDim: 40 });
 */
import { Tensor, type Device } from '../tensor/index.js';
import type { Batch } from '../models/types.js';
import { UNKNOWN_GRADE } from '../data/grades.js';

/** One exam, preprocessed (typed arrays only). */
export interface PreparedItem {
  imageId: string;
  patientId: string;
  /** (3, S, S) normalized CHW, or null when the image modality is absent. */
  image: Float32Array | null;
  /** (L) token ids, padded to maxTokens, or null when there is no note. */
  tokenIds: Int32Array | null;
  /** (L) 1 = token, 0 = padding. */
  attention: Int32Array | Uint8Array | null;
  /** (F) tabular features, or null when absent (e.g. DeepEyeNet). */
  tabular: Float32Array | null;
  /** 0..4, or UNKNOWN_GRADE. */
  icdr: number;
  sdrg: number;
  /** Items with equal noteGroup have identical note text. */
  noteGroup: number;
  /**
   * The note and record as they read for the horizontally flipped photo (right <-> left swapped), or
   * null/absent when the eye is unknown. The training stream uses it for the items it flips.
   */
  mirror?: MirrorView | null;
}

/** The text and record side of an item's mirror image (see PreparedItem.mirror). */
export interface MirrorView {
  tokenIds: Int32Array | null;
  attention: Int32Array | Uint8Array | null;
  tabular: Float32Array | null;
  noteGroup: number;
}

/**
 * The item as the flipped photo's exam: the mirror's note and record (the photo itself is flipped in
 * collate). An item without a mirror is returned as it is.
 */
export function mirrored(it: PreparedItem): PreparedItem {
  const m = it.mirror;
  if (m === undefined || m === null) return it;
  return { ...it, tokenIds: m.tokenIds, attention: m.attention, tabular: m.tabular, noteGroup: m.noteGroup, mirror: null };
}

export interface CollateOptions {
  imageSize: number;
  maxTokens: number;
  tabularDim: number;
  /** Leave a modality out of the batch entirely (e.g. image-only inference). */
  use?: { image?: boolean; text?: boolean; tabular?: boolean };
  /** Horizontal flips per item (augmentation), decided by the caller's seeded generator. */
  flip?: boolean[];
  /** Device of the batch tensors (default cpu). */
  device?: Device;
}

function onDevice(t: Tensor | null, device: Device | undefined): Tensor | null {
  if (t === null || device === undefined || device === 'cpu') return t;
  const moved = t.to(device);
  t.dispose();
  return moved;
}

function flipRow(dst: Float32Array, src: Float32Array, s: number, offset: number): void {
  for (let c = 0; c < 3; c++) {
    for (let y = 0; y < s; y++) {
      const row = (c * s + y) * s;
      for (let x = 0; x < s; x++) dst[offset + row + x] = src[row + s - 1 - x] as number;
    }
  }
}

/** Stacks prepared items into a Batch. A modality is in the batch only if every item has it. */
export function collate(items: readonly PreparedItem[], o: CollateOptions): Batch {
  const B = items.length;
  if (B === 0) throw new Error('collate: empty batch');
  const useImage = (o.use?.image ?? true) && items.every((it) => it.image !== null);
  const useText = (o.use?.text ?? true) && items.every((it) => it.tokenIds !== null);
  const useTab = (o.use?.tabular ?? true) && o.tabularDim > 0 && items.every((it) => it.tabular !== null);
  if (!useImage && !useText && !useTab) throw new Error('collate: no modality is present in every item of the batch');

  let images: Tensor | null = null;
  if (useImage) {
    const S = o.imageSize;
    const per = 3 * S * S;
    const buf = new Float32Array(B * per);
    items.forEach((it, i) => {
      const img = it.image as Float32Array;
      if (img.length !== per) throw new Error(`collate: image of ${it.imageId} has ${img.length} values, expected 3x${S}x${S}`);
      if (o.flip?.[i]) flipRow(buf, img, S, i * per);
      else buf.set(img, i * per);
    });
    images = Tensor.from(buf, [B, 3, S, S]); // (B, 3, S, S)
  }
  let tokenIds: Tensor | null = null;
  let attentionMask: Tensor | null = null;
  if (useText) {
    const L = o.maxTokens;
    const ids = new BigInt64Array(B * L);
    const mask = new BigInt64Array(B * L);
    items.forEach((it, i) => {
      const t = it.tokenIds as Int32Array;
      const m = it.attention as Int32Array | Uint8Array;
      if (t.length !== L) throw new Error(`collate: note of ${it.imageId} has ${t.length} tokens, expected ${L}`);
      for (let j = 0; j < L; j++) {
        ids[i * L + j] = BigInt(t[j] as number);
        mask[i * L + j] = BigInt(m[j] as number);
      }
    });
    tokenIds = Tensor.from(ids, [B, L]); // (B, L)
    attentionMask = Tensor.from(mask, [B, L]); // (B, L)
  }
  let tabular: Tensor | null = null;
  if (useTab) {
    const F = o.tabularDim;
    const buf = new Float32Array(B * F);
    items.forEach((it, i) => {
      const x = it.tabular as Float32Array;
      if (x.length !== F) throw new Error(`collate: tabular vector of ${it.imageId} has ${x.length} values, expected ${F}`);
      buf.set(x, i * F);
    });
    tabular = Tensor.from(buf, [B, F]); // (B, F)
  }
  const grades = (k: 'icdr' | 'sdrg'): Tensor | null =>
    items.some((it) => it[k] >= 0) ? Tensor.from(BigInt64Array.from(items, (it) => BigInt(it[k] >= 0 ? it[k] : UNKNOWN_GRADE)), [B]) : null;
  const present = new Uint8Array(B * 3);
  for (let i = 0; i < B; i++) {
    present[i * 3] = useImage ? 1 : 0;
    present[i * 3 + 1] = useText ? 1 : 0;
    present[i * 3 + 2] = useTab ? 1 : 0;
  }
  const d = o.device;
  return {
    images: onDevice(images, d), tokenIds: onDevice(tokenIds, d), attentionMask: onDevice(attentionMask, d), tabular: onDevice(tabular, d),
    icdr: onDevice(grades('icdr'), d), sdrg: onDevice(grades('sdrg'), d),
    present: onDevice(Tensor.from(present, [B, 3], 'bool'), d) as Tensor, // (B, 3)
    noteGroup: Int32Array.from(items, (it) => it.noteGroup),
    size: B,
  };
}

/** Disposes every tensor of a batch. */
export function disposeBatch(b: Batch): void {
  for (const t of [b.images, b.tokenIds, b.attentionMask, b.tabular, b.icdr, b.sdrg, b.present]) t?.dispose();
}
