/**
 * BERT WordPiece tokenizer over a vocab list: `[CLS] pieces... [SEP]`, truncation to maxLength,
 * padding with [PAD], attention mask. Tensor-free: batches come out as typed arrays (B*L, row-major).
 * Normalization, basic tokenization and WordPiece come from Tokenizers.js (see hf.ts for why).
 *
 * @example
 *   const tok = Tokenizer.fromVocabFile('/models/Bio_ClinicalBERT/vocab.txt', { maxLength: 128 });
 *   const b = tok.encodeBatch(['Moderate NPDR.', 'No DR']); // b.inputIds: Int32Array (2*128)
 */
import { createHfBert, SPECIAL_TOKENS, type HfTokenizer, type SpecialToken } from './hf.js';
import { decideLowercase, readVocabFile, validateVocab, writeVocabFile } from './vocab.js';

/** Settings that travel with the vocab in a checkpoint. */
export interface TokenizerOptions {
  /** do_lower_case: lower-case (and by default strip accents) before WordPiece. */
  lowercase: boolean;
  /** strip_accents; null = follow `lowercase` (BERT's default). */
  stripAccents: boolean | null;
  /** Sequence length including [CLS] and [SEP] (BERT-base: at most 512). */
  maxLength: number;
  /** Words longer than this (in code points) become one [UNK] (BERT: 100). */
  maxCharsPerWord: number;
}

/** `Tokenizer.toJSON()` output: everything needed to rebuild the tokenizer exactly. */
export interface TokenizerJSON extends TokenizerOptions {
  format: 'retalign-wordpiece-1';
  vocab: string[];
}

/** A padded batch, row-major (B, L); tensor-free. */
export interface EncodedBatch {
  /** (B*L) token ids; [PAD] after the [SEP] of each row. */
  inputIds: Int32Array;
  /** (B*L) 1 on real tokens (incl. [CLS]/[SEP]), 0 on padding. */
  attentionMask: Uint8Array;
  batchSize: number;
  /** L: columns per row. */
  length: number;
}

export const DEFAULT_TOKENIZER_OPTIONS: Readonly<Omit<TokenizerOptions, 'lowercase'>> = {
  stripAccents: null,
  maxLength: 128,
  maxCharsPerWord: 100,
};

const JSON_KEYS = ['format', 'vocab', 'lowercase', 'stripAccents', 'maxLength', 'maxCharsPerWord'];

function checkPositiveInt(name: string, v: unknown, min: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) {
    throw new Error(`tokenizer option ${name} is ${JSON.stringify(v)}; expected an integer >= ${min}`);
  }
  return v;
}

export class Tokenizer {
  readonly vocab: readonly string[];
  readonly options: Readonly<TokenizerOptions>;
  readonly padId: number;
  readonly unkId: number;
  readonly clsId: number;
  readonly sepId: number;
  readonly maskId: number;
  private readonly ids: Map<string, number>;
  private readonly hf: HfTokenizer;

  /**
   * @example new Tokenizer(['[PAD]','[UNK]','[CLS]','[SEP]','[MASK]','hi'], { lowercase: true, maxLength: 8 })
   */
  constructor(vocab: readonly string[], options: Partial<TokenizerOptions> & { lowercase: boolean }) {
    // Same checks and messages as a vocab file (unique, non-empty, specials present).
    this.vocab = validateVocab(vocab, 'tokenizer vocab');
    const o = { ...DEFAULT_TOKENIZER_OPTIONS, ...options };
    if (typeof o.lowercase !== 'boolean') throw new Error(`tokenizer option lowercase is ${JSON.stringify(o.lowercase)}; expected true or false`);
    if (o.stripAccents !== null && typeof o.stripAccents !== 'boolean') {
      throw new Error(`tokenizer option stripAccents is ${JSON.stringify(o.stripAccents)}; expected true, false or null`);
    }
    checkPositiveInt('maxLength', o.maxLength, 2);
    checkPositiveInt('maxCharsPerWord', o.maxCharsPerWord, 1);
    this.options = Object.freeze({
      lowercase: o.lowercase,
      stripAccents: o.stripAccents,
      maxLength: o.maxLength,
      maxCharsPerWord: o.maxCharsPerWord,
    });
    this.ids = new Map(this.vocab.map((t, i) => [t, i]));
    const id = (t: SpecialToken): number => this.ids.get(t) as number; // presence checked by parseVocab
    this.padId = id('[PAD]');
    this.unkId = id('[UNK]');
    this.clsId = id('[CLS]');
    this.sepId = id('[SEP]');
    this.maskId = id('[MASK]');
    this.hf = createHfBert(this.vocab, { lowercase: o.lowercase, stripAccents: o.stripAccents }, o.maxCharsPerWord);
  }

  /**
   * Loads a pretrained vocab.txt. `lowercase` defaults to do_lower_case from the config files next to
   * it, else to what the vocab shows (see decideLowercase): Bio_ClinicalBERT comes out cased.
   *
   * @example Tokenizer.fromVocabFile('vocab.txt', { maxLength: 256 }).vocabSize // 28996
   */
  static fromVocabFile(path: string, options: Partial<TokenizerOptions> = {}): Tokenizer {
    const vocab = readVocabFile(path);
    const lowercase = options.lowercase ?? decideLowercase(path, vocab).lowercase;
    return new Tokenizer(vocab, { ...options, lowercase });
  }

  /** Rebuilds from `toJSON()` output; unknown keys and wrong types are errors. */
  static fromJSON(json: unknown): Tokenizer {
    if (typeof json !== 'object' || json === null) throw new Error('Tokenizer.fromJSON: expected an object');
    const o = json as Record<string, unknown>;
    const unknown = Object.keys(o).filter((k) => !JSON_KEYS.includes(k));
    if (unknown.length > 0) throw new Error(`Tokenizer.fromJSON: unknown key(s) ${unknown.join(', ')}; valid keys: ${JSON_KEYS.join(', ')}`);
    if (o.format !== 'retalign-wordpiece-1') {
      throw new Error(`Tokenizer.fromJSON: format is ${JSON.stringify(o.format)}; expected 'retalign-wordpiece-1'`);
    }
    if (!Array.isArray(o.vocab) || !o.vocab.every((t) => typeof t === 'string')) {
      throw new Error('Tokenizer.fromJSON: vocab must be an array of strings');
    }
    return new Tokenizer(o.vocab as string[], {
      lowercase: o.lowercase as boolean,
      stripAccents: o.stripAccents as boolean | null,
      maxLength: o.maxLength as number,
      maxCharsPerWord: o.maxCharsPerWord as number,
    });
  }

  /** Plain JSON for a checkpoint: the vocab plus every setting. */
  toJSON(): TokenizerJSON {
    return { format: 'retalign-wordpiece-1', vocab: [...this.vocab], ...this.options };
  }

  /** Writes vocab.txt (id = line index). */
  saveVocab(path: string): void {
    writeVocabFile(path, this.vocab);
  }

  get vocabSize(): number {
    return this.vocab.length;
  }

  /** Id of a token, or undefined. @example tok.tokenToId('##ing') */
  tokenToId(token: string): number | undefined {
    return this.ids.get(token);
  }

  /** Token of an id, or undefined when out of range. */
  idToToken(id: number): string | undefined {
    return this.vocab[id];
  }

  /** Ids of the special tokens, e.g. for MLM masking rules. */
  specialIds(): Record<SpecialToken, number> {
    return { '[PAD]': this.padId, '[UNK]': this.unkId, '[CLS]': this.clsId, '[SEP]': this.sepId, '[MASK]': this.maskId };
  }

  /**
   * WordPiece tokens of a text, no special tokens added, no truncation.
   * @example tok.tokenize('unaffable') // ['un', '##aff', '##able']
   */
  tokenize(text: string): string[] {
    return this.hf.encode(text, { add_special_tokens: false }).tokens;
  }

  /**
   * `[CLS] ids... [SEP]`, the pieces truncated so that the whole fits `maxLength` (default: the
   * tokenizer's). No padding.
   * @example tok.encode('running') // [clsId, id('runn'), id('##ing'), sepId]
   */
  encode(text: string, maxLength: number = this.options.maxLength): number[] {
    checkPositiveInt('maxLength', maxLength, 2);
    const ids = this.hf.encode(text, { add_special_tokens: false }).ids;
    return [this.clsId, ...ids.slice(0, maxLength - 2), this.sepId];
  }

  /**
   * Encodes and pads a batch. padding 'max' gives L = maxLength (fixed shapes); 'longest' gives
   * L = the longest row of this batch (less compute on short notes).
   *
   * @example
   *   const b = tok.encodeBatch(['a', 'a b'], { maxLength: 4 });
   *   // b.length 4; b.inputIds row 0 = [CLS, a, SEP, PAD]; b.attentionMask row 0 = [1, 1, 1, 0]
   */
  encodeBatch(
    texts: readonly string[],
    opts: { maxLength?: number; padding?: 'max' | 'longest' } = {},
  ): EncodedBatch {
    const maxLength = opts.maxLength ?? this.options.maxLength;
    const padding = opts.padding ?? 'max';
    if (padding !== 'max' && padding !== 'longest') {
      throw new Error(`encodeBatch: padding is ${JSON.stringify(padding)}; expected 'max' or 'longest'`);
    }
    const rows = texts.map((t) => this.encode(t, maxLength));
    const length = padding === 'max' ? maxLength : rows.reduce((m, r) => Math.max(m, r.length), 2);
    const B = rows.length;
    const inputIds = new Int32Array(B * length).fill(this.padId);
    const attentionMask = new Uint8Array(B * length);
    rows.forEach((r, b) => {
      inputIds.set(r, b * length);
      attentionMask.fill(1, b * length, b * length + r.length);
    });
    return { inputIds, attentionMask, batchSize: B, length };
  }

  /**
   * Text of ids: pieces joined, `##` glued, [PAD]/[CLS]/[SEP]/[MASK]/[UNK] dropped unless
   * skipSpecial is false. Ids outside the vocab are errors.
   * @example tok.decode([clsId, id('un'), id('##aff'), id('##able'), sepId, padId]) // 'unaffable'
   */
  decode(ids: ArrayLike<number>, opts: { skipSpecial?: boolean } = {}): string {
    const list = Array.from(ids);
    for (const [i, id] of list.entries()) {
      if (!Number.isInteger(id) || id < 0 || id >= this.vocab.length) {
        throw new Error(`decode: id ${id} at position ${i} is outside the vocab (0..${this.vocab.length - 1})`);
      }
    }
    const skip = opts.skipSpecial ?? true;
    const kept = skip ? list.filter((id) => !SPECIAL_TOKENS.includes(this.vocab[id] as SpecialToken)) : list;
    if (kept.length === 0) return ''; // Tokenizers.js throws on an empty list
    return this.hf.decode(kept, { skip_special_tokens: false });
  }
}
