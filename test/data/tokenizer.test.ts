import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tokenizer } from '../../src/data/tokenizer/tokenizer.js';
import { decideLowercase, parseVocab, readVocabFile, vocabLooksCased } from '../../src/data/tokenizer/vocab.js';

// ids: [PAD]0 [UNK]1 [CLS]2 [SEP]3 [MASK]4, then the words below from 5.
const VOCAB = [
  '[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]',
  'un', '##aff', '##able', 'runn', '##ing', '##i', '##n', '##g', // 5..12
  ',', '.', '!', 'hello', 'world', 'naive', 'Naive', 'Hello', // 13..20
  'a', '##a', '中', 'cafe', '##s', // 21..25
];
const id = (t: string): number => {
  const i = VOCAB.indexOf(t);
  if (i < 0) throw new Error(`test vocab lacks ${t}`);
  return i;
};

const uncased = new Tokenizer(VOCAB, { lowercase: true, maxLength: 16 });
const cased = new Tokenizer(VOCAB, { lowercase: false, maxLength: 16 });

test('uncased: lower-casing, accent stripping, punctuation split, greedy longest match', () => {
  assert.deepEqual(uncased.tokenize('UnAffable running, Naïve!'), ['un', '##aff', '##able', 'runn', '##ing', ',', 'naive', '!']);
  // 'runnin': longest prefix 'runn', then '##in' absent -> '##i', then '##n'.
  assert.deepEqual(uncased.tokenize('runnin'), ['runn', '##i', '##n']);
  // a word with no full segmentation is one [UNK], not partial pieces
  assert.deepEqual(uncased.tokenize('unx hello'), ['[UNK]', 'hello']);
  assert.deepEqual(uncased.tokenize('CAFÉS.'), ['cafe', '##s', '.']);
});

test('cased: no lower-casing, accents kept (BERT ties strip_accents to lower-casing)', () => {
  assert.deepEqual(cased.tokenize('UnAffable Hello hello'), ['[UNK]', 'Hello', 'hello']);
  assert.deepEqual(cased.tokenize('Naive Naïve'), ['Naive', '[UNK]']);
  // explicit stripAccents on a cased tokenizer
  const t = new Tokenizer(VOCAB, { lowercase: false, stripAccents: true });
  assert.deepEqual(t.tokenize('Naïve'), ['Naive']);
});

test('whitespace/control cleaning, CJK isolation, special tokens in text', () => {
  assert.deepEqual(uncased.tokenize('  hello\tworld\u0000\n'), ['hello', 'world']);
  assert.deepEqual(uncased.tokenize('hello中x'), ['hello', '中', '[UNK]']);
  assert.deepEqual(uncased.encode('hello [MASK] world'), [2, id('hello'), 4, id('world'), 3]);
});

test('max chars per word: 100 -> pieces, 101 -> [UNK]', () => {
  const hundred = uncased.tokenize('a'.repeat(100));
  assert.equal(hundred.length, 100);
  assert.equal(hundred[0], 'a');
  assert.equal(hundred[99], '##a');
  assert.deepEqual(uncased.tokenize('a'.repeat(101)), ['[UNK]']);
  const short = new Tokenizer(VOCAB, { lowercase: true, maxCharsPerWord: 3 });
  assert.deepEqual(short.tokenize('aaa aaaa'), ['a', '##a', '##a', '[UNK]']);
});

test('encode adds [CLS]/[SEP] and truncates the pieces to maxLength', () => {
  assert.deepEqual(uncased.encode('unaffable running'), [2, 5, 6, 7, 8, 9, 3]);
  assert.deepEqual(uncased.encode('unaffable running', 5), [2, 5, 6, 7, 3]);
  assert.deepEqual(uncased.encode('', 5), [2, 3]);
  assert.throws(() => uncased.encode('a', 1), /maxLength is 1; expected an integer >= 2/);
});

test('encodeBatch: padding to maxLength, attention mask, longest padding', () => {
  const b = uncased.encodeBatch(['hello', 'hello world!', 'unaffable running hello'], { maxLength: 5 });
  assert.equal(b.batchSize, 3);
  assert.equal(b.length, 5);
  assert.ok(b.inputIds instanceof Int32Array);
  assert.ok(b.attentionMask instanceof Uint8Array);
  assert.deepEqual([...b.inputIds], [2, 16, 3, 0, 0, 2, 16, 17, 15, 3, 2, 5, 6, 7, 3]);
  assert.deepEqual([...b.attentionMask], [1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]);
  const l = uncased.encodeBatch(['hello', 'hello world'], { padding: 'longest' });
  assert.equal(l.length, 4);
  assert.deepEqual([...l.inputIds], [2, 16, 3, 0, 2, 16, 17, 3]);
  assert.deepEqual([...l.attentionMask], [1, 1, 1, 0, 1, 1, 1, 1]);
  const def = uncased.encodeBatch(['hello']);
  assert.equal(def.length, 16);
  assert.equal(uncased.encodeBatch([]).inputIds.length, 0);
});

test('decode glues ## pieces, drops specials and padding, cleans spaces before punctuation', () => {
  const ids = uncased.encodeBatch(['UnAffable running, hello!'], { maxLength: 12 }).inputIds;
  assert.equal(uncased.decode(ids), 'unaffable running, hello!');
  assert.equal(uncased.decode(ids, { skipSpecial: false }).startsWith('[CLS] unaffable'), true);
  assert.equal(uncased.decode([2, 3, 0]), '');
  assert.throws(() => uncased.decode([2, 99]), /id 99 at position 1 is outside the vocab \(0\.\.25\)/);
});

test('toJSON / fromJSON round trip gives identical encodings; bad JSON is rejected', () => {
  const json = JSON.parse(JSON.stringify(cased.toJSON())) as unknown;
  const back = Tokenizer.fromJSON(json);
  assert.deepEqual(back.toJSON(), cased.toJSON());
  const text = 'Hello hello Naive unaffable, 中!';
  assert.deepEqual(back.encodeBatch([text]), cased.encodeBatch([text]));
  assert.throws(() => Tokenizer.fromJSON({ ...cased.toJSON(), lowerCase: true }), /unknown key\(s\) lowerCase; valid keys: format, vocab/);
  assert.throws(() => Tokenizer.fromJSON({ ...cased.toJSON(), maxLength: 1.5 }), /maxLength is 1.5/);
  assert.throws(() => Tokenizer.fromJSON({ ...cased.toJSON(), format: 'x' }), /format is "x"/);
});

test('special ids and lookups', () => {
  assert.deepEqual(uncased.specialIds(), { '[PAD]': 0, '[UNK]': 1, '[CLS]': 2, '[SEP]': 3, '[MASK]': 4 });
  assert.equal(uncased.vocabSize, VOCAB.length);
  assert.equal(uncased.tokenToId('##ing'), 9);
  assert.equal(uncased.idToToken(9), '##ing');
  assert.equal(uncased.tokenToId('nope'), undefined);
  // specials need not sit at 0..4
  const moved = new Tokenizer(['hello', ...VOCAB.slice(0, 5)], { lowercase: true, maxLength: 4 });
  assert.deepEqual([...moved.encodeBatch(['hello'], { maxLength: 4 }).inputIds], [3, 0, 4, 1]);
});

test('vocab files: parse errors name the line; do_lower_case from config files or the vocab', () => {
  assert.throws(() => parseVocab('[PAD]\n[UNK]\n[CLS]\n[PAD]\n', 'v.txt'), /v\.txt: line 4 repeats token '\[PAD\]' of line 1/);
  assert.throws(() => parseVocab('[PAD]\n\n[CLS]\n', 'v.txt'), /v\.txt: line 2 is empty/);
  assert.throws(() => parseVocab('[PAD]\n[UNK]\n[CLS]\n', 'v.txt'), /missing special token\(s\) \[SEP\], \[MASK\]/);
  assert.deepEqual(parseVocab('[PAD]\r\n[UNK]\r\n[CLS]\r\n[SEP]\r\n[MASK]\r\n', 'v.txt'), VOCAB.slice(0, 5));
  assert.equal(vocabLooksCased(VOCAB), true);
  assert.equal(vocabLooksCased(VOCAB.filter((t) => t === t.toLowerCase() || t.startsWith('['))), false);

  const dir = mkdtempSync(join(tmpdir(), 'retalign-tok-'));
  try {
    const path = join(dir, 'vocab.txt');
    cased.saveVocab(path);
    assert.equal(readFileSync(path, 'utf8'), VOCAB.join('\n') + '\n');
    assert.deepEqual(readVocabFile(path), VOCAB);
    // no config files: the cased vocab decides (Bio_ClinicalBERT's situation)
    assert.deepEqual(decideLowercase(path, VOCAB), { lowercase: false, source: 'vocab', vocabLooksCased: true });
    assert.deepEqual(Tokenizer.fromVocabFile(path).tokenize('Hello'), ['Hello']);
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ model_type: 'bert', do_lower_case: true }));
    assert.deepEqual(decideLowercase(path, VOCAB), { lowercase: true, source: 'config.json', vocabLooksCased: true });
    writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({ do_lower_case: false }));
    assert.equal(decideLowercase(path, VOCAB).source, 'tokenizer_config.json');
    writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({ do_lower_case: 'yes' }));
    assert.throws(() => decideLowercase(path, VOCAB), /do_lower_case is "yes"; expected true or false/);
    // an explicit option wins over the files
    assert.deepEqual(Tokenizer.fromVocabFile(path, { lowercase: true, maxLength: 8 }).tokenize('HELLO'), ['hello']);
    assert.throws(() => readVocabFile(join(dir, 'missing.txt')), /cannot read vocab file .*missing\.txt/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
