/**
 * The transformer's feed-forward part: Linear -> GELU (erf, as BERT and ViT) -> dropout -> Linear.
 *
 * @example new Mlp(768, 3072).forward(x) // (B, T, 768) -> (B, T, 768)
 */
import { dropout, type Tensor } from '../tensor/index.js';
import { Linear } from './linear.js';
import { Module } from './module.js';

export interface MlpOptions {
  /** Output width (default: the input width). */
  outDim?: number;
  /** Dropout after the activation during training (default 0). */
  dropout?: number;
}

export class Mlp extends Module {
  readonly fc1: Linear;
  readonly fc2: Linear;
  readonly dropout: number;

  constructor(dim: number, hidden: number, o: MlpOptions = {}) {
    super();
    this.dropout = o.dropout ?? 0;
    this.fc1 = this.child('fc1', new Linear(dim, hidden));
    this.fc2 = this.child('fc2', new Linear(hidden, o.outDim ?? dim));
  }

  /** (..., dim) -> (..., outDim). */
  forward(x: Tensor): Tensor {
    const h = this.fc1.forward(x).gelu('none'); // (..., hidden)
    return this.fc2.forward(dropout(h, this.dropout, this.training)); // (..., outDim)
  }
}
