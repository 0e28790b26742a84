/**
 * Convolutional stem for a ViT ("Early convolutions help transformers see better", Xiao et al. 2021):
 * log2(P) stride-2 3x3 convolutions, each followed by a channel LayerNorm and ReLU, then a 1x1
 * convolution to the token width. It maps an image to the same (H/P) x (W/P) token grid as a P x P
 * patch embedding, so the transformer, position embedding, MAE masking and attention maps are
 * unchanged, but the tower starts with locality and translation equivariance: a small ViT trained
 * from scratch on a few hundred photos learns lesions in tens of steps instead of sitting on the
 * chance-loss plateau for hundreds.
 *
 * The norm (`image.stemNorm`) is a BatchNorm ('batch': batch statistics in training, running
 * statistics in inference, saved with the weights as buffers), a GroupNorm ('group': up to 8 groups
 * of channels, each normalized over its channels and the whole feature map) or a LayerNorm over the
 * channels at each pixel ('layer', ConvNeXt's LayerNorm2d). GroupNorm and BatchNorm keep what a
 * per-pixel norm divides away (how much brighter or redder one spot is than the rest of the map): in
 * the PyTorch peer of the small tower trained on the photo alone (300 steps, seed 1, test kappa), a
 * BatchNorm stem reached 0.862, GroupNorm 0.820 and the per-pixel LayerNorm 0.767. Convolutions are
 * He-initialized (fan-in, ReLU gain), which is what lets the stem learn fast; the N(0, 0.02) init of
 * the transformer layers is far too small for a 27-input 3x3 conv.
 *
 * @example new ConvStem(3, 16, 192).forward(images) // (B, 3, 96, 96) -> (B, 36, 192), like PatchEmbed(3, 16, 192)
 */
import { batchNorm, conv2d, groupNorm, layerNorm, tidy, type Tensor } from '../tensor/index.js';
import { normal, ones, zeros } from './init.js';
import { checkDim } from './linear.js';
import { Module } from './module.js';

/** How each stem conv's output is normalized. */
export type StemNorm = 'layer' | 'group' | 'batch';

/** BatchNorm running-statistics momentum (PyTorch's default). */
export const BATCH_NORM_MOMENTUM = 0.1;

/** Groups of a stem GroupNorm over C channels: the largest of 8, 4, 2, 1 that divides C. */
export function stemGroups(C: number): number {
  return [8, 4, 2, 1].find((g) => C % g === 0) as number;
}

/**
 * BatchNorm over (B, C, H, W) per channel: in training, the batch's statistics (biased variance), and
 * the running statistics move toward them in place (momentum 0.1, unbiased variance, as PyTorch's
 * BatchNorm2d); in eval, the running statistics, so a photo's grade does not depend on the others in its batch.
 * Training runs libtorch's fused batch_norm (one op, one autograd node with its fused backward, as the
 * PyTorch peer's F.batch_norm); composed of ten ops (mean, sub, pow, mean, ..., rsqrt, mul, add) it
 * gave the step an autograd node and a temporary per op. Eval keeps the composed formula (it is four cheap ops on (C) tensors and a graph the
 * ONNX exporter reads op by op).
 */
export function batchNorm2d(y: Tensor, runningMean: Tensor, runningVar: Tensor, weight: Tensor, bias: Tensor,
  training: boolean, eps = 1e-5, momentum = BATCH_NORM_MOMENTUM): Tensor {
  if (training) return batchNorm(y, runningMean, runningVar, weight, bias, { training, momentum, eps }); // (B, C, H, W)
  return tidy(() => {
    const C = y.size(1);
    const mean = runningMean.reshape([1, C, 1, 1]); // (1, C, 1, 1)
    const scale = runningVar.reshape([1, C, 1, 1]).add(eps).rsqrt().mul(weight.reshape([1, C, 1, 1])); // (1, C, 1, 1)
    return y.sub(mean).mul(scale).add(bias.reshape([1, C, 1, 1])); // (B, C, H, W)
  });
}

/** One stride-2 3x3 conv (no bias: a norm follows) + channel LayerNorm, GroupNorm or BatchNorm + ReLU. */
class StemLayer extends Module {
  weight: Tensor;
  normWeight: Tensor;
  normBias: Tensor;
  /** BatchNorm running statistics (stemNorm 'batch' only): saved with the weights, never trained. */
  runningMean?: Tensor;
  runningVar?: Tensor;
  readonly out: number;
  readonly norm: StemNorm;

  constructor(inCh: number, outCh: number, norm: StemNorm) {
    super();
    this.out = outCh;
    this.norm = norm;
    this.weight = this.param('weight', normal([outCh, inCh, 3, 3], Math.sqrt(2 / (inCh * 9)))); // (Co, Ci, 3, 3), He init
    this.normWeight = this.param('normWeight', ones([outCh]), { decay: false }); // (Co)
    this.normBias = this.param('normBias', zeros([outCh]), { decay: false }); // (Co)
    if (norm === 'batch') {
      this.runningMean = this.buffer('runningMean', zeros([outCh])); // (Co)
      this.runningVar = this.buffer('runningVar', ones([outCh])); // (Co)
    }
  }

  /** (B, Ci, H, W) -> (B, Co, H/2, W/2). */
  forward(x: Tensor): Tensor {
    return tidy(() => {
      const y = conv2d(x, this.weight, null, 2, 1); // (B, Co, H/2, W/2)
      if (this.norm === 'batch') {
        return batchNorm2d(y, this.runningMean as Tensor, this.runningVar as Tensor, this.normWeight, this.normBias, this.training).relu();
      }
      if (this.norm === 'group') return groupNorm(y, stemGroups(this.out), this.normWeight, this.normBias, 1e-6).relu(); // (B, Co, H/2, W/2)
      const t = y.permute([0, 2, 3, 1]); // (B, H/2, W/2, Co)
      return layerNorm(t, [this.out], this.normWeight, this.normBias, 1e-6).relu().permute([0, 3, 1, 2]); // (B, Co, H/2, W/2)
    });
  }
}

export function stemChannels(patch: number, dim: number): number[] {
  const k = Math.round(Math.log2(patch));
  return Array.from({ length: k }, (_, i) => Math.max(16, Math.floor(dim / 2 ** (k - 1 - i))));
}

export class ConvStem extends Module {
  readonly layers: StemLayer[];
  proj: Tensor;
  projBias: Tensor;
  readonly channels: number;
  readonly patch: number;
  readonly dim: number;

  constructor(channels: number, patch: number, dim: number, norm: StemNorm = 'layer') {
    super();
    checkDim('ConvStem channels', channels);
    checkDim('ConvStem dim', dim);
    if (!Number.isInteger(Math.log2(patch)) || patch < 2) {
      throw new Error(`ConvStem patch is ${patch}; expected a power of 2 >= 2 (one stride-2 conv per halving)`);
    }
    this.channels = channels;
    this.patch = patch;
    this.dim = dim;
    const widths = stemChannels(patch, dim);
    const ins = [channels, ...widths.slice(0, -1)];
    this.layers = this.childList('layers', widths.map((w, i) => new StemLayer(ins[i] as number, w, norm)));
    const last = widths[widths.length - 1] as number;
    this.proj = this.param('proj', normal([dim, last, 1, 1], last ** -0.5)); // (D, C, 1, 1)
    this.projBias = this.param('projBias', zeros([dim])); // (D)
  }

  /** (B, C, H, W) -> (B, (H/P)*(W/P), D), tokens in row-major order (as PatchEmbed). */
  forward(images: Tensor): Tensor {
    const s = images.shape;
    const [, C, H, W] = s as [number, number, number, number];
    if (s.length !== 4 || C !== this.channels || H % this.patch !== 0 || W % this.patch !== 0) {
      throw new Error(`ConvStem: images have shape [${s.join(', ')}]; expected [B, ${this.channels}, H, W] with H and W multiples of ${this.patch}`);
    }
    return tidy(() => {
      let x = images;
      for (const l of this.layers) x = l.forward(x); // (B, C_i, H/2^i, W/2^i)
      return conv2d(x, this.proj, this.projBias, 1, 0).flatten(2).transpose(1, 2); // (B, Np, D)
    });
  }
}
