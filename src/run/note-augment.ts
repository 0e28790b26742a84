/**
 * Training-time augmentation of a tokenized note (ids already padded to maxTokens): drop whole
 * sentences and mask single words, so that the text tower leans on no one sentence or phrasing.
 * Validation, test and serving never augment.
 *
 * Sentences end at a '.' token; [CLS] ... [SEP] and padding are kept in place. At least one
 * sentence always survives. A masked word becomes [MASK] (the token MLM already teaches).
 *
 * @example
 *   const out = augmentNote(item.tokenIds, item.attention, new Rng(3), { sentenceDrop: 0.2, wordDrop: 0.1 }, marks);
 */
import { Rng } from '../data/rng.js';

export interface NoteAugmentOptions {
  /** Probability that each sentence of the note is left out. */
  sentenceDrop: number;
  /** Probability that each remaining word piece is replaced by [MASK]. */
  wordDrop: number;
}

/** The token ids augmentNote needs to know (from the run's tokenizer). */
export interface NoteMarks {
  padId: number;
  clsId: number;
  sepId: number;
  maskId: number;
  /** Id of '.', or null when the vocab has none (then the whole note is one sentence). */
  periodId: number | null;
}

/** True when the options change anything (otherwise callers skip the draws entirely). */
export function noteAugmentOn(o: NoteAugmentOptions): boolean {
  return o.sentenceDrop > 0 || o.wordDrop > 0;
}

/**
 * A new (ids, attention) pair of the same length L. The input is not modified.
 * Throws when the note does not start with [CLS] (a note tokenized by another vocabulary).
 */
export function augmentNote(ids: Int32Array, attention: Int32Array | Uint8Array, rng: Rng, o: NoteAugmentOptions,
  marks: NoteMarks): { ids: Int32Array; attention: Int32Array } {
  const L = ids.length;
  if (attention.length !== L) throw new Error(`augmentNote: ${L} ids but ${attention.length} attention values`);
  if (L === 0 || ids[0] !== marks.clsId) throw new Error(`augmentNote: a note must start with [CLS] (id ${marks.clsId}), got ${ids[0]}`);
  let end = 1; // one past the last body token (the [SEP], or the last token of a note cut without one)
  while (end < L && attention[end] !== 0 && ids[end] !== marks.sepId) end++;
  const hasSep = end < L && attention[end] !== 0 && ids[end] === marks.sepId;
  const sentences: number[][] = [];
  let cur: number[] = [];
  for (let j = 1; j < end; j++) {
    cur.push(ids[j] as number);
    if (marks.periodId !== null && ids[j] === marks.periodId) { sentences.push(cur); cur = []; }
  }
  if (cur.length > 0) sentences.push(cur);
  let kept = sentences;
  if (o.sentenceDrop > 0 && sentences.length > 1) {
    kept = sentences.filter(() => !rng.bernoulli(o.sentenceDrop));
    if (kept.length === 0) kept = [rng.pick(sentences)];
  }
  const body = kept.flat();
  if (o.wordDrop > 0) {
    for (let j = 0; j < body.length; j++) if (body[j] !== marks.periodId && rng.bernoulli(o.wordDrop)) body[j] = marks.maskId;
  }
  const outIds = new Int32Array(L).fill(marks.padId);
  const outAtt = new Int32Array(L);
  const tokens = [marks.clsId, ...body, ...(hasSep ? [marks.sepId] : [])];
  tokens.forEach((t, j) => { outIds[j] = t; outAtt[j] = 1; });
  return { ids: outIds, attention: outAtt };
}
