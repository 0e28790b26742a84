/**
 * What Kemt and the CLIP baseline share: the image tower (ViT), the text tower (BERT), their
 * projections to the shared space, the learnable logit scale, inference-mode encoders and the
 * image attention map. Registration order (= checkpoint order): logitScale, image, text,
 * imageProj, textProj, then the subclass's parts.
 */
import { noGrad, tidy, type Tensor } from '../tensor/index.js';
import { constant, Module } from '../nn/index.js';
import type { ModelConfig } from './config.js';
import { Projection } from './heads.js';
import { BertEncoder, type ResolvedTextConfig } from './text.js';
import type { TrainableModel, ModelOutput, Batch, ForwardOptions } from './types.js';
import { VisionTransformer } from './vit.js';

/** What buildModel needs to know from the data. */
export interface BuildEnv {
  /** Tokenizer vocab size (must equal config.text.vocabSize when that is set). */
  vocabSize: number;
  /** Width of the tabular featurizer's vector. */
  tabularDim: number;
}

export abstract class ImageTextTowers extends Module implements TrainableModel {
  abstract readonly name: string;
  logitScale: Tensor;
  readonly image: VisionTransformer;
  readonly text: BertEncoder;
  readonly imageProj: Projection;
  readonly textProj: Projection;
  readonly config: ModelConfig;
  readonly textConfig: ResolvedTextConfig;
  private decayCache: Map<string, boolean> | null = null;

  constructor(config: ModelConfig, env: BuildEnv) {
    super();
    this.config = config;
    const v = config.text.vocabSize;
    if (v !== null && v !== env.vocabSize) {
      throw new Error(`model config '${config.name}': text.vocabSize is ${v} but the tokenizer has ${env.vocabSize} tokens`);
    }
    this.textConfig = { ...config.text, vocabSize: env.vocabSize };
    this.logitScale = this.param('logitScale', constant(config.logitScaleInit), { decay: false }); // ()
    this.image = this.child('image', new VisionTransformer(config.image));
    this.text = this.child('text', new BertEncoder(this.textConfig));
    this.imageProj = this.child('imageProj', new Projection(config.image.width, config.embedDim));
    this.textProj = this.child('textProj', new Projection(config.text.width, config.embedDim));
  }

  abstract forward(batch: Batch, o: ForwardOptions): ModelOutput;

  /** Weight decay on matrices only (not biases, norms, position/type/cls/mask tokens, scales). */
  decays(name: string, p: Tensor): boolean {
    this.decayCache ??= this.decayFlags();
    return this.decayCache.get(name) ?? p.ndim >= 2;
  }

  /**
   * Retrieval embeddings of images, inference mode (eval, no grad): (B, 3, H, W) -> (B, E) unit rows.
   * @example model.encodeImage(images).matmul(model.encodeText(ids, mask).transpose(0, 1)) // (B, B) cosine
   */
  encodeImage(images: Tensor): Tensor {
    return this.inference(() => this.imageProj.forward(this.image.pooled(images)));
  }

  /** Retrieval embeddings of notes, inference mode: ids (B, L), mask (B, L) or null -> (B, E). */
  encodeText(ids: Tensor, mask: Tensor | null): Tensor {
    return this.inference(() => this.textProj.forward(this.text.pooled(ids, mask)));
  }

  /** Retrieval embeddings of patient records (B, F) -> (B, E); throws for models without a tabular tower. */
  abstract encodeTabular(x: Tensor): Tensor;

  /**
   * Attention rollout of the image tower, [CLS] over patches, inference mode: (B, 3, H, W) -> (B, Np),
   * rows sum to 1; reshape to (B, H/P, W/P) for a heatmap.
   */
  imageAttention(images: Tensor): Tensor {
    return this.inference(() => this.image.attentionRollout(images));
  }

  /** Runs fn in eval mode without autograd, restoring the train flag. */
  protected inference<R>(fn: () => R): R {
    const was = this.training;
    this.eval();
    try {
      return noGrad(() => tidy(fn));
    } finally {
      this.train(was);
    }
  }
}
