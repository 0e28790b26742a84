/**
 * Tabular encoder: the featurizer's vector (standardized numerics, one-hot categoricals,
 * missing indicators) -> Linear -> GELU -> LayerNorm -> dropout -> Linear -> one token.
 *
 * @example new TabularEncoder(loadPreset('tiny').tabular, 12).forward(x) // (B, 12) -> (B, 32)
 */
import { dropout, tidy, type Tensor } from '../tensor/index.js';
import { LayerNorm, Linear, Module } from '../nn/index.js';
import type { TabularConfig } from './config.js';

export class TabularEncoder extends Module {
  readonly fc1: Linear;
  readonly norm: LayerNorm;
  readonly fc2: Linear;
  readonly config: TabularConfig;
  readonly inputDim: number;

  constructor(c: TabularConfig, inputDim: number) {
    super();
    this.config = c;
    this.inputDim = inputDim;
    this.fc1 = this.child('fc1', new Linear(inputDim, c.hidden));
    this.norm = this.child('norm', new LayerNorm(c.hidden, c.layerNormEps));
    this.fc2 = this.child('fc2', new Linear(c.hidden, c.width));
  }

  /** (B, F) -> (B, width). */
  forward(x: Tensor): Tensor {
    const s = x.shape;
    if (s.length !== 2 || s[1] !== this.inputDim) {
      throw new Error(`TabularEncoder: input has shape [${s.join(', ')}]; expected (B, ${this.inputDim}) (the featurizer's width)`);
    }
    return tidy(() => {
      const h = this.norm.forward(this.fc1.forward(x).gelu('none')); // (B, hidden)
      return this.fc2.forward(dropout(h, this.config.dropout, this.training)); // (B, width)
    });
  }
}
