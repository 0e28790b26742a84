/**
 * Runs a model over prepared items (no autograd, eval mode) and returns tensor-free predictions:
 * per-modality embeddings and grade logits/probabilities.
 *
 * @example
 *   const p = await predict(model, items, { imageSize: 96, maxTokens: 64, tabularDim: 40 });
 *   p.imageEmb // (n x dim) Float32Array, L2-normalized
 */
import { Tensor, tidy, noGrad } from '../tensor/index.js';
import type { TrainableModel } from '../models/types.js';
import { collate, disposeBatch, type CollateOptions, type PreparedItem } from './collate.js';

export interface Predictions {
  n: number;
  dim: number;
  imageEmb: Float32Array | null;
  textEmb: Float32Array | null;
  tabEmb: Float32Array | null;
  icdrLogits: Float32Array | null;
  sdrgLogits: Float32Array | null;
  icdrProbs: Float32Array | null;
  sdrgProbs: Float32Array | null;
  /** (n x 5) logits of the image-only grade heads (Kemt), null when the model has none. */
  imageIcdrLogits: Float32Array | null;
}

function concat(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Forward passes in batches; `o.use` leaves modalities out (ablations). */
export async function predict(model: TrainableModel, items: readonly PreparedItem[], o: CollateOptions & { batchSize?: number }): Promise<Predictions> {
  const bs = o.batchSize ?? 64;
  const acc: Record<string, Float32Array[]> = { imageEmb: [], textEmb: [], tabEmb: [], icdrLogits: [], sdrgLogits: [], icdrProbs: [], sdrgProbs: [], imageIcdrLogits: [] };
  const present: Record<string, boolean> = {};
  let dim = 0;
  for (let s = 0; s < items.length; s += bs) {
    const batch = collate(items.slice(s, s + bs), o);
    try {
      noGrad(() => tidy(() => {
        const out = model.forward(batch, { training: false, maeMaskRatio: 0, mlmProb: 0 });
        const put = (k: string, t: Tensor | null): void => {
          present[k] = t !== null && (present[k] ?? true);
          if (t !== null) acc[k]?.push(t.toFloat32());
        };
        put('imageEmb', out.imageEmb);
        put('textEmb', out.textEmb);
        put('tabEmb', out.tabEmb);
        put('icdrLogits', out.icdrLogits);
        put('sdrgLogits', out.sdrgLogits);
        put('icdrProbs', out.icdrLogits?.softmax(-1) ?? null);
        put('sdrgProbs', out.sdrgLogits?.softmax(-1) ?? null);
        put('imageIcdrLogits', out.imageIcdrLogits ?? null);
        const e = out.imageEmb ?? out.textEmb ?? out.tabEmb;
        if (e) dim = e.size(1);
      }));
    } finally {
      disposeBatch(batch);
    }
    // Let V8 release ArrayBuffer backing stores between batches (see src/train/loop.ts).
    await new Promise((r) => setImmediate(r));
  }
  const get = (k: string): Float32Array | null => (present[k] ? concat(acc[k] as Float32Array[]) : null);
  return {
    n: items.length, dim,
    imageEmb: get('imageEmb'), textEmb: get('textEmb'), tabEmb: get('tabEmb'),
    icdrLogits: get('icdrLogits'), sdrgLogits: get('sdrgLogits'), icdrProbs: get('icdrProbs'), sdrgProbs: get('sdrgProbs'),
    imageIcdrLogits: get('imageIcdrLogits'),
  };
}

/** Cosine scores (nq x ng) through the tensor engine: a drop-in ScoreFn for the retrieval metrics. */
export function tensorScores(q: Float32Array, nq: number, g: Float32Array, ng: number, d: number): Float32Array {
  return noGrad(() => tidy(() => Tensor.from(q, [nq, d]).matmul(Tensor.from(g, [ng, d]).transpose(0, 1)).toArray() as Float32Array));
}
