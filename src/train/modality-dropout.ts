/**
 * Modality dropout: per sample, each presented modality is hidden from the fusion with its own
 * probability, so that any subset works at inference (image only is the clinically common case).
 * With `imageOnly` > 0, a sample first shows only its photo with that probability (the clinically
 * common case, and the one where the note cannot stand in for the image).
 * A sample never ends with nothing: if every draw hides everything it presented, one of its
 * presented modalities (chosen by the same generator) is kept.
 *
 * Three uniforms are drawn per sample whatever is present, so the draws of sample i do not depend
 * on what the other samples present.
 *
 * @example
 *   const keep = dropModalities(Uint8Array.from([1,1,1, 1,0,1]), 2, { image: 0.5, text: 0.5, tabular: 0.5 }, rng);
 */
import { Tensor } from '../tensor/index.js';
import { MODALITIES, type Batch, type Modality } from '../models/types.js';
import type { Rng } from '../data/rng.js';

/**
 * Tensor-free core. present: (B * 3) row-major 0/1 flags in MODALITIES order; returns new flags,
 * a subset of `present` with at least one flag per sample. Throws on a sample that presents nothing.
 */
export function dropModalities(present: Uint8Array, batchSize: number, p: Readonly<Record<Modality, number>>, rng: Rng, imageOnly = 0): Uint8Array {
  const m = MODALITIES.length;
  if (present.length !== batchSize * m) throw new Error(`dropModalities: ${present.length} flags for ${batchSize} samples x ${m} modalities`);
  const out = new Uint8Array(present.length);
  const probs = MODALITIES.map((k) => p[k]);
  for (let i = 0; i < batchSize; i++) {
    const had: number[] = [];
    let kept = 0;
    // With probability imageOnly the sample shows the fusion its photo alone (one extra draw per sample, only when on).
    const photoOnly = imageOnly > 0 && rng.uniform() < imageOnly && present[i * m] === 1;
    for (let j = 0; j < m; j++) {
      const u = rng.uniform();
      if (photoOnly) {
        if (j === 0) {
          out[i * m] = 1;
          kept++;
          had.push(0);
        }
        continue;
      }
      if (present[i * m + j] === 0) continue;
      had.push(j);
      if (u >= (probs[j] as number)) {
        out[i * m + j] = 1;
        kept++;
      }
    }
    if (had.length === 0) throw new Error(`modality dropout: sample ${i} of the batch presents no modality (present row is all 0)`);
    if (kept === 0) out[i * m + (rng.pick(had))] = 1;
  }
  return out;
}

/**
 * The batch with `present` replaced by the dropped-out flags (a new (B, 3) bool tensor on the same
 * device; the old one is not disposed). Modalities whose input is null count as absent.
 * Returns the batch unchanged when every probability is 0.
 */
export function applyModalityDropout(batch: Batch, p: Readonly<Record<Modality, number>>, rng: Rng, imageOnly = 0): Batch {
  if (MODALITIES.every((k) => p[k] === 0) && imageOnly === 0) return batch;
  const flags = batch.present.to('cpu', 'uint8');
  const present = Uint8Array.from(flags.toArray() as Uint8Array);
  flags.dispose();
  const inputs: Record<Modality, unknown> = { image: batch.images, text: batch.tokenIds, tabular: batch.tabular };
  MODALITIES.forEach((k, j) => {
    if (inputs[k] === null) for (let i = 0; i < batch.size; i++) present[i * MODALITIES.length + j] = 0;
  });
  const kept = dropModalities(present, batch.size, p, rng, imageOnly);
  let t = Tensor.from(kept, [batch.size, MODALITIES.length], 'bool');
  const device = batch.present.device;
  if (device !== 'cpu') {
    const moved = t.to(device as 'cuda');
    t.dispose();
    t = moved;
  }
  return { ...batch, present: t };
}
