/**
 * Patch embedding: a conv2d with kernel = stride = patch cuts the image into non-overlapping
 * P x P patches and projects each to `dim` (ViT's patch_embed.proj / HF's patch_embeddings.projection).
 *
 * @example new PatchEmbed(3, 16, 768).forward(images) // (B, 3, 224, 224) -> (B, 196, 768)
 */
import { conv2d, type Tensor } from '../tensor/index.js';
import { normal, zeros } from './init.js';
import { checkDim } from './linear.js';
import { Module } from './module.js';

export class PatchEmbed extends Module {
  weight: Tensor;
  bias: Tensor;
  readonly channels: number;
  readonly patch: number;
  readonly dim: number;

  constructor(channels: number, patch: number, dim: number) {
    super();
    checkDim('PatchEmbed channels', channels);
    checkDim('PatchEmbed patch', patch);
    checkDim('PatchEmbed dim', dim);
    this.channels = channels;
    this.patch = patch;
    this.dim = dim;
    this.weight = this.param('weight', normal([dim, channels, patch, patch], 0.02)); // (D, C, P, P)
    this.bias = this.param('bias', zeros([dim])); // (D)
  }

  /** (B, C, H, W) -> (B, (H/P)*(W/P), D), patches in row-major order. */
  forward(images: Tensor): Tensor {
    const s = images.shape;
    const [, C, H, W] = s as [number, number, number, number];
    if (s.length !== 4 || C !== this.channels || H % this.patch !== 0 || W % this.patch !== 0) {
      throw new Error(`PatchEmbed: images have shape [${s.join(', ')}]; expected [B, ${this.channels}, H, W] with H and W multiples of ${this.patch}`);
    }
    const y = conv2d(images, this.weight, this.bias, this.patch); // (B, D, H/P, W/P)
    return y.flatten(2).transpose(1, 2); // (B, Np, D)
  }
}
