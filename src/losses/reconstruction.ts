/**
 * Reconstruction losses: masked-patch pixel regression (MAE, He et al. 2022) and masked-language
 * modelling cross-entropy (BERT). Both return null when the batch has nothing to score (no masked
 * patch, no selected token): a mean over zero elements is NaN, and with 15% MLM on short notes an
 * empty selection is a normal event, not a divergence.
 *
 * @example
 *   const mae = maskedPatchMse(out.mae);   // 0-d or null
 *   const mlm = mlmCrossEntropy(out.mlm);  // 0-d or null
 */
import { crossEntropy, type Tensor } from '../tensor/index.js';
import type { MaeOutput, MlmOutput } from '../models/types.js';

/** Ignore index for MLM labels and unknown grades, as PyTorch's. */
export const IGNORE_INDEX = -100;

/**
 * MAE loss: per-patch mean squared error over pixels, averaged over masked patches only
 * (sum over masked patches / number of masked patches). Null when no patch is masked.
 * pred, target: (B, Np, K); mask: (B, Np) with 1 = masked.
 * @example maskedPatchMse({ pred, target, mask }) // 0-d
 */
export function maskedPatchMse(mae: MaeOutput): Tensor | null {
  const { pred, target, mask } = mae;
  const ps = pred.shape.join(', ');
  if (pred.ndim !== 3 || ps !== target.shape.join(', ')) {
    throw new Error(`maskedPatchMse: pred [${ps}] and target [${target.shape.join(', ')}] must be equal (B, Np, K)`);
  }
  if (mask.ndim !== 2 || mask.shape[0] !== pred.shape[0] || mask.shape[1] !== pred.shape[1]) {
    throw new Error(`maskedPatchMse: mask [${mask.shape.join(', ')}] must be (B, Np) = [${pred.shape.slice(0, 2).join(', ')}]`);
  }
  const m = mask.dtype === pred.dtype ? mask : mask.to(pred.dtype); // (B, Np)
  const count = m.sum(); // 0-d
  if (count.item() === 0) return null;
  const perPatch = pred.sub(target).pow(2).mean(-1); // (B, Np)
  return perPatch.mul(m).sum().div(count);
}

/**
 * MLM cross-entropy over positions whose label is not -100. Null when none counts.
 * logits: (N, V); labels: (N) int64.
 * @example mlmCrossEntropy({ logits, labels }) // 0-d
 */
export function mlmCrossEntropy(mlm: MlmOutput): Tensor | null {
  const { logits, labels } = mlm;
  if (logits.ndim !== 2 || labels.ndim !== 1 || logits.shape[0] !== labels.shape[0]) {
    throw new Error(`mlmCrossEntropy: logits [${logits.shape.join(', ')}] must be (N, V) over labels [${labels.shape.join(', ')}] (N)`);
  }
  if (labels.shape[0] === 0 || labels.ne(IGNORE_INDEX).sum().item() === 0) return null;
  return crossEntropy(logits, labels, { ignoreIndex: IGNORE_INDEX }); // (N, V) vs (N)
}
