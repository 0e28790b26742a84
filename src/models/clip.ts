/**
 * The CLIP baseline: the same image and text towers as Kemt with projections and a logit scale,
 * trained with image-text InfoNCE only. No tabular tower, fusion, heads or reconstruction: those
 * ModelOutput fields are null. Grading is done by a linear probe outside the model.
 *
 * @example
 *   const clip = buildModel({ ...loadPreset('tiny'), architecture: 'clip' }, { vocabSize: 100, tabularDim: 8 });
 *   const out = clip.forward(batch, { training: true, maeMaskRatio: 0, mlmProb: 0 }); // imageEmb, textEmb
 */
import { tidy, type Tensor } from '../tensor/index.js';
import type { ModelConfig } from './config.js';
import { ImageTextTowers, type BuildEnv } from './towers.js';
import type { Batch, ForwardOptions, ModelOutput } from './types.js';
import type { ModelCapabilities } from './capabilities.js';

export class ClipBaseline extends ImageTextTowers {
  /** Image and text only, no heads (grading by a linear probe), InfoNCE only; best checkpoint by t2i R@1. */
  static readonly capabilities: ModelCapabilities = {
    modalities: ['image', 'text'], gradeHeads: false, modalityDropout: false, lossParts: ['imageText'], selectBy: 't2i_r1_dup',
  };
  readonly name = 'clip';
  readonly capabilities = ClipBaseline.capabilities;

  constructor(config: ModelConfig, env: BuildEnv) {
    super(config, env);
  }

  /** Image and text embeddings (null where the batch lacks the modality) and the logit scale. */
  forward(batch: Batch, o: ForwardOptions): ModelOutput {
    this.train(o.training);
    return tidy(() => ({
      imageEmb: batch.images === null ? null : this.imageProj.forward(this.image.pooled(batch.images)), // (B, E)
      textEmb: batch.tokenIds === null ? null : this.textProj.forward(this.text.pooled(batch.tokenIds, batch.attentionMask)), // (B, E)
      tabEmb: null,
      logitScale: this.logitScale.view([]), // () alias: disposing outputs leaves the parameter alive
      fused: null,
      icdrLogits: null,
      sdrgLogits: null,
      imageIcdrLogits: null,
      imageSdrgLogits: null,
      mae: null,
      mlm: null,
    }));
  }

  encodeTabular(_x: Tensor): Tensor {
    throw new Error('ClipBaseline has no tabular tower: encodeTabular is only available on Kemt');
  }
}
