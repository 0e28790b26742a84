/**
 * MAE-style masked-patch reconstruction (He et al. 2022): per-sample random masking (the encoder
 * sees only the visible patches), a light pre-norm decoder that re-inserts a learned mask token at
 * the masked positions, and a per-patch pixel prediction (P*P*C values, row-major pixel order with
 * channels last, matching `patchify`). The decoder's position embedding is learned.
 *
 * @example
 *   const m = randomMasking(B, 16, 0.75);                   // keep (B, 4), idsRestore (B, 16), mask (B, 16)
 *   const latent = vit.forward(images, m.keep);             // (B, 1 + 4, D)
 *   const pred = decoder.forward(latent, m.idsRestore);     // (B, 16, P*P*3)
 *   const target = patchify(images, 8);                     // (B, 16, P*P*3)
 */
import { cat, Tensor, tidy, type Device } from '../tensor/index.js';
import { LayerNorm, Linear, Module, normal, PreNormBlock } from '../nn/index.js';
import type { MaeDecoderConfig } from './config.js';

export interface PatchMasking {
  /** (B, Nk) int64 indices of the visible patches (ascending noise order). */
  keep: Tensor;
  /** (B, Np) int64: position of each original patch in [visible..., masked...] order. */
  idsRestore: Tensor;
  /** (B, Np) float32, 1 = masked, 0 = visible. */
  mask: Tensor;
}

/** Visible patches per sample: floor(Np * (1 - ratio)), at least 1. */
export function numVisible(numPatches: number, ratio: number): number {
  if (!(ratio >= 0 && ratio < 1)) throw new Error(`MAE mask ratio is ${ratio}; expected a number in [0, 1)`);
  return Math.max(1, Math.floor(numPatches * (1 - ratio)));
}

/** Per-sample random masking from uniform noise sorted per row (libtorch's seeded generator). */
export function randomMasking(batch: number, numPatches: number, ratio: number, device: Device = 'cpu'): PatchMasking {
  const nKeep = numVisible(numPatches, ratio);
  return tidy(() => {
    const noise = Tensor.rand([batch, numPatches], 'float32', device); // (B, Np)
    const idsShuffle = noise.sort(1).indices; // (B, Np): patches in ascending noise; first nKeep are kept
    const idsRestore = idsShuffle.sort(1).indices; // (B, Np): inverse permutation
    const keep = idsShuffle.narrow(1, 0, nKeep).contiguous(); // (B, Nk)
    const shuffledMask = Tensor.arange(0, numPatches, 1, 'int64', device).ge(nKeep).to('float32'); // (Np)
    const mask = shuffledMask.unsqueeze(0).expand([batch, numPatches]).gather(1, idsRestore); // (B, Np)
    return { keep, idsRestore, mask };
  });
}

/** (B, C, H, W) -> (B, (H/P)*(W/P), P*P*C): patches row-major, pixels row-major, channels last. */
export function patchify(images: Tensor, patch: number): Tensor {
  const [B, C, H, W] = images.sizes(4);
  const h = H / patch;
  const w = W / patch;
  if (!Number.isInteger(h) || !Number.isInteger(w)) throw new Error(`patchify: image ${H}x${W} is not a multiple of patch ${patch}`);
  return tidy(() => images
    .reshape([B, C, h, patch, w, patch]) // (B, C, h, P, w, P)
    .permute([0, 2, 4, 3, 5, 1]) // (B, h, w, P, P, C)
    .reshape([B, h * w, patch * patch * C])); // (B, Np, P*P*C)
}

export class MaeDecoder extends Module {
  maskToken: Tensor;
  posEmb: Tensor;
  readonly embed: Linear;
  readonly blocks: PreNormBlock[];
  readonly norm: LayerNorm;
  readonly pred: Linear;
  readonly numPatches: number;

  /** encoderWidth: the ViT's D; patchValues: P*P*C. */
  constructor(c: MaeDecoderConfig, encoderWidth: number, numPatches: number, patchValues: number) {
    super();
    this.numPatches = numPatches;
    this.maskToken = this.param('maskToken', normal([1, 1, c.width], 0.02), { decay: false }); // (1, 1, Dd)
    this.posEmb = this.param('posEmb', normal([1, 1 + numPatches, c.width], 0.02), { decay: false }); // (1, 1+Np, Dd)
    this.embed = this.child('embed', new Linear(encoderWidth, c.width));
    this.blocks = this.childList('blocks', Array.from({ length: c.layers }, () =>
      new PreNormBlock({ dim: c.width, heads: c.heads, mlpDim: c.mlpDim, eps: c.layerNormEps })));
    this.norm = this.child('norm', new LayerNorm(c.width, c.layerNormEps));
    this.pred = this.child('pred', new Linear(c.width, patchValues));
  }

  /** latent (B, 1 + Nk, D) from the ViT on visible patches; idsRestore (B, Np) -> (B, Np, P*P*C). */
  forward(latent: Tensor, idsRestore: Tensor): Tensor {
    return tidy(() => {
      const [B, T] = latent.sizes(3);
      const Np = this.numPatches;
      const Nk = T - 1;
      const x = this.embed.forward(latent); // (B, 1+Nk, Dd)
      const Dd = x.size(2);
      const masks = this.maskToken.expand([B, Np - Nk, Dd]); // (B, Np-Nk, Dd)
      const shuffled = cat([x.narrow(1, 1, Nk), masks], 1); // (B, Np, Dd): visible then masked
      const ordered = shuffled.gather(1, idsRestore.unsqueeze(2).expand([B, Np, Dd])); // (B, Np, Dd)
      let h = cat([x.narrow(1, 0, 1), ordered], 1).add(this.posEmb); // (B, 1+Np, Dd)
      for (const b of this.blocks) h = b.forward(h, null); // (B, 1+Np, Dd)
      return this.pred.forward(this.norm.forward(h)).narrow(1, 1, Np); // (B, Np, P*P*C)
    });
  }
}
