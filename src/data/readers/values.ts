/**
 * Cell decoders shared by the readers. Each returns the decoded value, `null` for a missing cell,
 * or INVALID for a value that is present but not one of the expected ones (the caller counts it as
 * dirty and stores null: invalid values are never guessed).
 */

/** Sentinel for "present but invalid". */
export const INVALID: unique symbol = Symbol('invalid');
export type Decoded<T> = T | null | typeof INVALID;

/**
 * Cells that mean "no value" in CSV exports (pandas writes NaN as empty or `nan`). `None`/`none` is
 * deliberately absent: in free text (comorbidities) it can mean "no comorbidity".
 */
const MISSING_TOKENS = new Set(['', 'nan', 'na', 'null', 'n/a']);

/** True for an empty cell or a standard missing marker (case-insensitive). */
export function isMissingCell(s: string): boolean {
  return MISSING_TOKENS.has(s.trim().toLowerCase());
}

const NUMBER_RE = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

/** Parse a plain decimal number ('48', '48.0', '-1.5e2'); null if the text is not one. */
export function parseNumber(s: string): number | null {
  const t = s.trim();
  if (!NUMBER_RE.test(t)) return null;
  const x = Number(t);
  return Number.isFinite(x) ? x : null;
}

/** A number within [lo, hi]. @example decodeNumber('48.0', 0, 120) // 48 */
export function decodeNumber(s: string, lo: number, hi: number): Decoded<number> {
  if (isMissingCell(s)) return null;
  const x = parseNumber(s);
  return x === null || x < lo || x > hi ? INVALID : x;
}

/** An integer code looked up in `codes` ('1' and '1.0' both mean 1). @example decodeCode('2', {1:'male',2:'female'}) // 'female' */
export function decodeCode<T>(s: string, codes: Readonly<Record<number, T>>): Decoded<T> {
  if (isMissingCell(s)) return null;
  const x = parseNumber(s);
  if (x === null || !Number.isInteger(x)) return INVALID;
  const v = codes[x];
  return v === undefined ? INVALID : v;
}

/** yes/no in any case. @example decodeYesNo('No') // false */
export function decodeYesNo(s: string): Decoded<boolean> {
  if (isMissingCell(s)) return null;
  const t = s.trim().toLowerCase();
  if (t === 'yes') return true;
  if (t === 'no') return false;
  return INVALID;
}

/** A 0/1 flag ('0', '1', '0.0', '1.0'). @example decodeFlag('1') // true */
export function decodeFlag(s: string): Decoded<boolean> {
  return decodeCode(s, { 0: false, 1: true });
}

/** A DR grade 0..4 (integer). @example decodeGrade('3') // 3; decodeGrade('5') // INVALID */
export function decodeGrade(s: string): Decoded<number> {
  return decodeCode(s, { 0: 0, 1: 1, 2: 2, 3: 3, 4: 4 });
}

/** One of a fixed set of words, case-insensitive, returned lowercase. @example decodeWord('Adequate', ['adequate','inadequate']) // 'adequate' */
export function decodeWord(s: string, words: readonly string[]): Decoded<string> {
  if (isMissingCell(s)) return null;
  const t = s.trim().toLowerCase();
  return words.includes(t) ? t : INVALID;
}

/** Free text, trimmed; null when missing. */
export function decodeText(s: string): string | null {
  return isMissingCell(s) ? null : s.trim();
}
