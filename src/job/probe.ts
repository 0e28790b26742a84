/**
 * Linear probe: multinomial logistic regression on frozen embeddings, trained with the tensor
 * engine. Used to grade with the CLIP baseline (which has no grade heads), as the paper's
 * baseline protocol implies.
 *
 * @example
 *   const probe = fitLinearProbe(trainEmb, trainLabels, dim, 5, { seed: 1 });
 *   const probs = probe.predictProbs(testEmb); // (n x 5) row-major
 */
import { Tensor, tidy, noGrad, linear, crossEntropy, AdamW, manualSeed } from '../tensor/index.js';

export interface ProbeOptions {
  seed: number;
  steps?: number;
  lr?: number;
  weightDecay?: number;
  /** Inverse-frequency class weights (BRSET is 93% grade 0). */
  classWeights?: boolean;
}

export interface LinearProbe {
  /** (n x classes) probabilities, row-major. */
  predictProbs(emb: Float32Array): Float32Array;
  /** (n x classes) logits, row-major. */
  predictLogits(emb: Float32Array): Float32Array;
  weights(): { w: Float32Array; b: Float32Array };
}

/** Fits a probe on (n x dim) embeddings and integer labels in [0, classes); labels < 0 are ignored. */
export function fitLinearProbe(emb: Float32Array, labels: Int32Array, dim: number, classes: number, o: ProbeOptions): LinearProbe {
  const keep: number[] = [];
  labels.forEach((y, i) => { if (y >= 0) keep.push(i); });
  if (keep.length === 0) throw new Error('fitLinearProbe: no labelled training items');
  const xs = new Float32Array(keep.length * dim);
  const ys = new BigInt64Array(keep.length);
  const counts = new Array<number>(classes).fill(0);
  keep.forEach((i, r) => {
    xs.set(emb.subarray(i * dim, (i + 1) * dim), r * dim);
    const y = labels[i] as number;
    if (y >= classes) throw new Error(`fitLinearProbe: label ${y} at item ${i} is outside [0, ${classes})`);
    ys[r] = BigInt(y);
    counts[y] = (counts[y] as number) + 1;
  });
  manualSeed(o.seed);
  const w = Tensor.zeros([classes, dim]).requireGrad();
  const b = Tensor.zeros([classes]).requireGrad();
  const x = Tensor.from(xs, [keep.length, dim]);
  const y = Tensor.from(ys, [keep.length]);
  const present = counts.filter((c) => c > 0).length;
  const cw = o.classWeights === false ? null
    : Tensor.from(counts.map((c) => (c > 0 ? keep.length / (present * c) : 0)), [classes]);
  const opt = new AdamW([{ params: [w], weightDecay: o.weightDecay ?? 1e-3 }, { params: [b], weightDecay: 0 }], { lr: o.lr ?? 0.05 });
  const steps = o.steps ?? 300;
  for (let s = 0; s < steps; s++) {
    tidy(() => {
      // full-batch: embeddings are few and small
      crossEntropy(linear(x, w, b), y, { weight: cw }).backward();
      opt.step();
      opt.zeroGrad();
    });
  }
  x.dispose();
  y.dispose();
  cw?.dispose();
  const logits = (e: Float32Array): Float32Array => noGrad(() => tidy(() => {
    const n = e.length / dim;
    if (!Number.isInteger(n)) throw new Error(`probe: embedding length ${e.length} is not a multiple of dim ${dim}`);
    return linear(Tensor.from(e, [n, dim]), w, b).toArray() as Float32Array;
  }));
  return {
    predictLogits: logits,
    predictProbs: (e) => noGrad(() => tidy(() => {
      const l = logits(e);
      return Tensor.from(l, [l.length / classes, classes]).softmax(-1).toArray() as Float32Array;
    })),
    weights: () => ({ w: w.toArray() as Float32Array, b: b.toArray() as Float32Array }),
  };
}
