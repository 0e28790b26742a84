/**
 * BERT `vocab.txt` files: one token per line, line number (0-based) = token id; and the
 * cased/uncased decision for a pretrained vocab (`do_lower_case` in the model's config files,
 * else what the vocab itself shows).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { SPECIAL_TOKENS } from './hf.js';

/**
 * Parses the text of a vocab.txt. A final trailing newline is allowed; empty lines elsewhere,
 * duplicate tokens and missing BERT special tokens are errors naming the line.
 *
 * @example
 *   parseVocab('[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nhi\n', 'vocab.txt'); // 6 tokens
 */
export function parseVocab(text: string, source: string): string[] {
  const lines = text.split('\n');
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  return validateVocab(
    lines.map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l)),
    source,
  );
}

/**
 * Checks a token list (index = id): no empty tokens or line breaks, no duplicates, all BERT special
 * tokens present. Errors name the line (1-based, as in vocab.txt). Returns a copy.
 *
 * @example validateVocab(['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', 'hi'], 'my vocab');
 */
export function validateVocab(tokens: readonly string[], source: string): string[] {
  const seen = new Map<string, number>();
  tokens.forEach((token, i) => {
    if (token === '') throw new Error(`${source}: line ${i + 1} is empty; expected one token per line`);
    if (/[\r\n]/.test(token)) throw new Error(`${source}: line ${i + 1} token ${JSON.stringify(token)} holds a line break`);
    const prev = seen.get(token);
    if (prev !== undefined) {
      throw new Error(`${source}: line ${i + 1} repeats token '${token}' of line ${prev + 1}; tokens must be unique`);
    }
    seen.set(token, i);
  });
  const missing = SPECIAL_TOKENS.filter((t) => !seen.has(t));
  if (missing.length > 0) {
    throw new Error(`${source}: missing special token(s) ${missing.join(', ')}; a BERT vocab needs ${SPECIAL_TOKENS.join(', ')}`);
  }
  return [...tokens];
}

/** Reads and validates a vocab.txt. @example readVocabFile('/models/bcb/vocab.txt').length // 28996 */
export function readVocabFile(path: string): string[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new Error(`cannot read vocab file ${path}: ${(e as Error).message}`);
  }
  return parseVocab(text, path);
}

/** Writes tokens one per line (id = line index). @example writeVocabFile('/tmp/vocab.txt', tokens) */
export function writeVocabFile(path: string, tokens: readonly string[]): void {
  validateVocab(tokens, `writeVocabFile ${path}`);
  writeFileSync(path, tokens.join('\n') + '\n', 'utf8');
}

/**
 * True when the vocab is cased: at least 1% of its ordinary tokens (specials and `[...]` slots
 * excluded) hold an upper-case letter. bert-base-cased / Bio_ClinicalBERT: ~ a third; uncased: 0.
 */
export function vocabLooksCased(tokens: readonly string[]): boolean {
  let ordinary = 0;
  let upper = 0;
  for (const t of tokens) {
    if (t.startsWith('[') && t.endsWith(']')) continue;
    ordinary++;
    if (t !== t.toLowerCase()) upper++;
  }
  return ordinary > 0 && upper >= 0.01 * ordinary;
}

/** Where the lower-casing decision came from. */
export interface LowercaseDecision {
  lowercase: boolean;
  /** 'tokenizer_config.json' | 'config.json' (next to vocab.txt) | 'vocab' (inferred). */
  source: 'tokenizer_config.json' | 'config.json' | 'vocab';
  /** What the vocab shows, for a caller that wants to warn on a contradiction. */
  vocabLooksCased: boolean;
}

/**
 * Decides do_lower_case for a pretrained vocab: `do_lower_case` from tokenizer_config.json, else
 * from config.json (both next to vocab.txt), else inferred from the vocab (cased vocab -> false).
 * Inference matters: Bio_ClinicalBERT ships no tokenizer_config.json, and Hugging Face's
 * BertTokenizer default (do_lower_case=true) would lower-case text for a cased 28,996-token vocab,
 * making every capitalized token unreachable.
 *
 * @example
 *   decideLowercase('/models/Bio_ClinicalBERT/vocab.txt', tokens); // { lowercase: false, source: 'vocab', ... }
 */
export function decideLowercase(vocabPath: string, tokens: readonly string[]): LowercaseDecision {
  const cased = vocabLooksCased(tokens);
  for (const name of ['tokenizer_config.json', 'config.json'] as const) {
    const p = join(dirname(vocabPath), name);
    if (!existsSync(p)) continue;
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(p, 'utf8'));
    } catch (e) {
      throw new Error(`${p}: not valid JSON (${(e as Error).message})`);
    }
    if (typeof parsed === 'object' && parsed !== null && 'do_lower_case' in parsed) {
      const v = (parsed as { do_lower_case: unknown }).do_lower_case;
      if (typeof v !== 'boolean') throw new Error(`${p}: do_lower_case is ${JSON.stringify(v)}; expected true or false`);
      return { lowercase: v, source: name, vocabLooksCased: cased };
    }
  }
  return { lowercase: !cased, source: 'vocab', vocabLooksCased: cased };
}
