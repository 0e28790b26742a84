/**
 * Kemt, the knowledge-enhanced multimodal transformer: ViT image tower, BERT text tower, tabular
 * MLP; per-modality projections to the shared space (the retrieval embeddings, taken BEFORE
 * fusion: after fusion a query would see its target); a fusion transformer over the three
 * modality tokens; ICDR and SDRG classifiers on the fused output; an MAE decoder and BERT's MLM
 * head for reconstruction. Any subset of modalities works (Batch.present plus null inputs).
 *
 * Reconstruction runs extra passes: MAE encodes only the visible patches (a second, cheaper ViT
 * pass) and MLM encodes the masked note (a second BERT pass), so the embeddings and grades always
 * come from the unmasked inputs, exactly as at inference.
 *
 * @example
 *   const model = buildModel(loadPreset('tiny'), { vocabSize: 120, tabularDim: 12 }) as Kemt;
 *   const out = tidy(() => model.forward(batch, { training: true, maeMaskRatio: 0.75, mlmProb: 0.15 }));
 *   const { icdr, sdrg } = model.grade({ ...batch, tokenIds: null, tabular: null }); // image only, (B, 5) probs
 */
import { Tensor, tidy, where } from '../tensor/index.js';
import { Linear } from '../nn/index.js';
import { numPatches, type ModelConfig } from './config.js';
import { FusionTransformer } from './fusion.js';
import { NUM_GRADES, Projection } from './heads.js';
import { MaeDecoder, patchify, randomMasking } from './mae.js';
import { maskTokens, MlmHead, PROJECT_SPECIAL_IDS, selectedPositions, type SpecialIds } from './mlm.js';
import { TabularEncoder } from './tabular.js';
import { ImageTextTowers, type BuildEnv } from './towers.js';
import type { Batch, ForwardOptions, MaeOutput, MlmOutput, ModelOutput } from './types.js';
import type { ModelCapabilities } from './capabilities.js';

/** Kemt also needs the tokenizer's special ids for MLM (default: the project's vocab order). */
export interface KemtEnv extends BuildEnv {
  specialIds?: SpecialIds;
}

/** Grade probabilities on both scales. */
export interface GradeProbs {
  /** (B, 5) softmax over ICDR 0-4. */
  icdr: Tensor;
  /** (B, 5) softmax over SDRG 0-4. */
  sdrg: Tensor;
}

export class Kemt extends ImageTextTowers {
  /** Every input, grade heads on the fusion, every loss part; the best checkpoint has the best ICDR kappa. */
  static readonly capabilities: ModelCapabilities = {
    modalities: ['image', 'text', 'tabular'], gradeHeads: true, modalityDropout: true, lossParts: null, selectBy: 'icdr_kappa',
  };
  readonly name = 'kemt';
  readonly capabilities = Kemt.capabilities;
  readonly tabular: TabularEncoder;
  readonly tabProj: Projection;
  readonly fusion: FusionTransformer;
  readonly icdrHead: Linear;
  readonly sdrgHead: Linear;
  readonly mlmHead: MlmHead;
  readonly maeDecoder: MaeDecoder;
  /** Image-only grade heads on the image [CLS] token (before fusion): the photo's own reading. */
  readonly icdrImageHead: Linear;
  readonly sdrgImageHead: Linear;
  readonly specialIds: SpecialIds;

  constructor(config: ModelConfig, env: KemtEnv) {
    super(config, env);
    const ids = env.specialIds ?? PROJECT_SPECIAL_IDS;
    this.specialIds = { padId: ids.padId, clsId: ids.clsId, sepId: ids.sepId, maskId: ids.maskId };
    const c = config;
    this.tabular = this.child('tabular', new TabularEncoder(c.tabular, env.tabularDim));
    this.tabProj = this.child('tabProj', new Projection(c.tabular.width, c.embedDim));
    this.fusion = this.child('fusion', new FusionTransformer(c.fusion, [c.image.width, c.text.width, c.tabular.width]));
    this.icdrHead = this.child('icdrHead', new Linear(c.fusion.width, NUM_GRADES));
    this.sdrgHead = this.child('sdrgHead', new Linear(c.fusion.width, NUM_GRADES));
    this.mlmHead = this.child('mlmHead', new MlmHead(c.text.width, this.textConfig.vocabSize, c.text.layerNormEps));
    const P = c.image.patchSize;
    this.maeDecoder = this.child('maeDecoder', new MaeDecoder(c.mae, c.image.width, numPatches(c.image), P * P * c.image.channels));
    this.icdrImageHead = this.child('icdrImageHead', new Linear(c.image.width, NUM_GRADES));
    this.sdrgImageHead = this.child('sdrgImageHead', new Linear(c.image.width, NUM_GRADES));
  }

  forward(batch: Batch, o: ForwardOptions): ModelOutput {
    this.train(o.training);
    const f = o.reconFraction ?? 1;
    if (!(f > 0 && f <= 1)) throw new Error(`Kemt.forward: reconFraction is ${f}; expected a number in (0, 1]`);
    const nRecon = Math.ceil(f * batch.size);
    const head = (t: Tensor): Tensor => (nRecon >= batch.size ? t : t.narrow(0, 0, nRecon)); // the side passes' sub-batch
    return tidy(() => {
      const imgVec = batch.images === null ? null : this.image.pooled(batch.images); // (B, Di)
      const txtCls = batch.tokenIds === null ? null : this.text.pooled(batch.tokenIds, batch.attentionMask); // (B, Dt)
      const tabTok = batch.tabular === null ? null : this.tabular.forward(batch.tabular); // (B, Dtab)
      const fused = this.fusion.forward([imgVec, txtCls, tabTok], batch.present).pooled; // (B, W)
      const imageIcdr = imgVec === null ? null : this.icdrImageHead.forward(imgVec); // (B, 5)
      const imageSdrg = imgVec === null ? null : this.sdrgImageHead.forward(imgVec); // (B, 5)
      // A photo alone at inference (no note and no record, by null inputs or by batch.present) is
      // graded by the image-only heads, which every training sample teaches; the fusion of a single
      // token only sees the photo alone on the samples that modality dropout picks.
      const photoOnly = o.training || imgVec === null ? null : this.photoOnlyRows(batch, txtCls !== null, tabTok !== null); // (B, 1) bool
      const grade = (img: Tensor | null, fusedLogits: Tensor): Tensor => (photoOnly === null ? fusedLogits : where(photoOnly, img as Tensor, fusedLogits)); // (B, 5)
      return {
        imageEmb: imgVec === null ? null : this.imageProj.forward(imgVec), // (B, E)
        textEmb: txtCls === null ? null : this.textProj.forward(txtCls), // (B, E)
        tabEmb: tabTok === null ? null : this.tabProj.forward(tabTok), // (B, E)
        logitScale: this.logitScale.view([]), // () alias: disposing outputs leaves the parameter alive
        fused,
        icdrLogits: grade(imageIcdr, this.icdrHead.forward(fused)), // (B, 5)
        sdrgLogits: grade(imageSdrg, this.sdrgHead.forward(fused)), // (B, 5)
        imageIcdrLogits: imageIcdr, // (B, 5)
        imageSdrgLogits: imageSdrg, // (B, 5)
        mae: batch.images !== null && o.maeMaskRatio > 0 ? this.mae(head(batch.images), o.maeMaskRatio) : null,
        mlm: batch.tokenIds !== null && o.mlmProb > 0 ? this.mlm(head(batch.tokenIds) as Tensor, batch.attentionMask && head(batch.attentionMask), o.mlmProb) : null,
      };
    });
  }

  /** (B, 1) bool: the samples that present their image and nothing else (null inputs count as absent). */
  private photoOnlyRows(batch: Batch, hasText: boolean, hasTabular: boolean): Tensor {
    return tidy(() => {
      const col = (j: number): Tensor => batch.present.narrow(1, j, 1); // (B, 1)
      let rows = col(0);
      if (hasText) rows = rows.logicalAnd(col(1).logicalNot());
      if (hasTabular) rows = rows.logicalAnd(col(2).logicalNot());
      return rows;
    });
  }

  /** Masked-patch reconstruction: the ViT on visible patches, the decoder on all positions. */
  private mae(images: Tensor, ratio: number): MaeOutput {
    const B = images.size(0);
    const m = randomMasking(B, this.image.numPatches, ratio, images.device);
    const latent = this.image.forward(images, m.keep); // (B, 1+Nk, Di)
    return {
      pred: this.maeDecoder.forward(latent, m.idsRestore), // (B, Np, P*P*3)
      target: patchify(images, this.config.image.patchSize), // (B, Np, P*P*3)
      mask: m.mask, // (B, Np)
    };
  }

  /**
   * Masked-token prediction on a masked copy of the note. Only the selected positions go through the
   * head: logits (M, V), not (B, L, V). At the paper preset (batch 32, 128 tokens, 28,996 word pieces)
   * the full logits were ~475 MB, and as much again for their gradient; M is ~15% of the real tokens.
   */
  private mlm(ids: Tensor, attentionMask: Tensor | null, prob: number): MlmOutput {
    const mask = attentionMask ?? Tensor.ones(ids.shape, 'int64', ids.device); // (B, L)
    const m = maskTokens(ids, mask, prob, this.specialIds, this.textConfig.vocabSize);
    const h = this.text.forward(m.input, mask); // (B, L, Dt)
    const flat = m.labels.reshape([-1]); // (B*L)
    const pos = selectedPositions(flat); // (M)
    const rows = h.reshape([-1, h.size(2)]).indexSelect(0, pos); // (M, Dt)
    return { logits: this.mlmHead.forward(rows, this.text.embeddings.word.weight), labels: flat.indexSelect(0, pos) }; // (M, V), (M)
  }

  /**
   * Grade probabilities from any subset of modalities (inference mode). Inputs that are null, or
   * not marked in batch.present, are left out of the fusion.
   * @example model.grade({ ...batch, tokenIds: null, attentionMask: null, tabular: null }).icdr // (B, 5)
   */
  grade(batch: Batch): GradeProbs {
    return this.inference(() => {
      const out = this.forward(batch, { training: false, maeMaskRatio: 0, mlmProb: 0 });
      return { icdr: (out.icdrLogits as Tensor).softmax(-1), sdrg: (out.sdrgLogits as Tensor).softmax(-1) };
    });
  }

  /** Retrieval embeddings of patient records, inference mode: (B, F) -> (B, E). */
  encodeTabular(x: Tensor): Tensor {
    return this.inference(() => this.tabProj.forward(this.tabular.forward(x)));
  }
}
