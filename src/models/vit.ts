/**
 * Vision Transformer image encoder (ViT, Dosovitskiy et al. 2021): patch embedding, [CLS] token,
 * learned position embedding, pre-norm blocks, final LayerNorm. With the `paper` preset this is
 * exactly ViT-B/16 at 224 px, so Hugging Face and timm weights load (see import/vit.ts).
 *
 * MAE support: `forward(images, keep)` runs only the visible patches (MAE drops masked patches
 * from the encoder input rather than replacing them).
 *
 * @example
 *   const vit = new VisionTransformer(loadPreset('tiny').image);
 *   const v = vit.pooled(images);           // (B, 32): [CLS] or the patch mean, by image.pooling
 *   const tokens = vit.forward(images);      // (B, 3, 32, 32) -> (B, 1 + 16, 32); [CLS] = tokens[:, 0]
 *   const heat = vit.attentionRollout(images); // (B, 16), rows sum to 1
 */
import { cat, dropout, Tensor, tidy } from '../tensor/index.js';
import { ConvStem, LayerNorm, Module, normal, PatchEmbed, PreNormBlock } from '../nn/index.js';
import { numPatches, type VitConfig } from './config.js';

export class VisionTransformer extends Module {
  clsToken: Tensor;
  posEmb: Tensor;
  /** The token embedder: a P x P patch conv (ViT) or a convolutional stem (image.stem = 'conv'). */
  readonly patchEmbed: PatchEmbed | ConvStem;
  readonly blocks: PreNormBlock[];
  readonly norm: LayerNorm;
  readonly config: VitConfig;
  readonly numPatches: number;

  constructor(c: VitConfig) {
    super();
    this.config = c;
    this.numPatches = numPatches(c);
    const D = c.width;
    this.clsToken = this.param('clsToken', normal([1, 1, D], 0.02), { decay: false }); // (1, 1, D)
    this.posEmb = this.param('posEmb', normal([1, 1 + this.numPatches, D], 0.02), { decay: false }); // (1, 1+Np, D)
    // Registered under one name either way, so position embeddings, blocks and checkpoints line up.
    this.patchEmbed = this.child(c.stem === 'conv' ? 'stem' : 'patchEmbed',
      c.stem === 'conv' ? new ConvStem(c.channels, c.patchSize, D, c.stemNorm) : new PatchEmbed(c.channels, c.patchSize, D));
    this.blocks = this.childList('blocks', Array.from({ length: c.layers }, () =>
      new PreNormBlock({ dim: D, heads: c.heads, mlpDim: c.mlpDim, eps: c.layerNormEps, dropout: c.dropout, attnDropout: c.attnDropout })));
    this.norm = this.child('norm', new LayerNorm(D, c.layerNormEps));
  }

  /**
   * Encoded tokens after the final LayerNorm: (B, 1 + Nk, D), [CLS] first. `keep` (B, Nk) int64
   * lists the visible patch indices per sample (MAE); null = all Np patches.
   */
  forward(images: Tensor, keep: Tensor | null = null): Tensor {
    return tidy(() => {
      let h = this.embed(images, keep); // (B, 1+Nk, D)
      for (const b of this.blocks) h = b.forward(h, null); // (B, 1+Nk, D)
      return this.norm.forward(h); // (B, 1+Nk, D)
    });
  }

  /** The [CLS] token after the final LayerNorm: (B, 3, H, W) -> (B, D). */
  cls(images: Tensor): Tensor {
    return tidy(() => this.forward(images).select(1, 0)); // (B, D)
  }

  /**
   * The photo's vector by image.pooling: the [CLS] token's output, or the mean of the patch tokens'
   * outputs (both after the final LayerNorm). (B, 3, H, W) -> (B, D).
   */
  pooled(images: Tensor): Tensor {
    if (this.config.pooling === 'cls') return this.cls(images);
    return tidy(() => this.forward(images).narrow(1, 1, this.numPatches).mean(1)); // (B, D)
  }

  /** Token embeddings entering block 0: (B, 1 + Nk, D). */
  private embed(images: Tensor, keep: Tensor | null): Tensor {
    const { imageSize, channels } = this.config;
    const s = images.shape;
    if (s.length !== 4 || s[1] !== channels || s[2] !== imageSize || s[3] !== imageSize) {
      throw new Error(`VisionTransformer: images have shape [${s.join(', ')}]; expected [B, ${channels}, ${imageSize}, ${imageSize}] (config image.imageSize)`);
    }
    const B = s[0] as number;
    const D = this.config.width;
    const Np = this.numPatches;
    let patches = this.patchEmbed.forward(images).add(this.posEmb.narrow(1, 1, Np)); // (B, Np, D)
    if (keep !== null) {
      const Nk = keep.size(1);
      patches = patches.gather(1, keep.unsqueeze(2).expand([B, Nk, D])); // (B, Nk, D)
    }
    const cls = this.clsToken.add(this.posEmb.narrow(1, 0, 1)).expand([B, 1, D]); // (B, 1, D)
    return dropout(cat([cls, patches], 1), this.config.dropout, this.training); // (B, 1+Nk, D)
  }

  /**
   * Attention rollout (Abnar & Zuidema 2020) over all blocks: per block, heads averaged and the
   * residual added as (A + I) / 2, multiplied from the first block to the last; returns the row of
   * the pooled vector over the patches (the [CLS] row, or with image.pooling 'mean' the mean of the
   * patch tokens' rows), renormalized to sum to 1. (B, 3, H, W) -> (B, Np).
   */
  attentionRollout(images: Tensor): Tensor {
    return tidy(() => {
      let h = this.embed(images, null); // (B, T, D), T = 1 + Np
      const T = h.size(1);
      const idx = Tensor.arange(0, T, 1, 'int64', h.device);
      const eye = idx.unsqueeze(1).eq(idx.unsqueeze(0)).to(h.dtype); // (T, T)
      let rollout: Tensor | null = null; // (B, T, T)
      for (const b of this.blocks) {
        const r = b.forwardWithProbs(h, null);
        h = r.out; // (B, T, D)
        const a = r.probs.mean(1).add(eye).mul(0.5); // (B, T, T), rows sum to 1
        rollout = rollout === null ? a : a.matmul(rollout); // (B, T, T)
      }
      if (rollout === null) throw new Error('attentionRollout: the ViT has no blocks');
      const row = this.config.pooling === 'cls'
        ? rollout.select(1, 0).narrow(1, 1, T - 1) // (B, Np)
        : rollout.narrow(1, 1, T - 1).mean(1).narrow(1, 1, T - 1); // (B, Np)
      return row.div(row.sum(1, true)); // (B, Np)
    });
  }
}
