/**
 * The one file that touches `@huggingface/tokenizers` (Tokenizers.js, pure JS, no network).
 *
 * Why the library: it ports the Rust `tokenizers` BertNormalizer (control-char cleaning, CJK
 * isolation, lower-casing + NFD accent stripping), BertPreTokenizer (whitespace + Unicode/ASCII
 * punctuation split), WordPiece (greedy longest-match-first, `##` continuation, max chars per word
 * -> [UNK]) and the WordPiece decoder, i.e. exactly what Hugging Face's BertTokenizer does.
 * It has no "load from vocab.txt" entry point: it takes a `tokenizer.json` object, so we build that
 * object here from the vocab list (the same JSON `BertTokenizerFast` writes), fully offline.
 *
 * Why the local interface: the package's .d.ts files import without extensions, which NodeNext
 * resolution cannot follow, so its types arrive as `any`; the narrow interface below is the part
 * we use, checked by our tests.
 */
import * as hf from '@huggingface/tokenizers';

/** The BERT special tokens every vocab must hold (ids are wherever the vocab puts them). */
export const SPECIAL_TOKENS = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'] as const;
export type SpecialToken = (typeof SPECIAL_TOKENS)[number];

/** BERT basic-tokenization settings (Hugging Face names in comments). */
export interface BasicTokenizeOptions {
  /** do_lower_case. */
  lowercase: boolean;
  /** strip_accents; null = follow `lowercase` (BERT's default). */
  stripAccents: boolean | null;
}

/** The part of Tokenizers.js' `Tokenizer` we call. */
export interface HfTokenizer {
  encode(text: string, options: { add_special_tokens: boolean }): { ids: number[]; tokens: string[] };
  decode(ids: number[], options: { skip_special_tokens: boolean }): string;
  normalizer: { normalize(text: string): string } | null;
  pre_tokenizer: { pre_tokenize(text: string): string[] } | null;
}

type HfTokenizerCtor = new (tokenizerJson: object, tokenizerConfig: object) => HfTokenizer;
const HfTokenizerClass = (hf as unknown as { Tokenizer: HfTokenizerCtor }).Tokenizer;

/**
 * Builds a Tokenizers.js BERT tokenizer from a vocab list (index = id).
 *
 * @example
 *   const t = createHfBert(['[PAD]','[UNK]','[CLS]','[SEP]','[MASK]','hi'], { lowercase: true, stripAccents: null }, 100);
 *   t.encode('Hi', { add_special_tokens: false }).ids; // [5]
 */
export function createHfBert(
  vocab: readonly string[],
  basic: BasicTokenizeOptions,
  maxCharsPerWord: number,
): HfTokenizer {
  const ids: Record<string, number> = {};
  vocab.forEach((t, i) => {
    ids[t] = i;
  });
  const added = SPECIAL_TOKENS.filter((t) => ids[t] !== undefined).map((t) => ({
    id: ids[t],
    content: t,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: false,
    special: true,
  }));
  const json = {
    version: '1.0',
    added_tokens: added,
    normalizer: {
      type: 'BertNormalizer',
      clean_text: true,
      handle_chinese_chars: true,
      strip_accents: basic.stripAccents,
      lowercase: basic.lowercase,
    },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    model: {
      type: 'WordPiece',
      unk_token: '[UNK]',
      continuing_subword_prefix: '##',
      max_input_chars_per_word: maxCharsPerWord,
      vocab: ids,
    },
    // Special tokens are added by our own truncation code (tokenizer.ts), not here.
    post_processor: null,
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
  };
  return new HfTokenizerClass(json, { clean_up_tokenization_spaces: true });
}

/**
 * BERT basic tokenization only (clean, CJK isolation, case/accents, whitespace + punctuation split),
 * no WordPiece. Used by the vocab builder so that it sees exactly the words the tokenizer will.
 *
 * @example
 *   basicTokenizer({ lowercase: true, stripAccents: null })('Naïve, eh?'); // ['naive', ',', 'eh', '?']
 */
export function basicTokenizer(basic: BasicTokenizeOptions): (text: string) => string[] {
  const t = createHfBert([...SPECIAL_TOKENS], basic, 100);
  const norm = t.normalizer;
  const pre = t.pre_tokenizer;
  if (norm === null || pre === null) throw new Error('basicTokenizer: Tokenizers.js built no normalizer/pre-tokenizer');
  return (text: string) => pre.pre_tokenize(norm.normalize(text));
}
