// The gallery options of the evaluation (protocol ladder rungs 5 and 6) and the note that restates the
// record (rung 4), on hand-made data.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { evaluate, fusedRows } from '../../src/eval/evaluate.js';
import type { EvalMeta, RawPredictions } from '../../src/eval/result.js';
import { buildNote, DEFAULT_NOTE_OPTIONS, RECORD_NOTE_FIELDS } from '../../src/data/notes/index.js';
import type { ExamRecord } from '../../src/data/types.js';

const meta: EvalMeta = { model: 'm', kind: 'kemt', protocol: 'honest', dataset: 'hand', split: 'test', checkpoint: null, config: null, seed: 1, wallTimeS: null };
const opts = { bootstrap: 2, seed: 1, ks: [1, 2], embedSample: 0, subgroupMinSize: 100 };

/**
 * Four items in 3-D. The notes (text) match the records (tabular) exactly; the photos carry nothing (all
 * the same), so from the photo alone every gallery item ties and the pessimistic rank is the last one,
 * while the fused gallery (photo + record) puts each item's own exam first.
 */
function items(): RawPredictions {
  const text = Float32Array.from([1, 0, 0, 0, 1, 0, -1, 0, 0, 0, -1, 0]);
  return {
    imageIds: ['a', 'b', 'c', 'd'], patientIds: ['p1', 'p2', 'p3', 'p4'], noteGroups: Int32Array.from([0, 1, 2, 3]),
    icdr: null, sdrg: null, imageEmb: Float32Array.from([0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 1]), textEmb: text, tabEmb: Float32Array.from(text), dim: 3,
    icdrProbs: null, sdrgProbs: null, icdrLogits: null, sdrgLogits: null,
    subgroups: ['a', 'b', 'c', 'd'].map(() => ({ sex: 'f', ageBand: 'x', camera: 'c' })),
  };
}

const t2i = (r: ReturnType<typeof evaluate>) => r.retrieval.find((b) => b.pair === 'text->image')!;

test('fusedRows: the normalized mean of two unit rows', () => {
  const f = fusedRows(Float32Array.from([1, 0, 0, 1]), Float32Array.from([0, 1, 0, 1]), 2);
  assert.deepEqual(Array.from(f, (v) => Number(v.toFixed(4))), [0.7071, 0.7071, 0, 1]);
  assert.throws(() => fusedRows(new Float32Array(4), new Float32Array(2), 2), /fusedRows: the two embeddings have 4 and 2 values/);
});

test('the image gallery is the default; the fused gallery is asked for and labelled', () => {
  const plain = t2i(evaluate({ main: items() }, meta, opts));
  assert.equal(plain.gallery, undefined);
  assert.equal(plain.strict.recallAt[1], 0, 'the photos carry nothing: every item ties, no hit at rank 1');
  assert.equal(plain.strict.meanRank, 4);
  const asImage = t2i(evaluate({ main: items() }, meta, { ...opts, gallery: 'image' }));
  assert.deepEqual(asImage, plain);
  const fused = t2i(evaluate({ main: items() }, meta, { ...opts, gallery: 'fused' }));
  assert.equal(fused.gallery, 'fused');
  assert.equal(fused.strict.recallAt[1], 1, 'the record in the gallery item matches the note: every query finds its exam');
  // only text -> image uses the fused gallery
  const i2t = (r: ReturnType<typeof evaluate>) => r.retrieval.find((b) => b.pair === 'image->text')!;
  assert.deepEqual(i2t(evaluate({ main: items() }, meta, { ...opts, gallery: 'fused' })), i2t(evaluate({ main: items() }, meta, opts)));
});

test('a fused gallery without a record embedding is an error that says why', () => {
  assert.throws(() => evaluate({ main: { ...items(), tabEmb: null } }, meta, { ...opts, gallery: 'fused' }),
    /gallery 'fused' needs image and record embeddings, but tabEmb is null/);
});

test('galleries of a given size: each query ranked within its own gallery', () => {
  // The photos tie, so a query's rank is the size of its gallery (pessimistic ties): 4 in the full gallery, 2 in galleries of 2.
  const full = t2i(evaluate({ main: items() }, meta, opts));
  assert.equal(full.strict.galleryN, 4);
  assert.equal(full.gallerySize, undefined);
  assert.equal(full.strict.meanRank, 4);
  const small = t2i(evaluate({ main: items() }, meta, { ...opts, gallerySize: 2 }));
  assert.equal(small.gallerySize, 2);
  assert.equal(small.strict.galleryN, 2);
  assert.equal(small.strict.meanRank, 2);
  assert.equal(small.strict.recallAt[2], 1);
  // a gallery as large as the set is the full gallery
  assert.deepEqual(t2i(evaluate({ main: items() }, meta, { ...opts, gallerySize: 4 })).strict, full.strict);
  assert.throws(() => evaluate({ main: items() }, meta, { ...opts, gallerySize: 1 }), /gallerySize=1, expected null or an integer >= 2/);
});

test('a note restates the record only when asked, every field named', () => {
  const record: ExamRecord = {
    imageId: 'img1', patientId: 'p1', imagePath: '/x.jpg', eye: 'right',
    fields: { patient_age: 61.4, patient_sex: 'female', diabetes: true, diabetes_time_y: 12, insulin: false, comorbidities: 'SAH', camera: 'Canon CR', exam_eye: 'right' },
    labels: { icdr: 2, sdrg: 2, diabeticRetinopathy: null, macularEdema: null, flags: {} },
  };
  const plain = buildNote(record, DEFAULT_NOTE_OPTIONS);
  assert.ok(!plain.includes('Record:'), plain);
  const full = buildNote(record, { ...DEFAULT_NOTE_OPTIONS, includeRecord: true });
  assert.match(full, /Record: patient age 61\.4; patient sex female; diabetes yes; diabetes time y 12; insulin no; comorbidities SAH; camera Canon CR; exam eye right; focus not recorded;/);
  for (const f of RECORD_NOTE_FIELDS) assert.ok(full.includes(f.replace(/_/g, ' ')), `${f} in the note`);
  assert.ok(!/optic disc|vessels|macula /.test(full.slice(full.indexOf('Record:'))), "the grader's reading of the photo is not a record field");
});

test('each retrieval block carries the grade-only reference of its galleries; none without ICDR labels', () => {
  assert.equal(t2i(evaluate({ main: items() }, meta, opts)).gradeOnly, undefined);
  const graded = { ...items(), icdr: Int32Array.from([0, 0, 1, 1]) };
  // One gallery of four, two per grade: R@1 1/2, R@2 1.
  assert.deepEqual(t2i(evaluate({ main: graded }, meta, opts)).gradeOnly, { 1: 0.5, 2: 1 });
  // Galleries of two hold either one grade (R@1 1/2) or two (R@1 1), as the seeded shuffle cuts them; R@2 is 1 either way.
  const small = t2i(evaluate({ main: graded }, meta, { ...opts, gallerySize: 2 })).gradeOnly!;
  assert.ok([0.5, 1].includes(small['1'] as number), `R@1 ${small['1']}`);
  assert.equal(small['2'], 1);
});
