/**
 * Layer normalization over the last dim with a learned scale and shift.
 * eps differs by source: 1e-12 for BERT and Hugging Face ViT, 1e-6 for timm ViT, 1e-5 PyTorch's default.
 *
 * @example new LayerNorm(768, 1e-12).forward(x) // (B, T, 768) -> (B, T, 768)
 */
import { layerNorm, type Tensor } from '../tensor/index.js';
import { ones, zeros } from './init.js';
import { checkDim } from './linear.js';
import { Module } from './module.js';

export class LayerNorm extends Module {
  weight: Tensor;
  bias: Tensor;
  readonly dim: number;
  readonly eps: number;

  constructor(dim: number, eps = 1e-5) {
    super();
    checkDim('LayerNorm dim', dim);
    if (!(eps > 0)) throw new Error(`LayerNorm eps is ${eps}; expected > 0`);
    this.dim = dim;
    this.eps = eps;
    this.weight = this.param('weight', ones([dim]), { decay: false }); // (D)
    this.bias = this.param('bias', zeros([dim]), { decay: false }); // (D)
  }

  /** (..., D) -> (..., D). */
  forward(x: Tensor): Tensor {
    return layerNorm(x, [this.dim], this.weight, this.bias, this.eps);
  }
}
