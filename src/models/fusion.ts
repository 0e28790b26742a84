/**
 * Fusion transformer: one token per modality (image [CLS], text [CLS], tabular token), each
 * projected to the fusion width, plus a learned modality-type embedding; pre-norm blocks whose
 * attention ignores absent modalities; final LayerNorm.
 *
 * Pooling (our choice, documented in the model card): the mean of the present modalities' output
 * tokens. It needs no extra token, gives each present modality equal weight whatever the subset,
 * and a sample with nothing present pools to zeros (finite) instead of NaN.
 *
 * @example
 *   const f = new FusionTransformer(cfg.fusion, [32, 32, 32]);
 *   const { pooled } = f.forward([imgCls, null, tabTok], present); // present (B, 3) bool -> pooled (B, 32)
 */
import { stack, Tensor, tidy } from '../tensor/index.js';
import { LayerNorm, Linear, Module, normal, PreNormBlock } from '../nn/index.js';
import type { FusionConfig } from './config.js';
import { MODALITIES } from './types.js';

/** One token per modality in MODALITIES order (image, text, tabular); null = not computed. */
export type ModalityTokens = [Tensor | null, Tensor | null, Tensor | null];

export interface FusionResult {
  /** (B, 3, W) output tokens (absent ones are meaningless). */
  tokens: Tensor;
  /** (B, W) mean of the present tokens. */
  pooled: Tensor;
  /** (B, 3) bool: presence actually used (batch.present AND token computed). */
  present: Tensor;
}

export class FusionTransformer extends Module {
  typeEmb: Tensor;
  readonly imageIn: Linear;
  readonly textIn: Linear;
  readonly tabularIn: Linear;
  readonly blocks: PreNormBlock[];
  readonly norm: LayerNorm;
  readonly width: number;

  /** inWidths: widths of the image, text and tabular tokens. */
  constructor(c: FusionConfig, inWidths: readonly [number, number, number]) {
    super();
    this.width = c.width;
    this.typeEmb = this.param('typeEmb', normal([MODALITIES.length, c.width], 0.02), { decay: false }); // (3, W)
    this.imageIn = this.child('imageIn', new Linear(inWidths[0], c.width));
    this.textIn = this.child('textIn', new Linear(inWidths[1], c.width));
    this.tabularIn = this.child('tabularIn', new Linear(inWidths[2], c.width));
    this.blocks = this.childList('blocks', Array.from({ length: c.layers }, () =>
      new PreNormBlock({ dim: c.width, heads: c.heads, mlpDim: c.mlpDim, eps: c.layerNormEps, dropout: c.dropout, attnDropout: c.dropout })));
    this.norm = this.child('norm', new LayerNorm(c.width, c.layerNormEps));
  }

  /** tokens: per modality (B, d_m) or null; present (B, 3) bool/0-1 -> tokens, pooled. */
  forward(tokens: ModalityTokens, present: Tensor): FusionResult {
    const s = present.shape;
    if (s.length !== 2 || s[1] !== MODALITIES.length) throw new Error(`FusionTransformer: present has shape [${s.join(', ')}]; expected (B, 3)`);
    const B = s[0] as number;
    return tidy(() => {
      const device = this.typeEmb.device;
      const dtype = this.typeEmb.dtype;
      const projs = [this.imageIn, this.textIn, this.tabularIn];
      const projected = tokens.map((t, i) => {
        if (t === null) return Tensor.zeros([B, this.width], dtype, device); // (B, W), masked out below
        if (t.shape[0] !== B) throw new Error(`FusionTransformer: ${MODALITIES[i]} token batch ${t.shape[0]}, present batch ${B}`);
        return (projs[i] as Linear).forward(t); // (B, W)
      });
      const x = stack(projected, 1).add(this.typeEmb); // (B, 3, W)
      const computed = Tensor.from(tokens.map((t) => t !== null), [MODALITIES.length], 'bool').to(device); // (3)
      const used = (present.dtype === 'bool' ? present : present.ne(0)).logicalAnd(computed); // (B, 3)
      let h = x;
      for (const b of this.blocks) h = b.forward(h, used); // (B, 3, W)
      h = this.norm.forward(h); // (B, 3, W)
      const w = used.to(dtype).unsqueeze(2); // (B, 3, 1)
      const pooled = h.mul(w).sum(1).div(w.sum(1).clamp(1)); // (B, W)
      return { tokens: h, pooled, present: used };
    });
  }
}

