/**
 * WordPiece vocab builder for when no pretrained vocab is given: learns a vocab from the training
 * split's notes (never from validation/test notes: that would leak their words).
 *
 * Layout of the result (id order): the BERT special tokens, then every character (word-initial
 * form, by code point), then every `##` character, then merged pieces in the order learned
 * (most frequent first), up to `size`. Characters = those of the corpus plus printable ASCII, so
 * that an unseen ASCII word still splits into pieces instead of becoming [UNK].
 *
 * Learning works as Hugging Face's WordPieceTrainer does (it trains BPE and keeps the pieces):
 * words start as characters (`w ##o ##r ##d`); repeatedly the most frequent adjacent pair
 * (weighted by word count; ties -> smaller string) is merged into one piece (`w` + `##o` -> `wo`,
 * `##o` + `##r` -> `##or`). Frequent whole words end as one piece; rarer ones keep subword pieces.
 * Stops at `size` tokens or when the best pair occurs fewer than `minFrequency` times.
 *
 * @example
 *   const vocab = buildVocab(trainNotes, { size: 4000, lowercase: false });
 *   writeVocabFile('run/vocab.txt', vocab);
 */
import { basicTokenizer, SPECIAL_TOKENS } from './hf.js';

export interface VocabBuildOptions {
  /** Upper bound on vocab size (specials + characters + learned pieces). */
  size: number;
  /** do_lower_case for the tokenizer that will use the vocab (must match it). */
  lowercase: boolean;
  /** strip_accents; null = follow `lowercase`. Default null. */
  stripAccents?: boolean | null;
  /** A pair must occur at least this often (weighted by word count) to be merged. Default 2. */
  minFrequency?: number;
  /** Words longer than this become [UNK] at tokenization, so they are not learned. Default 100. */
  maxCharsPerWord?: number;
}

const CONT = '##';

function pairKey(a: string, b: string): string {
  return a + '\u0000' + b;
}

function mergePieces(a: string, b: string): string {
  return a + b.slice(CONT.length); // b is always a continuation piece
}

/** Max-heap of [count, key] with lazy deletion (stale entries are skipped on pop). */
class PairHeap {
  private items: Array<[number, string]> = [];
  private better(i: number, j: number): boolean {
    const a = this.items[i] as [number, string];
    const b = this.items[j] as [number, string];
    return a[0] !== b[0] ? a[0] > b[0] : a[1] < b[1];
  }
  private swap(i: number, j: number): void {
    const t = this.items[i] as [number, string];
    this.items[i] = this.items[j] as [number, string];
    this.items[j] = t;
  }
  push(count: number, key: string): void {
    this.items.push([count, key]);
    let i = this.items.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.better(i, p)) break;
      this.swap(i, p);
      i = p;
    }
  }
  pop(): [number, string] | undefined {
    const top = this.items[0];
    const last = this.items.pop();
    if (top === undefined || last === undefined) return undefined;
    if (this.items.length > 0) {
      this.items[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < this.items.length && this.better(l, m)) m = l;
        if (r < this.items.length && this.better(r, m)) m = r;
        if (m === i) break;
        this.swap(i, m);
        i = m;
      }
    }
    return top;
  }
}

/**
 * Learns a WordPiece vocab from notes. Throws when `size` cannot hold the specials and characters.
 *
 * @example
 *   buildVocab(['ab ab ab abc'], { size: 1000, lowercase: true, minFrequency: 2 }).at(-1); // 'ab'
 */
export function buildVocab(corpus: Iterable<string>, opts: VocabBuildOptions): string[] {
  const minFrequency = opts.minFrequency ?? 2;
  const maxChars = opts.maxCharsPerWord ?? 100;
  if (!Number.isInteger(opts.size) || opts.size < 1) throw new Error(`buildVocab: size is ${opts.size}; expected a positive integer`);
  if (!Number.isInteger(minFrequency) || minFrequency < 1) throw new Error(`buildVocab: minFrequency is ${minFrequency}; expected an integer >= 1`);
  const split = basicTokenizer({ lowercase: opts.lowercase, stripAccents: opts.stripAccents ?? null });

  // Word counts over the corpus (basic tokenization identical to the tokenizer's).
  const counts = new Map<string, number>();
  for (const text of corpus) {
    for (const w of split(text)) {
      if ([...w].length > maxChars) continue;
      counts.set(w, (counts.get(w) ?? 0) + 1);
    }
  }

  // Alphabet: corpus characters plus printable ASCII (lower-case only for an uncased vocab).
  const initial = new Set<string>();
  const cont = new Set<string>();
  for (let c = 33; c <= 126; c++) {
    const ch = String.fromCharCode(c);
    if (opts.lowercase && ch !== ch.toLowerCase()) continue;
    initial.add(ch);
    cont.add(ch);
  }
  // Deterministic word order: count desc, then string.
  const words = [...counts.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const pieces: string[][] = [];
  const freq: number[] = [];
  for (const [w, n] of words) {
    const chars = [...w];
    chars.forEach((ch, i) => (i === 0 ? initial : cont).add(ch));
    pieces.push(chars.map((ch, i) => (i === 0 ? ch : CONT + ch)));
    freq.push(n);
  }
  const byCodePoint = (a: string, b: string): number => (a.codePointAt(0) as number) - (b.codePointAt(0) as number);
  const vocab: string[] = [...SPECIAL_TOKENS, ...[...initial].sort(byCodePoint), ...[...cont].sort(byCodePoint).map((c) => CONT + c)];
  if (vocab.length > opts.size) {
    throw new Error(
      `buildVocab: size ${opts.size} is too small: the corpus needs ${vocab.length} entries for ${SPECIAL_TOKENS.length} special tokens, ` +
        `${initial.size} characters and ${cont.size} ##characters before any merge`,
    );
  }
  const inVocab = new Set(vocab);

  // Pair statistics: count (weighted) and the words holding each pair.
  const pairCount = new Map<string, number>();
  const pairWords = new Map<string, Set<number>>();
  const heap = new PairHeap();
  const addPairs = (wi: number, sign: 1 | -1, touched: Set<string>): void => {
    const p = pieces[wi] as string[];
    const n = freq[wi] as number;
    for (let i = 0; i + 1 < p.length; i++) {
      const k = pairKey(p[i] as string, p[i + 1] as string);
      pairCount.set(k, (pairCount.get(k) ?? 0) + sign * n);
      if (sign > 0) {
        let s = pairWords.get(k);
        if (s === undefined) pairWords.set(k, (s = new Set()));
        s.add(wi);
      }
      touched.add(k);
    }
  };
  const initialKeys = new Set<string>();
  pieces.forEach((_, wi) => addPairs(wi, 1, initialKeys));
  for (const k of initialKeys) heap.push(pairCount.get(k) as number, k);

  while (vocab.length < opts.size) {
    const top = heap.pop();
    if (top === undefined) break;
    const [count, key] = top;
    if (pairCount.get(key) !== count) continue; // stale entry
    if (count < minFrequency) break;
    const [a, b] = key.split('\u0000') as [string, string];
    const merged = mergePieces(a, b);
    if (!inVocab.has(merged)) {
      inVocab.add(merged);
      vocab.push(merged);
    }
    const touched = new Set<string>();
    for (const wi of [...(pairWords.get(key) ?? [])]) {
      const p = pieces[wi] as string[];
      addPairs(wi, -1, touched);
      const out: string[] = [];
      for (let i = 0; i < p.length; i++) {
        if (i + 1 < p.length && p[i] === a && p[i + 1] === b) {
          out.push(merged);
          i++;
        } else out.push(p[i] as string);
      }
      pieces[wi] = out;
      addPairs(wi, 1, touched);
    }
    pairWords.delete(key);
    for (const k of touched) {
      const c = pairCount.get(k) ?? 0;
      if (c > 0) heap.push(c, k);
    }
  }
  return vocab;
}
