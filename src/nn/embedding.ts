/**
 * Embedding table: rows of a (num, dim) matrix picked by integer ids.
 *
 * @example new Embedding(28996, 768).forward(ids) // (B, L) int64 -> (B, L, 768)
 */
import { embedding, type Tensor } from '../tensor/index.js';
import { normal } from './init.js';
import { checkDim } from './linear.js';
import { Module, type ParamOptions } from './module.js';

export interface EmbeddingOptions extends ParamOptions {
  /** Std of the N(0, std) init (default 0.02). */
  std?: number;
}

export class Embedding extends Module {
  weight: Tensor;
  readonly num: number;
  readonly dim: number;

  constructor(num: number, dim: number, o: EmbeddingOptions = {}) {
    super();
    checkDim('Embedding num', num);
    checkDim('Embedding dim', dim);
    this.num = num;
    this.dim = dim;
    this.weight = this.param('weight', normal([num, dim], o.std ?? 0.02), { decay: o.decay }); // (num, D)
  }

  /** (...) integer ids -> (..., D). int32 ids are widened to int64. */
  forward(ids: Tensor): Tensor {
    if (ids.dtype === 'int64') return embedding(this.weight, ids);
    const wide = ids.to('int64');
    try {
      return embedding(this.weight, wide);
    } finally {
      wide.dispose();
    }
  }
}
