/**
 * Masked language modelling (BERT): token selection (15% of real, non-special tokens; of those
 * 80% -> [MASK], 10% -> a random id, 10% kept) and the prediction head (`cls.predictions` in
 * Hugging Face: dense -> GELU -> LayerNorm -> decoder tied to the word embeddings + bias).
 * Random draws come from libtorch's generator (seed with manualSeed).
 *
 * @example
 *   const { input, labels } = maskTokens(ids, mask, 0.15, specials, vocabSize); // (B, L) each
 *   const logits = head.forward(bert.forward(input, mask), bert.embeddings.word.weight); // (B, L, V)
 *   // (Kemt runs the head on the selected positions only: see selectedPositions.)
 */
import { linear, Tensor, tidy, where } from '../tensor/index.js';
import { LayerNorm, Linear, Module, zeros } from '../nn/index.js';

/** Ids of the special tokens MLM must never select or must insert. */
export interface SpecialIds {
  padId: number;
  clsId: number;
  sepId: number;
  maskId: number;
}

/** The project's own vocab order (src/data/tokenizer: [PAD], [UNK], [CLS], [SEP], [MASK] first). */
export const PROJECT_SPECIAL_IDS: Readonly<SpecialIds> = Object.freeze({ padId: 0, clsId: 2, sepId: 3, maskId: 4 });
/** Google BERT / Bio_ClinicalBERT vocab.txt order. */
export const BERT_SPECIAL_IDS: Readonly<SpecialIds> = Object.freeze({ padId: 0, clsId: 101, sepId: 102, maskId: 103 });

export interface MaskedTokens {
  /** (B, L) int64 ids with the selected tokens replaced. */
  input: Tensor;
  /** (B, L) int64 original ids where selected, -100 elsewhere. */
  labels: Tensor;
}

/**
 * Flat positions (int64, on labels' device) whose label is not -100: the rows the MLM head needs.
 * @example selectedPositions(Tensor.from([-100, 7, -100, 9], [4], 'int64')).toNumbers() // [1, 3]
 */
export function selectedPositions(labels: Tensor): Tensor {
  const values = labels.toNumbers(); // a small (B*L) read-back; the loss is read back every step anyway
  const pos: number[] = [];
  values.forEach((v, i) => { if (v !== -100) pos.push(i); });
  const t = Tensor.from(pos, [pos.length], 'int64');
  return labels.device === 'cpu' ? t : t.to(labels.device);
}

/**
 * Selects each real non-special token with probability `prob` (attention mask 1 and not [CLS],
 * [SEP], [PAD]), then replaces 80% of the selected with [MASK], 10% with a uniform random id and
 * keeps 10%.
 */
export function maskTokens(ids: Tensor, attentionMask: Tensor, prob: number, s: SpecialIds, vocabSize: number): MaskedTokens {
  if (!(prob >= 0 && prob <= 1)) throw new Error(`maskTokens: prob is ${prob}; expected a probability in [0, 1]`);
  return tidy(() => {
    const shape = ids.shape; // (B, L)
    const device = ids.device;
    const ids64 = ids.dtype === 'int64' ? ids : ids.to('int64');
    const eligible = attentionMask.ne(0).logicalAnd(ids64.ne(s.clsId)).logicalAnd(ids64.ne(s.sepId)).logicalAnd(ids64.ne(s.padId)); // (B, L)
    const selected = Tensor.rand(shape, 'float32', device).lt(prob).logicalAnd(eligible); // (B, L)
    const labels = ids64.maskedFill(selected.logicalNot(), -100); // (B, L)
    const r = Tensor.rand(shape, 'float32', device); // (B, L): which replacement
    const toMask = selected.logicalAnd(r.lt(0.8)); // (B, L)
    const toRandom = selected.logicalAnd(r.ge(0.8)).logicalAnd(r.lt(0.9)); // (B, L)
    const scaled = Tensor.rand(shape, 'float64', device).mul(vocabSize).to('int64'); // (B, L): floor of [0, V)
    const randomIds = scaled.maskedFill(scaled.ge(vocabSize), vocabSize - 1); // (B, L): guards a round-up to V (int64 kept)
    const input = where(toRandom, randomIds, ids64.maskedFill(toMask, s.maskId)); // (B, L)
    return { input, labels };
  });
}

/** BERT's MLM head; the decoder weight is the word-embedding matrix passed to forward. */
export class MlmHead extends Module {
  readonly transform: Linear;
  readonly norm: LayerNorm;
  bias: Tensor;

  constructor(width: number, vocabSize: number, eps: number) {
    super();
    this.transform = this.child('transform', new Linear(width, width));
    this.norm = this.child('norm', new LayerNorm(width, eps));
    this.bias = this.param('bias', zeros([vocabSize]), { decay: false }); // (V)
  }

  /** (..., D) hidden states (all positions, or the selected ones), (V, D) word embeddings -> (..., V) logits. */
  forward(h: Tensor, wordEmbeddings: Tensor): Tensor {
    return tidy(() => {
      const t = this.norm.forward(this.transform.forward(h).gelu('none')); // (..., D)
      return linear(t, wordEmbeddings, this.bias); // (..., V)
    });
  }
}
