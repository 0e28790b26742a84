/**
 * BERT text encoder (Devlin et al. 2019): word + position + token-type embeddings, LayerNorm,
 * post-norm blocks. With the `paper` preset this is exactly BERT-base, so Bio_ClinicalBERT loads
 * (see import/bert.ts). The [CLS] output (no pooler) is the text token.
 *
 * @example
 *   const bert = new BertEncoder({ ...loadPreset('tiny').text, vocabSize: 100 });
 *   const h = bert.forward(ids, mask); // (B, L) int64, (B, L) 1/0 -> (B, L, 32); [CLS] = h[:, 0]
 */
import { dropout, Tensor, tidy } from '../tensor/index.js';
import { Embedding, LayerNorm, Module, PostNormBlock } from '../nn/index.js';
import type { TextConfig } from './config.js';

/** TextConfig with the vocab size settled. */
export type ResolvedTextConfig = TextConfig & { vocabSize: number };

export class BertEmbeddings extends Module {
  readonly word: Embedding;
  readonly position: Embedding;
  readonly tokenType: Embedding;
  readonly norm: LayerNorm;
  readonly config: ResolvedTextConfig;

  constructor(c: ResolvedTextConfig) {
    super();
    this.config = c;
    this.word = this.child('word', new Embedding(c.vocabSize, c.width));
    this.position = this.child('position', new Embedding(c.maxPositions, c.width, { decay: false }));
    this.tokenType = this.child('tokenType', new Embedding(c.typeVocabSize, c.width, { decay: false }));
    this.norm = this.child('norm', new LayerNorm(c.width, c.layerNormEps));
  }

  /** (B, L) ids, optional (B, L) token types (default 0) -> (B, L, D). */
  forward(ids: Tensor, tokenTypes: Tensor | null): Tensor {
    const L = ids.size(1);
    const pos = Tensor.arange(0, L, 1, 'int64', ids.device); // (L)
    let e = this.word.forward(ids).add(this.position.forward(pos)); // (B, L, D)
    e = tokenTypes === null
      ? e.add(this.tokenType.weight.narrow(0, 0, 1)) // (B, L, D): type 0 everywhere
      : e.add(this.tokenType.forward(tokenTypes)); // (B, L, D)
    return dropout(this.norm.forward(e), this.config.dropout, this.training); // (B, L, D)
  }
}

export class BertEncoder extends Module {
  readonly embeddings: BertEmbeddings;
  readonly layers: PostNormBlock[];
  readonly config: ResolvedTextConfig;

  constructor(c: ResolvedTextConfig) {
    super();
    this.config = c;
    this.embeddings = this.child('embeddings', new BertEmbeddings(c));
    this.layers = this.childList('layers', Array.from({ length: c.layers }, () =>
      new PostNormBlock({ dim: c.width, heads: c.heads, mlpDim: c.mlpDim, eps: c.layerNormEps, dropout: c.dropout, attnDropout: c.attnDropout })));
  }

  /**
   * Sequence output (B, L, D). `mask` (B, L): 1/true = real token, 0/false = padding (keys
   * ignored), or null for no padding. Padded positions never influence real ones.
   */
  forward(ids: Tensor, mask: Tensor | null, tokenTypes: Tensor | null = null): Tensor {
    const s = ids.shape;
    if (s.length !== 2) throw new Error(`BertEncoder: token ids have shape [${s.join(', ')}]; expected (B, L)`);
    if ((s[1] as number) > this.config.maxPositions) {
      throw new Error(`BertEncoder: sequence length ${s[1]} exceeds text.maxPositions ${this.config.maxPositions}`);
    }
    return tidy(() => {
      let h = this.embeddings.forward(ids, tokenTypes); // (B, L, D)
      for (const layer of this.layers) h = layer.forward(h, mask); // (B, L, D)
      return h;
    });
  }

  /** The [CLS] (first) token's output: (B, D). */
  cls(ids: Tensor, mask: Tensor | null): Tensor {
    return tidy(() => this.forward(ids, mask).select(1, 0)); // (B, D)
  }

  /**
   * The note's vector by text.pooling: the [CLS] output, or the mean of the outputs over real
   * tokens (padding left out): (B, D).
   */
  pooled(ids: Tensor, mask: Tensor | null): Tensor {
    if (this.config.pooling === 'cls') return this.cls(ids, mask);
    return tidy(() => {
      const h = this.forward(ids, mask); // (B, L, D)
      if (mask === null) return h.mean(1); // (B, D)
      const w = mask.to(h.dtype).unsqueeze(2); // (B, L, 1)
      return h.mul(w).sum(1).div(w.sum(1).clamp(1)); // (B, D)
    });
  }
}
