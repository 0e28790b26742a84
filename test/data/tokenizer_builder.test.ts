import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildVocab } from '../../src/data/tokenizer/builder.js';
import { Tokenizer } from '../../src/data/tokenizer/tokenizer.js';

const SPECIALS = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'];
// printable ASCII without upper case: 94 - 26 = 68 characters, in both forms
const ASCII_LOWER = 68;

test('layout: specials, characters, ##characters, then merges by frequency (hand-computed)', () => {
  // words: ab x3, abc x1 -> pairs (a,##b)=4, (##b,##c)=1 -> merge 'ab'; then (ab,##c)=1 < 2 -> stop
  const v = buildVocab(['ab ab', 'AB abc'], { size: 1000, lowercase: true, minFrequency: 2 });
  assert.deepEqual(v.slice(0, 5), SPECIALS);
  assert.equal(v.length, 5 + 2 * ASCII_LOWER + 1);
  assert.equal(v[5], '!'); // code point 33 first
  assert.equal(v[5 + ASCII_LOWER], '##!');
  assert.equal(v.at(-1), 'ab');
  // with minFrequency 1 the next merge is (ab,##c) -> 'abc'
  const v1 = buildVocab(['ab ab', 'AB abc'], { size: 1000, lowercase: true, minFrequency: 1 });
  assert.deepEqual(v1.slice(5 + 2 * ASCII_LOWER), ['ab', 'abc']);
});

test('continuation merges, tie-break by string, size cap', () => {
  // words: xyz x2, wyz x2 -> pairs (x,##y)=2 (w,##y)=2 (##y,##z)=4 -> '##yz' first;
  // then (x,##yz)=2 and (w,##yz)=2 tie -> smaller string 'w\0##yz' first -> 'wyz', then 'xyz'.
  const corpus = ['xyz wyz', 'xyz wyz'];
  const base = 5 + 2 * ASCII_LOWER;
  const v = buildVocab(corpus, { size: 1000, lowercase: true });
  assert.deepEqual(v.slice(base), ['##yz', 'wyz', 'xyz']);
  const capped = buildVocab(corpus, { size: base + 2, lowercase: true });
  assert.deepEqual(capped.slice(base), ['##yz', 'wyz']);
  assert.throws(() => buildVocab(corpus, { size: 100, lowercase: true }), /size 100 is too small: the corpus needs 141 entries/);
});

test('cased vocab keeps upper case and non-ASCII characters; deterministic', () => {
  const corpus = ['Microaneurysms seen. Naïve microaneurysms', 'Hard exudates; microaneurysms'];
  const a = buildVocab(corpus, { size: 400, lowercase: false });
  const b = buildVocab([...corpus], { size: 400, lowercase: false });
  assert.deepEqual(a, b);
  assert.ok(a.includes('M') && a.includes('##ï'));
  assert.ok(a.includes('microaneurysms'), 'a word seen 2+ times as a whole is merged up to one piece');
  const tok = new Tokenizer(a, { lowercase: false, maxLength: 32 });
  assert.deepEqual(tok.tokenize('microaneurysms'), ['microaneurysms']);
  // an unseen ASCII word still splits into known pieces (no [UNK])
  assert.ok(!tok.tokenize('Zebra42').includes('[UNK]'));
  // Hugging Face's clean-up glues only . , ! ? and English contractions back, so ';' keeps its space
  assert.equal(tok.decode(tok.encode('Hard exudates; microaneurysms, seen.')), 'Hard exudates ; microaneurysms, seen.');
});

test('round trip through the tokenizer on a templated-note corpus', () => {
  const notes: string[] = [];
  const grades = ['no', 'mild', 'moderate', 'severe'];
  for (let i = 0; i < 60; i++) {
    notes.push(`Patient aged ${40 + (i % 30)} with ${grades[i % 4]} nonproliferative retinopathy in the ${i % 2 ? 'left' : 'right'} eye.`);
  }
  const vocab = buildVocab(notes, { size: 300, lowercase: true });
  assert.ok(vocab.length <= 300);
  const tok = new Tokenizer(vocab, { lowercase: true, maxLength: 32 });
  for (const n of notes.slice(0, 5)) assert.equal(tok.decode(tok.encode(n)), n.toLowerCase());
  // frequent whole words became single pieces
  assert.deepEqual(tok.tokenize('nonproliferative retinopathy'), ['nonproliferative', 'retinopathy']);
});
