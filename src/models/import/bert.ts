/**
 * BERT weights and config from a local Hugging Face folder (the emilyalsentzer/Bio_ClinicalBERT
 * layout: config.json, vocab.txt, model.safetensors or pytorch_model.bin). Never touches the
 * network. Names map into BertEncoder's (`encoder`) and MlmHead's (`mlmHead`); the MLM decoder
 * weight is tied to the word embeddings, so only `cls.predictions.bias` is read for it. Legacy
 * TF-converted names (LayerNorm.gamma/beta) are accepted. The pooler and the next-sentence head
 * are dropped (listed in `ignored`).
 *
 * @example
 *   const f = loadBertFolder('/models/Bio_ClinicalBERT');
 *   f.config.vocabSize // 28996
 *   model.text.loadStateDict(f.encoder, { source: f.weightsPath });
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RawTensor } from '../../tensor/io/raw.js';
import type { TextConfig } from '../config.js';
import { readStateDictFile } from './files.js';
import { renameKeys, stripPrefix, type Rule } from './rename.js';

const ENCODER_RULES: readonly Rule[] = [
  [/^embeddings\.word_embeddings\.weight$/, 'embeddings.word.weight'],
  [/^embeddings\.position_embeddings\.weight$/, 'embeddings.position.weight'],
  [/^embeddings\.token_type_embeddings\.weight$/, 'embeddings.tokenType.weight'],
  [/^embeddings\.LayerNorm\.(weight|bias)$/, 'embeddings.norm.$1'],
  [/^encoder\.layer\.(\d+)\.attention\.self\.(query|key|value)\.(weight|bias)$/, 'layers.$1.attn.$2.$3'],
  [/^encoder\.layer\.(\d+)\.attention\.output\.dense\.(weight|bias)$/, 'layers.$1.attn.out.$2'],
  [/^encoder\.layer\.(\d+)\.attention\.output\.LayerNorm\.(weight|bias)$/, 'layers.$1.norm1.$2'],
  [/^encoder\.layer\.(\d+)\.intermediate\.dense\.(weight|bias)$/, 'layers.$1.mlp.fc1.$2'],
  [/^encoder\.layer\.(\d+)\.output\.dense\.(weight|bias)$/, 'layers.$1.mlp.fc2.$2'],
  [/^encoder\.layer\.(\d+)\.output\.LayerNorm\.(weight|bias)$/, 'layers.$1.norm2.$2'],
];
const MLM_RULES: readonly Rule[] = [
  [/^cls\.predictions\.transform\.dense\.(weight|bias)$/, 'transform.$1'],
  [/^cls\.predictions\.transform\.LayerNorm\.(weight|bias)$/, 'norm.$1'],
  [/^cls\.predictions\.bias$/, 'bias'],
];
const IGNORE = [/^embeddings\.position_ids$/, /^pooler\./, /^cls\.seq_relationship\./, /^cls\.predictions\.decoder\.(weight|bias)$/];

export interface BertWeights {
  /** BertEncoder names. */
  encoder: Map<string, RawTensor>;
  /** MlmHead names, or null when the checkpoint has no MLM head (a bare BertModel). */
  mlmHead: Map<string, RawTensor> | null;
  /** Source keys dropped on purpose. */
  ignored: string[];
}

/** Hugging Face BERT (BertModel / BertForPreTraining / BertForMaskedLM) names -> ours. */
export function bertFromHf(sd: ReadonlyMap<string, RawTensor>): BertWeights {
  const legacy = new Map<string, RawTensor>();
  for (const [k, v] of stripPrefix(sd, 'bert.')) legacy.set(k.replace(/LayerNorm\.gamma$/, 'LayerNorm.weight').replace(/LayerNorm\.beta$/, 'LayerNorm.bias'), v);
  const mlmKeys = new Map([...legacy].filter(([k]) => MLM_RULES.some(([re]) => re.test(k))));
  const rest = new Map([...legacy].filter(([k]) => !mlmKeys.has(k)));
  const enc = renameKeys(rest, ENCODER_RULES, IGNORE, 'Hugging Face BERT state dict');
  const mlm = mlmKeys.size === 0 ? null : renameKeys(mlmKeys, MLM_RULES, [], 'Hugging Face BERT MLM head').tensors;
  return { encoder: enc.tensors, mlmHead: mlm, ignored: enc.ignored };
}

/**
 * Our TextConfig fields from a Hugging Face BERT config.json object (dropouts included).
 * @example textConfigFromHf(JSON.parse(readFileSync('config.json', 'utf8')), 'config.json').width // 768
 */
export function textConfigFromHf(json: unknown, source: string): TextConfig {
  if (typeof json !== 'object' || json === null) throw new Error(`${source}: expected a JSON object`);
  const o = json as Record<string, unknown>;
  const int = (k: string): number => {
    const v = o[k];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new Error(`${source}: ${k} is ${JSON.stringify(v)}; expected a positive integer`);
    return v;
  };
  const num = (k: string, dflt: number): number => {
    const v = o[k] ?? dflt;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new Error(`${source}: ${k} is ${JSON.stringify(v)}; expected a number >= 0`);
    return v;
  };
  const act = o.hidden_act ?? 'gelu';
  if (act !== 'gelu') throw new Error(`${source}: hidden_act is ${JSON.stringify(act)}; only 'gelu' (erf) is supported`);
  const pe = o.position_embedding_type ?? 'absolute';
  if (pe !== 'absolute') throw new Error(`${source}: position_embedding_type is ${JSON.stringify(pe)}; only 'absolute' is supported`);
  return {
    vocabSize: int('vocab_size'),
    width: int('hidden_size'),
    layers: int('num_hidden_layers'),
    heads: int('num_attention_heads'),
    mlpDim: int('intermediate_size'),
    maxPositions: int('max_position_embeddings'),
    typeVocabSize: int('type_vocab_size'),
    layerNormEps: num('layer_norm_eps', 1e-12),
    dropout: num('hidden_dropout_prob', 0.1),
    attnDropout: num('attention_probs_dropout_prob', 0.1),
    pooling: 'cls', // a pretrained BERT's sentence vector is its [CLS] output
  };
}

/** Architecture fields that must agree between a model's text config and a checkpoint's. */
const ARCH_FIELDS = ['vocabSize', 'width', 'layers', 'heads', 'mlpDim', 'maxPositions', 'typeVocabSize', 'layerNormEps'] as const;

/** Throws, listing every field that differs, unless `ours` can hold the checkpoint's weights exactly. */
export function checkTextConfig(ours: TextConfig & { vocabSize: number }, theirs: TextConfig, source: string): void {
  const diffs = ARCH_FIELDS.filter((k) => ours[k] !== theirs[k]).map((k) => `${k}: model ${ours[k]}, checkpoint ${theirs[k]}`);
  if (diffs.length > 0) throw new Error(`${source} does not match the model's text config:\n  ${diffs.join('\n  ')}`);
}

export interface BertFolder extends BertWeights {
  dir: string;
  configPath: string;
  vocabPath: string;
  weightsPath: string;
  /** The folder's architecture as our TextConfig. */
  config: TextConfig;
}

const WEIGHT_FILES = ['model.safetensors', 'pytorch_model.bin'];

/** Reads a local Hugging Face BERT folder; a missing file is an error naming what was looked for. */
export function loadBertFolder(dir: string): BertFolder {
  const configPath = join(dir, 'config.json');
  const vocabPath = join(dir, 'vocab.txt');
  const weightsPath = WEIGHT_FILES.map((f) => join(dir, f)).find((p) => existsSync(p));
  const missing: string[] = [];
  if (!existsSync(configPath)) missing.push('config.json');
  if (!existsSync(vocabPath)) missing.push('vocab.txt');
  if (weightsPath === undefined) missing.push(`${WEIGHT_FILES.join(' or ')}`);
  if (weightsPath === undefined || missing.length > 0) {
    const what = existsSync(dir) ? `is missing ${missing.join(', ')}` : 'does not exist';
    throw new Error(`BERT folder ${dir} ${what}; expected config.json, vocab.txt and ${WEIGHT_FILES.join(' or ')} ` +
      '(e.g. a local copy of emilyalsentzer/Bio_ClinicalBERT; nothing is downloaded)');
  }
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(configPath, 'utf8'));
  } catch (e) {
    throw new Error(`${configPath}: not valid JSON: ${(e as Error).message}`);
  }
  const config = textConfigFromHf(json, configPath);
  const w = bertFromHf(readStateDictFile(weightsPath));
  return { dir, configPath, vocabPath, weightsPath, config, ...w };
}
