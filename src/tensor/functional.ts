/**
 * Functional ops over Tensors that take several inputs or options (PyTorch's torch.nn.functional).
 *
 * @example
 *   const y = linear(x, w, b);                      // (B, out) = x (B, in) @ w^T (in, out) + b
 *   const loss = crossEntropy(logits, target, { labelSmoothing: 0.1 });
 */
import type { Handle } from './native.js';
import { Tensor, nativeFn, type Reduction } from './tensor.js';

const f = {
  linear: nativeFn('linear'), conv2d: nativeFn('conv2d'), layerNorm: nativeFn('layerNorm'), groupNorm: nativeFn('groupNorm'), batchNorm: nativeFn('batchNorm'), dropout: nativeFn('dropout'),
  embedding: nativeFn('embedding'), crossEntropy: nativeFn('crossEntropy'), mseLoss: nativeFn('mseLoss'),
  cat: nativeFn('cat'), stack: nativeFn('stack'), oneHot: nativeFn('oneHot'),
};
/** The functional ops' addon functions, for the op recorder (trace.ts) only, as TENSOR_OPS. */
export const FUNCTIONAL_OPS: Record<string, (...args: unknown[]) => unknown> = f;

/** x @ weight^T + bias; weight is (out, in) as in PyTorch. */
export function linear(x: Tensor, weight: Tensor, bias?: Tensor | null): Tensor {
  return new Tensor(f.linear(x.handle, weight.handle, bias?.handle) as Handle);
}

/** 2-D convolution, NCHW; weight (out, in, kh, kw). */
export function conv2d(x: Tensor, weight: Tensor, bias: Tensor | null | undefined, stride: number | [number, number] = 1, padding: number | [number, number] = 0): Tensor {
  const s = typeof stride === 'number' ? [stride, stride] : stride;
  const p = typeof padding === 'number' ? [padding, padding] : padding;
  return new Tensor(f.conv2d(x.handle, weight.handle, bias?.handle, s, p) as Handle);
}

/** Layer normalization over the trailing `normalizedShape` dims. */
export function layerNorm(x: Tensor, normalizedShape: readonly number[], weight?: Tensor | null, bias?: Tensor | null, eps = 1e-5): Tensor {
  return new Tensor(f.layerNorm(x.handle, [...normalizedShape], weight?.handle, bias?.handle, eps) as Handle);
}

/**
 * Group normalization (Wu & He 2018): (N, C, ...) with C split into `numGroups` groups, each
 * normalized over its channels and all spatial positions of one sample; per-channel weight and
 * bias (C). No batch statistics: the same in training and inference, at any batch size.
 */
export function groupNorm(x: Tensor, numGroups: number, weight?: Tensor | null, bias?: Tensor | null, eps = 1e-5): Tensor {
  const C = x.shape[1];
  if (x.shape.length < 2 || C === undefined || !Number.isInteger(numGroups) || numGroups < 1 || C % numGroups !== 0) {
    throw new Error(`groupNorm: input shape [${x.shape.join(', ')}] with ${numGroups} groups; expected (N, C, ...) with C a multiple of the groups`);
  }
  return new Tensor(f.groupNorm(x.handle, numGroups, weight?.handle, bias?.handle, eps) as Handle);
}

export interface BatchNormOptions {
  /** Batch statistics (and a running-statistics update) when true; the running statistics when false. */
  training: boolean;
  /** Running-statistics momentum: running = (1 - momentum) * running + momentum * batch (PyTorch's default 0.1). */
  momentum?: number;
  eps?: number;
}

/**
 * Batch normalization over (N, C, ...) per channel, PyTorch's F.batch_norm (one fused libtorch op and
 * backward). In training, the batch's statistics (biased variance) normalize, and `runningMean` and
 * `runningVar` (C) are updated in place by libtorch (unbiased variance), outside autograd; in eval the
 * running statistics normalize. weight and bias are (C).
 *
 * @example batchNorm(y, rm, rv, w, b, { training: true }) // (B, C, H, W); rm and rv move toward the batch's statistics
 */
export function batchNorm(x: Tensor, runningMean: Tensor, runningVar: Tensor, weight: Tensor | null | undefined,
  bias: Tensor | null | undefined, o: BatchNormOptions): Tensor {
  const C = x.shape[1];
  if (x.shape.length < 2 || C === undefined || runningMean.numel !== C || runningVar.numel !== C) {
    throw new Error(`batchNorm: input shape [${x.shape.join(', ')}] with running statistics of ${runningMean.numel} and ${runningVar.numel} ` +
      'elements; expected (N, C, ...) and C each');
  }
  if (o.training && x.numel / C <= 1) {
    throw new Error(`batchNorm: input shape [${x.shape.join(', ')}] has 1 value per channel; training needs more than 1 (as PyTorch)`);
  }
  return new Tensor(f.batchNorm(x.handle, weight?.handle, bias?.handle, runningMean.handle, runningVar.handle,
    o.training, o.momentum ?? 0.1, o.eps ?? 1e-5) as Handle);
}

/** Inverted dropout; identity when `training` is false or p = 0. */
export function dropout(x: Tensor, p: number, training: boolean): Tensor {
  return new Tensor(f.dropout(x.handle, p, training && p > 0) as Handle);
}

/** Rows of `weight` (V, D) picked by int64 `indices` (...): (..., D). */
export function embedding(weight: Tensor, indices: Tensor): Tensor {
  return new Tensor(f.embedding(weight.handle, indices.handle) as Handle);
}

export interface CrossEntropyOptions {
  /** Per-class weights (C), e.g. inverse frequency for BRSET's 93% grade 0. */
  weight?: Tensor | null;
  /** Targets equal to this are ignored (default -100, as PyTorch). */
  ignoreIndex?: number;
  /** Label smoothing in [0, 1). */
  labelSmoothing?: number;
  reduction?: Reduction;
}

/** Cross-entropy of logits (N, C) against int64 class targets (N). */
export function crossEntropy(logits: Tensor, target: Tensor, o: CrossEntropyOptions = {}): Tensor {
  return new Tensor(f.crossEntropy(logits.handle, target.handle, o.weight?.handle, o.ignoreIndex ?? -100,
    o.labelSmoothing ?? 0, o.reduction ?? 'mean') as Handle);
}

/** Mean squared error. */
export function mseLoss(a: Tensor, b: Tensor, reduction: Reduction = 'mean'): Tensor {
  return new Tensor(f.mseLoss(a.handle, b.handle, reduction) as Handle);
}

/** Concatenate along an existing dim (any dim, negative allowed). */
export function cat(xs: readonly Tensor[], dim = 0): Tensor {
  return new Tensor(f.cat(xs.map((x) => x.handle), dim) as Handle);
}

/** Stack along a new dim. */
export function stack(xs: readonly Tensor[], dim = 0): Tensor {
  return new Tensor(f.stack(xs.map((x) => x.handle), dim) as Handle);
}

/** One-hot int64 (..., numClasses) from int64 indices. */
export function oneHot(indices: Tensor, numClasses: number): Tensor {
  return new Tensor(f.oneHot(indices.handle, numClasses) as Handle);
}
