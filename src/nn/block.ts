/**
 * Transformer blocks: self-attention and MLP with residuals, LayerNorm placed before (pre-norm:
 * ViT, the fusion transformer, the MAE decoder) or after (post-norm: BERT) each residual branch.
 *
 * @example
 *   const b = new PreNormBlock({ dim: 768, heads: 12, mlpDim: 3072, eps: 1e-12 });
 *   const y = b.forward(x, null); // (B, T, 768) -> (B, T, 768)
 */
import { dropout, type Tensor } from '../tensor/index.js';
import { MultiHeadSelfAttention } from './attention.js';
import { LayerNorm } from './layer-norm.js';
import { Mlp } from './mlp.js';
import { Module } from './module.js';

export interface BlockConfig {
  dim: number;
  heads: number;
  /** Hidden width of the MLP (usually 4 * dim). */
  mlpDim: number;
  /** LayerNorm eps. */
  eps: number;
  /** Dropout on each residual branch's output during training (BERT hidden_dropout_prob). */
  dropout?: number;
  /** Dropout on attention probabilities during training. */
  attnDropout?: number;
}

/** A block's output with its attention probabilities (B, H, T, T). */
export interface BlockResult {
  out: Tensor;
  probs: Tensor;
}

abstract class Block extends Module {
  readonly norm1: LayerNorm;
  readonly attn: MultiHeadSelfAttention;
  readonly norm2: LayerNorm;
  readonly mlp: Mlp;
  readonly dropout: number;

  constructor(c: BlockConfig) {
    super();
    this.dropout = c.dropout ?? 0;
    // Registration order = checkpoint order: norm1, attn, norm2, mlp.
    this.norm1 = this.child('norm1', new LayerNorm(c.dim, c.eps));
    this.attn = this.child('attn', new MultiHeadSelfAttention(c.dim, c.heads, { attnDropout: c.attnDropout ?? 0 }));
    this.norm2 = this.child('norm2', new LayerNorm(c.dim, c.eps));
    this.mlp = this.child('mlp', new Mlp(c.dim, c.mlpDim));
  }

  /** (B, T, D), key mask (B, T) or null -> (B, T, D). */
  forward(x: Tensor, keyMask: Tensor | null): Tensor {
    const r = this.forwardWithProbs(x, keyMask);
    r.probs.dispose();
    return r.out;
  }

  abstract forwardWithProbs(x: Tensor, keyMask: Tensor | null): BlockResult;

  protected drop(x: Tensor): Tensor {
    return dropout(x, this.dropout, this.training);
  }
}

/** x + attn(LN1(x)), then + mlp(LN2(.)). ViT, fusion, MAE decoder. */
export class PreNormBlock extends Block {
  forwardWithProbs(x: Tensor, keyMask: Tensor | null): BlockResult {
    const a = this.attn.forwardWithProbs(this.norm1.forward(x), keyMask); // (B, T, D)
    const h = x.add(this.drop(a.out)); // (B, T, D)
    const out = h.add(this.drop(this.mlp.forward(this.norm2.forward(h)))); // (B, T, D)
    return { out, probs: a.probs };
  }
}

/** LN1(x + attn(x)), then LN2(. + mlp(.)). BERT (norm1 = attention.output.LayerNorm, norm2 = output.LayerNorm). */
export class PostNormBlock extends Block {
  forwardWithProbs(x: Tensor, keyMask: Tensor | null): BlockResult {
    const a = this.attn.forwardWithProbs(x, keyMask); // (B, T, D)
    const h = this.norm1.forward(x.add(this.drop(a.out))); // (B, T, D)
    const out = this.norm2.forward(h.add(this.drop(this.mlp.forward(h)))); // (B, T, D)
    return { out, probs: a.probs };
  }
}
