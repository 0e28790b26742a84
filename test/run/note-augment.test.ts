/**
 * Note augmentation (train.noteSentenceDropout / noteWordDropout): hand-built token rows, so each
 * expectation can be read off the ids.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { augmentNote, noteAugmentOn, type NoteMarks } from '../../src/run/note-augment.js';
import { Rng } from '../../src/data/rng.js';
import { resolveRunConfig } from '../../src/run/config.js';
import { trainBatchSource, noteMarks } from '../../src/job/train-run.js';
import { Tokenizer } from '../../src/data/tokenizer/tokenizer.js';
import type { PreparedItem } from '../../src/run/collate.js';
import { DEFAULT_CONFIG, type Batch } from '../../src/models/index.js';

const M: NoteMarks = { padId: 0, clsId: 2, sepId: 3, maskId: 4, periodId: 9 };
// [CLS] 10 11 . 12 13 14 . 15 . [SEP] pad pad: three sentences.
const IDS = Int32Array.from([2, 10, 11, 9, 12, 13, 14, 9, 15, 9, 3, 0, 0]);
const ATT = Int32Array.from([1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0]);

function body(ids: Int32Array, att: Int32Array): number[] {
  const out: number[] = [];
  for (let j = 0; j < ids.length; j++) if (att[j] === 1) out.push(ids[j] as number);
  return out;
}

test('no dropout: the note comes back unchanged, and noteAugmentOn says off', () => {
  assert.equal(noteAugmentOn({ sentenceDrop: 0, wordDrop: 0 }), false);
  const r = augmentNote(IDS, ATT, new Rng(1), { sentenceDrop: 0, wordDrop: 0 }, M);
  assert.deepEqual([...r.ids], [...IDS]);
  assert.deepEqual([...r.attention], [...ATT]);
});

test('sentence dropout removes whole sentences, keeps [CLS]/[SEP], re-pads, and never empties the note', () => {
  const sentences = [[10, 11, 9], [12, 13, 14, 9], [15, 9]];
  let dropped = 0;
  for (let seed = 0; seed < 200; seed++) {
    const r = augmentNote(IDS, ATT, new Rng(seed), { sentenceDrop: 0.5, wordDrop: 0 }, M);
    assert.equal(r.ids.length, IDS.length);
    const b = body(r.ids, r.attention);
    assert.equal(b[0], 2);
    assert.equal(b[b.length - 1], 3);
    const inner = b.slice(1, -1);
    // What is left is the kept sentences, in order.
    const kept = sentences.filter((s) => inner.join(',').includes(s.join(',')));
    assert.deepEqual(kept.flat(), inner, `seed ${seed}: ${inner}`);
    assert.ok(kept.length >= 1, `seed ${seed}: empty note`);
    if (kept.length < 3) dropped++;
    // Padding after the body, attention 0 there.
    for (let j = b.length; j < r.ids.length; j++) {
      assert.equal(r.ids[j], 0);
      assert.equal(r.attention[j], 0);
    }
  }
  // P(all three kept) = 1/8: about 175 of 200 drop something.
  assert.ok(dropped > 150 && dropped < 195, `dropped ${dropped} of 200`);
});

test('word dropout masks word pieces only (never [CLS], [SEP], the periods or padding) at about the asked rate', () => {
  let masked = 0;
  let words = 0;
  for (let seed = 0; seed < 400; seed++) {
    const r = augmentNote(IDS, ATT, new Rng(seed), { sentenceDrop: 0, wordDrop: 0.25 }, M);
    for (let j = 0; j < IDS.length; j++) {
      if ([2, 3, 9, 0].includes(IDS[j] as number)) assert.equal(r.ids[j], IDS[j], `position ${j}`);
      else {
        words++;
        if (r.ids[j] === 4) masked++;
        else assert.equal(r.ids[j], IDS[j]);
      }
    }
    assert.deepEqual([...r.attention], [...ATT]);
  }
  const rate = masked / words;
  assert.ok(Math.abs(rate - 0.25) < 0.03, `mask rate ${rate}`);
});

test('a note cut at maxTokens without [SEP] stays cut (no [SEP] added), the input arrays are not modified', () => {
  const ids = Int32Array.from([2, 10, 9, 11, 9, 12]);
  const att = Int32Array.from([1, 1, 1, 1, 1, 1]);
  const before = [...ids];
  const r = augmentNote(ids, att, new Rng(5), { sentenceDrop: 0.9, wordDrop: 0.5 }, M);
  assert.deepEqual([...ids], before);
  const b = body(r.ids, r.attention);
  assert.equal(b[0], 2);
  assert.ok(!b.includes(3));
  assert.throws(() => augmentNote(Int32Array.from([7, 1]), Int32Array.from([1, 1]), new Rng(1), { sentenceDrop: 0.5, wordDrop: 0 }, M), /start with \[CLS\]/);
});

test('trainBatchSource: off by default (batches identical to no marks); on, the same seed gives the same batches and only notes change', () => {
  const tok = new Tokenizer(['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', '.', 'a', 'b', 'c'], { lowercase: true, maxLength: 12 });
  const marks = noteMarks(tok);
  assert.equal(marks.periodId, 5);
  const items: PreparedItem[] = Array.from({ length: 8 }, (_, i) => {
    const enc = tok.encodeBatch(['a b. c a. b.'], { maxLength: 12 });
    return {
      imageId: `i${i}`, patientId: `p${i}`, image: new Float32Array(3 * 4 * 4).fill(i), tokenIds: Int32Array.from(enc.inputIds),
      attention: Int32Array.from(enc.attentionMask), tabular: null, icdr: i % 5, sdrg: i % 5, noteGroup: i,
    };
  });
  const m = { ...DEFAULT_CONFIG, image: { ...DEFAULT_CONFIG.image, imageSize: 4 } };
  const draw = (cfg: ReturnType<typeof resolveRunConfig>, mk: typeof marks | null) => {
    const src = trainBatchSource(items, cfg, m, 0, undefined, undefined, mk);
    const out: { ids: number[]; img: number[] }[] = [];
    for (const b of src.batchesForEpoch(0, new Rng(11), 0) as Iterable<Batch>) {
      out.push({ ids: b.tokenIds?.toNumbers() ?? [], img: b.images?.toNumbers() ?? [] });
    }
    return out;
  };
  const base = resolveRunConfig({ name: 'x', data: { maxTokens: 12 }, train: { batchSize: 4 } });
  assert.deepEqual(draw(base, marks), draw(base, null));
  const on = resolveRunConfig({ name: 'x', data: { maxTokens: 12 }, train: { batchSize: 4, noteSentenceDropout: 0.5, noteWordDropout: 0.2 } });
  const a = draw(on, marks);
  assert.deepEqual(a, draw(on, marks));
  const off = draw(base, marks);
  assert.deepEqual(a.map((x) => x.img), off.map((x) => x.img));
  assert.notDeepEqual(a.map((x) => x.ids), off.map((x) => x.ids));
});
