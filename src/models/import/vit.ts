/**
 * ViT weights from Hugging Face (`ViTModel`, or `ViTForImageClassification` under `vit.`) and
 * timm (`vit_base_patch16_224` style) state dicts, renamed into VisionTransformer's names.
 * timm's fused `attn.qkv` (3D, D) is split into query, key, value rows in that order.
 * Poolers and classifier heads are dropped (listed in `ignored`).
 *
 * LayerNorm eps is not in the weights: HF ViT uses 1e-12, timm 1e-6; set image.layerNormEps.
 *
 * @example
 *   const { tensors } = vitFromHf(readStateDictFile('pytorch_model.bin'));
 *   model.image.loadStateDict(tensors, { source: 'pytorch_model.bin' });
 */
import type { RawTensor } from '../../tensor/io/raw.js';
import { renameKeys, rows, stripPrefix, type Renamed, type Rule } from './rename.js';

const HF_RULES: readonly Rule[] = [
  [/^embeddings\.cls_token$/, 'clsToken'],
  [/^embeddings\.position_embeddings$/, 'posEmb'],
  [/^embeddings\.patch_embeddings\.projection\.(weight|bias)$/, 'patchEmbed.$1'],
  [/^encoder\.layer\.(\d+)\.layernorm_before\.(weight|bias)$/, 'blocks.$1.norm1.$2'],
  [/^encoder\.layer\.(\d+)\.attention\.attention\.(query|key|value)\.(weight|bias)$/, 'blocks.$1.attn.$2.$3'],
  [/^encoder\.layer\.(\d+)\.attention\.output\.dense\.(weight|bias)$/, 'blocks.$1.attn.out.$2'],
  [/^encoder\.layer\.(\d+)\.layernorm_after\.(weight|bias)$/, 'blocks.$1.norm2.$2'],
  [/^encoder\.layer\.(\d+)\.intermediate\.dense\.(weight|bias)$/, 'blocks.$1.mlp.fc1.$2'],
  [/^encoder\.layer\.(\d+)\.output\.dense\.(weight|bias)$/, 'blocks.$1.mlp.fc2.$2'],
  [/^layernorm\.(weight|bias)$/, 'norm.$1'],
];
const HF_IGNORE = [/^pooler\./, /^classifier\./, /^embeddings\.mask_token$/];

/** Hugging Face ViT names -> ours. */
export function vitFromHf(sd: ReadonlyMap<string, RawTensor>): Renamed {
  return renameKeys(stripPrefix(sd, 'vit.'), HF_RULES, HF_IGNORE, 'Hugging Face ViT state dict');
}

const TIMM_RULES: readonly Rule[] = [
  [/^cls_token$/, 'clsToken'],
  [/^pos_embed$/, 'posEmb'],
  [/^patch_embed\.proj\.(weight|bias)$/, 'patchEmbed.$1'],
  [/^blocks\.(\d+)\.(norm1|norm2)\.(weight|bias)$/, 'blocks.$1.$2.$3'],
  [/^blocks\.(\d+)\.attn\.proj\.(weight|bias)$/, 'blocks.$1.attn.out.$2'],
  [/^blocks\.(\d+)\.mlp\.(fc1|fc2)\.(weight|bias)$/, 'blocks.$1.mlp.$2.$3'],
  [/^norm\.(weight|bias)$/, 'norm.$1'],
];
const TIMM_IGNORE = [/^head\./, /^pre_logits\./];
const QKV = /^blocks\.(\d+)\.attn\.qkv\.(weight|bias)$/;

/** timm ViT names -> ours; fused qkv split into query/key/value. */
export function vitFromTimm(sd: ReadonlyMap<string, RawTensor>): Renamed {
  const what = 'timm ViT state dict';
  const split = new Map<string, RawTensor>();
  const rest = new Map<string, RawTensor>();
  for (const [k, t] of sd) {
    const m = QKV.exec(k);
    if (m === null) {
      rest.set(k, t);
      continue;
    }
    const n = t.shape[0] as number;
    if (n % 3 !== 0) throw new Error(`${what}: ${k} has shape [${t.shape.join(', ')}]; expected 3*D rows (q, k, v)`);
    const d = n / 3;
    ['query', 'key', 'value'].forEach((name, i) => split.set(`blocks.${m[1]}.attn.${name}.${m[2]}`, rows(t, i * d, d)));
  }
  const r = renameKeys(rest, TIMM_RULES, TIMM_IGNORE, what);
  for (const [k, t] of split) r.tensors.set(k, t);
  return r;
}

export type VitWeightFormat = 'hf' | 'timm';

/** Renames by the named format. */
export function vitFromFormat(sd: ReadonlyMap<string, RawTensor>, format: VitWeightFormat): Renamed {
  return format === 'hf' ? vitFromHf(sd) : vitFromTimm(sd);
}
