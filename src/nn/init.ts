/**
 * Parameter initializers drawing from libtorch's global generator (seed it with `manualSeed`).
 * Each makes exactly one tensor (no temporaries), so building a model allocates only its weights.
 *
 * @example const w = normal([768, 768], 0.02); // BERT/ViT's N(0, 0.02) init
 */
import { Tensor, type DType } from '../tensor/index.js';

/** N(0, std) of the given shape. */
export function normal(shape: readonly number[], std: number, dtype: DType = 'float32'): Tensor {
  return Tensor.zeros(shape, dtype).normal_(0, std);
}

/** Zeros (biases, LayerNorm shifts). */
export function zeros(shape: readonly number[], dtype: DType = 'float32'): Tensor {
  return Tensor.zeros(shape, dtype);
}

/** Ones (LayerNorm scales). */
export function ones(shape: readonly number[], dtype: DType = 'float32'): Tensor {
  return Tensor.ones(shape, dtype);
}

/** A 0-d tensor holding `v` (e.g. CLIP's logit scale). */
export function constant(v: number, dtype: DType = 'float32'): Tensor {
  return Tensor.full([], v, dtype);
}
