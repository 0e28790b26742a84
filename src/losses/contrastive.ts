/**
 * Symmetric InfoNCE (CLIP's contrastive loss) between two sets of L2-normalized embeddings, with
 * duplicate-note masking: samples whose notes are identical (equal Batch.noteGroup) are not
 * negatives of each other. Templated notes repeat, so without the mask the loss would push apart
 * pairs that are, as far as the text can tell, the same positive.
 *
 * Sources: CLIP (Radford et al. 2021) and open_clip's loss.py (logits = scale * a @ b^T, cross-
 * entropy against the diagonal in both directions, averaged); the scale is exp(logitScale) capped
 * at 100 as CLIP caps it.
 *
 * Every row of the batch takes part, whatever Batch.present says: modality dropout hides a
 * modality from the fusion only, and these embeddings are taken before fusion.
 *
 * @example
 *   const loss = infoNce(out.imageEmb, out.textEmb, out.logitScale, batch.noteGroup); // 0-d
 */
import { Tensor, crossEntropy, type Device } from '../tensor/index.js';
import type { Batch, ModelOutput } from '../models/types.js';

/** CLIP's cap on exp(logitScale) (temperature >= 0.01). */
export const LOGIT_SCALE_MAX = 100;

/** The three contrastive pairs, named as in configs and logs: [part name, first, second]. */
export const CONTRASTIVE_PAIRS = [
  ['imageText', 'imageEmb', 'textEmb'],
  ['imageTabular', 'imageEmb', 'tabEmb'],
  ['textTabular', 'textEmb', 'tabEmb'],
] as const;
export type ContrastivePart = (typeof CONTRASTIVE_PAIRS)[number][0];

/**
 * (B, B) bool mask, true at (i, j) when i != j and noteGroup[i] == noteGroup[j]: the off-diagonal
 * logits that must not act as negatives. Returns null when no two samples share a note.
 * @example sameNoteMask(Int32Array.from([4, 7, 4])) // true at (0,2) and (2,0) only
 */
export function sameNoteMask(noteGroup: Int32Array, device: Device = 'cpu'): Tensor | null {
  const b = noteGroup.length;
  const m = new Uint8Array(b * b);
  let any = false;
  for (let i = 0; i < b; i++) {
    for (let j = 0; j < b; j++) {
      if (i !== j && noteGroup[i] === noteGroup[j]) {
        m[i * b + j] = 1;
        any = true;
      }
    }
  }
  if (!any) return null;
  const mask = Tensor.from(m, [b, b], 'bool');
  if (device === 'cpu') return mask;
  const moved = mask.to(device);
  mask.dispose();
  return moved;
}

/**
 * Symmetric InfoNCE: (CE(logits, diag) + CE(logits^T, diag)) / 2 with
 * logits = min(exp(logitScale), 100) * a @ b^T, and same-note off-diagonal logits set to -inf
 * (probability exactly 0, so the loss equals the loss with the duplicate absent from the
 * negatives of that row/column). Pass noteGroup = null for no masking.
 *
 * a, b: (B, E) L2-normalized; logitScale: 0-d. Returns a 0-d tensor.
 * @example infoNce(imageEmb, textEmb, logitScale, Int32Array.from([0, 1, 1]))
 */
export function infoNce(a: Tensor, b: Tensor, logitScale: Tensor, noteGroup: Int32Array | null): Tensor {
  const [n, e] = a.shape;
  const [nb, eb] = b.shape;
  if (a.ndim !== 2 || b.ndim !== 2 || n !== nb || e !== eb) {
    throw new Error(`infoNce: embeddings must both be (B, E); got [${a.shape.join(', ')}] and [${b.shape.join(', ')}]`);
  }
  if (logitScale.numel !== 1) throw new Error(`infoNce: logitScale must have one element, got shape [${logitScale.shape.join(', ')}]`);
  if (noteGroup !== null && noteGroup.length !== n) {
    throw new Error(`infoNce: noteGroup has ${noteGroup.length} entries for a batch of ${n}`);
  }
  const device = a.device;
  const scale = logitScale.exp().clamp(undefined, LOGIT_SCALE_MAX); // 0-d
  let logits = a.matmul(b.transpose(0, 1)).mul(scale); // (B, B): row i = a_i against every b_j
  const mask = noteGroup === null ? null : sameNoteMask(noteGroup, device);
  if (mask !== null) logits = logits.maskedFill(mask, -Infinity); // mask is symmetric: both directions
  const target = Tensor.arange(0, n as number, 1, 'int64', device); // (B): the diagonal
  const aToB = crossEntropy(logits, target);
  const bToA = crossEntropy(logits.transpose(0, 1), target);
  return aToB.add(bToA).mul(0.5);
}

/**
 * InfoNCE for each contrastive pair whose embeddings are both present in `out`; pairs with a
 * null side are skipped (absent from the result).
 * @example contrastiveLosses(out, batch) // { imageText: Tensor, textTabular: Tensor }
 */
export function contrastiveLosses(out: ModelOutput, batch: Batch, only?: ReadonlySet<ContrastivePart>): Partial<Record<ContrastivePart, Tensor>> {
  const res: Partial<Record<ContrastivePart, Tensor>> = {};
  for (const [name, ka, kb] of CONTRASTIVE_PAIRS) {
    if (only !== undefined && !only.has(name)) continue;
    const a = out[ka];
    const b = out[kb];
    if (a === null || b === null) continue;
    res[name] = infoNce(a, b, out.logitScale, batch.noteGroup);
  }
  return res;
}
