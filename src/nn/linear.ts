/**
 * Linear layer: y = x W^T + b, W (out, in) as in PyTorch (so checkpoints load unchanged).
 *
 * @example
 *   const fc = new Linear(768, 3072);
 *   const y = fc.forward(x); // (B, T, 768) -> (B, T, 3072)
 */
import { linear, type Tensor } from '../tensor/index.js';
import { normal, zeros } from './init.js';
import { Module } from './module.js';

export interface LinearOptions {
  /** Add a bias (default true). */
  bias?: boolean;
  /** Std of the N(0, std) weight init (default 0.02, as BERT and ViT). */
  std?: number;
}

export class Linear extends Module {
  weight: Tensor;
  bias: Tensor | null;
  readonly inFeatures: number;
  readonly outFeatures: number;

  constructor(inFeatures: number, outFeatures: number, o: LinearOptions = {}) {
    super();
    checkDim('Linear inFeatures', inFeatures);
    checkDim('Linear outFeatures', outFeatures);
    this.inFeatures = inFeatures;
    this.outFeatures = outFeatures;
    this.weight = this.param('weight', normal([outFeatures, inFeatures], o.std ?? 0.02)); // (out, in)
    this.bias = (o.bias ?? true) ? this.param('bias', zeros([outFeatures])) : null; // (out)
  }

  /** (..., in) -> (..., out). */
  forward(x: Tensor): Tensor {
    return linear(x, this.weight, this.bias);
  }
}

/** Throws unless `v` is a positive integer. */
export function checkDim(what: string, v: number): void {
  if (!Number.isInteger(v) || v < 1) throw new Error(`${what} is ${v}; expected a positive integer`);
}
