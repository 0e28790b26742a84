/**
 * Preprocessing: everything that turns a raw exam into model inputs (tokenizer vocab, tabular
 * statistics, image settings, note options). It is fitted once, on the training split, travels with
 * the weights in every checkpoint, and is read back by eval, index and serve, so a model always sees
 * inputs prepared exactly as in training.
 *
 * @example
 *   const pre = parsePreprocessing(state.extras.preprocessing, 'runs/a/best/state.json: extras.preprocessing');
 *   Tokenizer.fromJSON(pre.tokenizer).encodeBatch([note], { maxLength: pre.maxTokens, padding: 'max' });
 */
import type { TokenizerJSON } from '../data/tokenizer/tokenizer.js';
import { Tokenizer } from '../data/tokenizer/tokenizer.js';
import { TabularFeaturizer, type TabularStats } from '../data/tabular.js';
import { resolveImageConfig, type ImageConfig } from '../data/images/config.js';
import { resolveNoteOptions, type NoteOptions } from '../data/notes/index.js';

/** Note options of a run: the builder's options, with the template split decided per item. */
export type RunNoteOptions = Omit<NoteOptions, 'templateSplit'> & {
  /** Test items use held-out sentence templates, the others the training templates. */
  templateHoldout: boolean;
};

/** Everything needed to turn raw exams into model inputs; saved in checkpoints. */
export interface Preprocessing {
  tokenizer: TokenizerJSON;
  /** Tabular statistics (TabularFeaturizer.toJSON()), or null when the data has no tabular fields. */
  tabular: TabularStats | null;
  image: ImageConfig;
  /** Note length in tokens, [CLS]/[SEP] included; every note is padded or cut to it. */
  maxTokens: number;
  notes: RunNoteOptions;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Runs a validator of a lower layer and prefixes its error with the field it read. */
function checked<T>(where: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    throw new Error(`${where}: ${(e as Error).message}`);
  }
}

/**
 * Validates a stored Preprocessing (JSON from a checkpoint). Errors name `where` plus the field and
 * what was expected. Fields with a default (image crop threshold, note knowledge base) are filled.
 * @example parsePreprocessing(JSON.parse(text).extras.preprocessing, 'state.json: extras.preprocessing')
 */
export function parsePreprocessing(json: unknown, where: string): Preprocessing {
  if (!isObject(json)) throw new Error(`${where} is ${json === undefined ? 'missing' : JSON.stringify(json)}; expected an object (tokenizer, tabular, image, maxTokens, notes)`);
  const field = (k: string): unknown => {
    if (!(k in json)) throw new Error(`${where}.${k} is missing`);
    return json[k];
  };
  const tokenizer = field('tokenizer');
  checked(`${where}.tokenizer`, () => Tokenizer.fromJSON(tokenizer));
  const tabular = field('tabular');
  if (tabular !== null) checked(`${where}.tabular`, () => TabularFeaturizer.fromJSON(tabular));
  const image = checked(`${where}.image`, () => resolveImageConfig(field('image'), 'image config'));
  const maxTokens = field('maxTokens');
  if (typeof maxTokens !== 'number' || !Number.isInteger(maxTokens) || maxTokens < 1) {
    throw new Error(`${where}.maxTokens is ${JSON.stringify(maxTokens)}; expected an integer >= 1`);
  }
  const notes = field('notes');
  if (!isObject(notes)) throw new Error(`${where}.notes is ${JSON.stringify(notes)}; expected an object`);
  const { templateHoldout, ...builder } = notes;
  if (typeof templateHoldout !== 'boolean') throw new Error(`${where}.notes.templateHoldout is ${JSON.stringify(templateHoldout)}; expected true or false`);
  const resolved = checked(`${where}.notes`, () => resolveNoteOptions(builder));
  return {
    tokenizer: tokenizer as TokenizerJSON,
    tabular: tabular as TabularStats | null,
    image,
    maxTokens,
    notes: { ...resolved, templateHoldout },
  };
}
