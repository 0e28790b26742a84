// Knowledge-enhanced note builder: each option, determinism, template hold-out, no grade leak.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  buildNote, buildNotes, buildNoteWithTemplates, DEFAULT_NOTE_OPTIONS, GRADE_WORDS, resolveNoteOptions,
  type NoteOptions, type NoteTruth,
} from '../../src/data/notes/builder.js';
import { loadKnowledgeBase, validateKnowledgeBase } from '../../src/data/notes/kb.js';
import { allowedTemplates, fill, isTestTemplate, TEMPLATES, type Slot } from '../../src/data/notes/templates.js';
import { packageRoot, assetPath } from '../../src/data/assets.js';
import type { ExamRecord } from '../../src/data/types.js';

/** A made-up record (not BRSET data), decoded as the BRSET reader decodes fields. */
function record(id: string, icdr: number, over: Partial<ExamRecord['fields']> = {}): ExamRecord {
  return {
    imageId: id, patientId: 'p1', imagePath: `/x/${id}.jpg`, eye: 'right',
    fields: {
      patient_age: 61, patient_sex: 'female', diabetes: true, diabetes_time_y: 12, insulin: true,
      camera: 'Canon CR', quality: 'adequate', ...over,
    },
    labels: { icdr, sdrg: icdr, diabeticRetinopathy: icdr > 0, macularEdema: false, flags: { drusen: false } },
  };
}

const TRUTH2: NoteTruth = {
  lesions: [
    { type: 'microaneurysm', quadrant: 'superotemporal', count: 3 },
    { type: 'microaneurysm', quadrant: 'inferonasal', count: 2 },
    { type: 'blot_haemorrhage', quadrant: 'superonasal', count: 4 },
    { type: 'hard_exudate', quadrant: 'macula', count: 12 },
  ],
  quality: { blur: 0.015 },
};
const TRUTH4: NoteTruth = { lesions: [{ type: 'neovascularisation_disc', quadrant: 'disc', count: 1 }, { type: 'laser_scar', quadrant: 'inferotemporal', count: 40 }] };
const TRUTH0: NoteTruth = { lesions: [{ type: 'drusen', quadrant: 'macula', count: 9 }] };

const opts = (o: Partial<NoteOptions>): NoteOptions => resolveNoteOptions(o);

test('includePatient: age, sex, diabetes duration, insulin and camera; none of it when off', () => {
  const on = buildNote(record('a1', 2), opts({ includePatient: true, includeFindings: false }));
  assert.match(on, /61-year-old woman with diabetes for 12 years, treated with insulin/);
  assert.match(on, /Canon CR/);
  const off = buildNote(record('a1', 2), opts({ includePatient: false, includeFindings: false }));
  assert.doesNotMatch(off, /61|woman|diabetes|insulin|Canon/);
  assert.match(off, /right eye/);
  // Missing fields are left out, not invented.
  const sparse = buildNote(record('a2', 0, { patient_age: null, diabetes: false, diabetes_time_y: null, insulin: null }), opts({ includeFindings: false }));
  assert.match(sparse, /a woman of unrecorded age without known diabetes/);
});

test('includeFindings: lesion types, counts and quadrants from ground truth; quality defects', () => {
  const seen = new Set<string>();
  for (let seed = 0; seed < 20; seed++) {
    const n = buildNote(record('b1', 2), opts({ includeFindings: true, includePatient: false, seed }), TRUTH2);
    assert.match(n, /microaneurysms/);
    assert.match(n, /superotemporal and inferonasal quadrants/);
    assert.match(n, /blot haemorrhages/);
    assert.match(n, /hard exudates/);
    assert.match(n, /at the macula/i);
    assert.match(n, /out of focus/);
    assert.match(n, /\b(5|several) microaneurysms\b/i);
    assert.match(n, /\b(12|many) hard exudates\b/i);
    seen.add(/\b5 microaneurysms/.test(n) ? 'exact' : 'vague');
  }
  assert.deepEqual(seen, new Set(['exact', 'vague']));
  const grade0 = buildNote(record('b2', 0), opts({ includeFindings: true }), TRUTH0);
  assert.match(grade0, /drusen/);
  assert.match(grade0, /at the macula/i);
  assert.match(grade0, /No (microaneurysms|retinal lesions|red or bright|haemorrhages)|no vascular lesions|free of lesions/);
  const off = buildNote(record('b1', 2), opts({ includeFindings: false }), TRUTH2);
  assert.doesNotMatch(off, /microaneurysm|haemorrhage|exudate|quadrant|focus/);
});

test('includeFindings without ground truth falls back to the label flags', () => {
  const r = record('c1', 2);
  r.labels.macularEdema = true;
  r.labels.flags = { drusen: true, increased_cup_disc: false, my_custom_flag: true };
  const n = buildNote(r, opts({ includeFindings: true }));
  assert.match(n, /signs of macular oedema, drusen and my custom flag/);
  assert.doesNotMatch(n, /cup-to-disc/);
});

test('includeGrade: ICDR and SDRG grade with definition, lesion meaning and referral', () => {
  const n = buildNote(record('d1', 4), opts({ includeGrade: true, includeFindings: true }), TRUTH4);
  assert.match(n, /proliferative diabetic retinopathy/);
  assert.match(n, /ICDR (grade )?4/);
  assert.match(n, /R4/);
  assert.match(n, /refer urgently/);
  assert.match(n, /panretinal photocoagulation/, 'meaning of the worst lesion (laser scars) from the knowledge base');
  const n0 = buildNote(record('d2', 0), opts({ includeGrade: true, includeFindings: false }));
  assert.match(n0, /no apparent diabetic retinopathy/);
  assert.match(n0, /rescreen in 12 months/i);
});

test('no grade leak: with includeGrade=false no grade word appears (findings on or off)', () => {
  const truths = [TRUTH0, TRUTH2, TRUTH4, undefined];
  for (let i = 0; i < 60; i++) {
    const r = record(`e${i}`, i % 5);
    r.labels.macularEdema = i % 2 === 0;
    for (const split of ['train', 'test', 'all'] as const) {
      const plain = buildNote(r, opts({ includeGrade: false, includeFindings: false, templateSplit: split, seed: i }), truths[i % 4]);
      assert.doesNotMatch(plain, GRADE_WORDS, plain);
      assert.doesNotMatch(plain, /oedema|edema|lesion|haemorrhage|exudate|microaneurysm|new vessel|laser/i, plain);
      const withFindings = buildNote(r, opts({ includeGrade: false, includeFindings: true, templateSplit: split, seed: i }), truths[i % 4]);
      assert.doesNotMatch(withFindings, GRADE_WORDS, withFindings);
    }
  }
  // The check itself catches grade words.
  assert.match(buildNote(record('e0', 3), opts({ includeGrade: true })), GRADE_WORDS);
  for (const w of ['ICDR 2', 'referable', 'proliferative', 'R3', 'moderate NPDR', 'grade 0']) assert.match(w, GRADE_WORDS);
});

test('same seed -> same notes; another seed -> other template choices', () => {
  const recs = Array.from({ length: 20 }, (_, i) => record(`f${i}`, i % 5));
  const truths = new Map(recs.map((r, i) => [r.imageId, [TRUTH0, TRUTH2, TRUTH4][i % 3] as NoteTruth]));
  const o = opts({ includeGrade: true, seed: 7 });
  assert.deepEqual(buildNotes(recs, o, truths), buildNotes(recs, o, truths));
  // Order-independent: a record's note does not depend on its neighbours.
  assert.equal(buildNotes([...recs].reverse(), o, truths)[0], buildNotes(recs, o, truths)[19]);
  const other = buildNotes(recs, { ...o, seed: 8 }, truths);
  assert.ok(other.some((n, i) => n !== buildNotes(recs, o, truths)[i]));
});

test('template hold-out: train and test notes use disjoint templates and share no sentence', () => {
  for (const slot of Object.keys(TEMPLATES) as Slot[]) {
    const tr = allowedTemplates(slot, 'train');
    const te = allowedTemplates(slot, 'test');
    assert.ok(tr.length >= 2 && te.length >= 1, slot);
    assert.deepEqual([...tr, ...te].sort(), allowedTemplates(slot, 'all').sort());
  }
  assert.deepEqual(allowedTemplates('exam', 'test'), [2, 5]);
  const trainIds = new Set<string>();
  const testIds = new Set<string>();
  const trainSentences = new Set<string>();
  const testSentences = new Set<string>();
  for (let i = 0; i < 40; i++) {
    const r = record(`g${i}`, i % 5, i % 3 === 0 ? { patient_age: null } : {});
    const truth = [TRUTH0, TRUTH2, TRUTH4][i % 3];
    for (const [split, ids, sentences] of [['train', trainIds, trainSentences], ['test', testIds, testSentences]] as const) {
      const b = buildNoteWithTemplates(r, opts({ includeGrade: true, templateSplit: split, seed: 3 }), truth);
      for (const t of b.templates) {
        ids.add(t);
        assert.equal(isTestTemplate(Number(t.split('#')[1])), split === 'test', `${split} note used ${t}`);
      }
      for (const s of b.text.split(/(?<=\.) /)) sentences.add(s);
    }
  }
  assert.equal([...trainIds].filter((t) => testIds.has(t)).length, 0);
  assert.deepEqual([...trainSentences].filter((s) => testSentences.has(s)), []);
});

test('options: defaults, unknown keys and bad values are rejected with the valid choices', () => {
  assert.deepEqual(resolveNoteOptions({}), DEFAULT_NOTE_OPTIONS);
  assert.throws(() => resolveNoteOptions({ includeGrades: true }), /unknown key 'includeGrades' \(valid: includeGrade, includeFindings, includePatient, includeRecord, templateSplit, seed, kb\)/);
  assert.throws(() => resolveNoteOptions({ templateSplit: 'val' }), /templateSplit = "val": expected 'train', 'test' or 'all'/);
  assert.throws(() => resolveNoteOptions({ includeGrade: 'yes' }), /includeGrade = "yes": expected true or false/);
  assert.throws(() => resolveNoteOptions({ seed: -1 }), /seed = -1/);
  assert.throws(() => buildNote(record('h1', 7), opts({ includeGrade: true })), /h1: ICDR 7 is not a grade 0\.\.4/);
});

test('fill: placeholders, capitalized placeholders, missing values', () => {
  assert.equal(fill('{Eye} eye, {eye}.', { eye: 'left' }), 'Left eye, left.');
  assert.throws(() => fill('{count} x', {}), /no value for \{count\}/);
});

test('knowledge base: versioned file, validated, lesion appearances free of grade words', () => {
  const kb = loadKnowledgeBase('kb-v1');
  assert.equal(kb.version, 'kb-v1');
  assert.deepEqual(kb.icdr.map((g) => g.grade), [0, 1, 2, 3, 4]);
  assert.deepEqual(kb.sdrg.map((g) => g.code), ['R0', 'R1', 'R2', 'R3', 'R4']);
  for (const [k, l] of Object.entries(kb.lesions)) assert.doesNotMatch(`${l.singular} ${l.plural} ${l.appearance}`, GRADE_WORDS, k);
  for (const q of Object.values(kb.quality)) assert.doesNotMatch(q, GRADE_WORDS);
  assert.throws(() => validateKnowledgeBase({ version: 'x', icdr: [] }, 'kb.json'), /kb\.json: field icdr: expected an array of 5 grade entries/);
  assert.throws(() => loadKnowledgeBase('kb-v999'), /asset not found: .*kb-v999\.json/);
});

test('assets: package root found by walking up to package.json named retalign', () => {
  const root = packageRoot();
  assert.ok(assetPath('knowledge', 'kb-v1.json').startsWith(root));
  const dir = mkdtempSync(join(tmpdir(), 'retalign-assets-'));
  try {
    assert.throws(() => packageRoot(dir), /no package.json named "retalign" above/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
