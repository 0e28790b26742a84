/**
 * Loads pretrained tower weights into a built model: a ViT checkpoint (HF or timm) into the image
 * tower and a local BERT folder into the text tower (plus Kemt's MLM head when present).
 * Architecture mismatches fail before any weight is copied.
 *
 * @example
 *   const model = buildModel(loadPreset('paper'), { vocabSize: tok.vocabSize, tabularDim, specialIds: tok });
 *   loadPretrainedImage(model, '/models/vit-base-patch16-224/pytorch_model.bin', 'hf');
 *   loadPretrainedText(model, '/models/Bio_ClinicalBERT');
 */
import type { ImageTextTowers } from '../towers.js';
import { Kemt } from '../kemt.js';
import { checkTextConfig, loadBertFolder } from './bert.js';
import { readStateDictFile } from './files.js';
import { vitFromFormat, type VitWeightFormat } from './vit.js';

/** Copies ViT weights into model.image; returns the dropped source keys. */
export function loadPretrainedImage(model: ImageTextTowers, path: string, format: VitWeightFormat): string[] {
  if (model.config.image.stem !== 'patch') {
    throw new Error(`${path}: pretrained ViT weights need image.stem 'patch' (a P x P patch embedding); this model's preset has stem '${model.config.image.stem}'`);
  }
  const r = vitFromFormat(readStateDictFile(path), format);
  model.image.loadStateDict(r.tensors, { source: `${path} (${format} ViT)` });
  return r.ignored;
}

/** Copies a BERT folder's weights into model.text (and Kemt's mlmHead); returns the dropped keys. */
export function loadPretrainedText(model: ImageTextTowers, dir: string): string[] {
  const f = loadBertFolder(dir);
  checkTextConfig(model.textConfig, f.config, f.configPath);
  model.text.loadStateDict(f.encoder, { source: f.weightsPath });
  if (model instanceof Kemt) {
    if (f.mlmHead === null) return [...f.ignored, '(no MLM head in the checkpoint: mlmHead keeps its initialization)'];
    model.mlmHead.loadStateDict(f.mlmHead, { source: `${f.weightsPath} (cls.predictions)` });
  }
  return f.ignored;
}
