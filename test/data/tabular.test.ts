// Tabular featurizer: hand-computed standardization, one-hot with other + missing slots, booleans,
// comorbidity text flags, label fields refused, JSON round trip identical.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExamRecord, FieldValue } from '../../src/data/types.js';
import { BRSET_DEFAULT_FIELDS, GRADER_READING_FIELDS, TabularFeaturizer, tabularFieldSpecs, type FieldSpec } from '../../src/data/tabular.js';

function rec(id: string, fields: Record<string, FieldValue>): ExamRecord {
  return {
    imageId: id, patientId: id, imagePath: '', eye: 'unknown', fields,
    labels: { icdr: 0, sdrg: 0, diabeticRetinopathy: null, macularEdema: null, flags: {} },
  };
}

const SPEC: FieldSpec[] = [
  { name: 'age', kind: 'numeric' },
  { name: 'camera', kind: 'categorical' },
  { name: 'insulin', kind: 'boolean' },
  { name: 'htn', kind: 'textFlag', source: 'comorbidities', pattern: 'hypertens|\\bsah\\b' },
];

const TRAIN = [
  rec('a', { age: 40, camera: 'Canon CR', insulin: true, comorbidities: 'diabetes1, hypertension' }),
  rec('b', { age: 50, camera: 'NIKON NF5050', insulin: false, comorbidities: 'SAH' }),
  rec('c', { age: 60, camera: 'Canon CR', insulin: null, comorbidities: 'diabetes2' }),
  rec('d', { age: null, camera: null, comorbidities: null }),
];

test('hand-computed vectors and feature names', () => {
  const f = TabularFeaturizer.fit(TRAIN, SPEC);
  // age: mean 50, population sd sqrt((100 + 0 + 100) / 3).
  const sd = Math.sqrt(200 / 3);
  assert.deepEqual(f.toJSON().fields[0], { name: 'age', kind: 'numeric', mean: 50, sd });
  assert.deepEqual(f.featureNames(), [
    'age', 'age:missing',
    'camera=Canon CR', 'camera=NIKON NF5050', 'camera=<other>', 'camera:missing',
    'insulin', 'insulin:missing',
    'htn', 'htn:missing',
  ]);
  assert.equal(f.dim, 10);
  const x = f.transform(rec('t', { age: 65, camera: 'Topcon', insulin: true, comorbidities: 'Hypertension' }));
  assert.ok(x instanceof Float32Array);
  assert.deepEqual([...x], [Math.fround(15 / sd), 0, 0, 0, 1, 0, 1, 0, 1, 0]);
  assert.deepEqual([...f.transform(TRAIN[1] as ExamRecord)], [0, 0, 0, 1, 0, 0, 0, 0, 1, 0]);
  assert.deepEqual([...f.transform(TRAIN[2] as ExamRecord)], [Math.fround(10 / sd), 0, 1, 0, 0, 0, 0, 1, 0, 0]);
  // All missing (DeepEyeNet-like record with no fields at all): only missing indicators set.
  assert.deepEqual([...f.transform(rec('e', {}))], [0, 1, 0, 0, 0, 1, 0, 1, 0, 1]);
});

test('fit uses only the records given (train), and degenerate numerics get sd 1', () => {
  const f = TabularFeaturizer.fit([rec('a', { age: 7 })], [{ name: 'age', kind: 'numeric' }]);
  assert.deepEqual(f.toJSON().fields[0], { name: 'age', kind: 'numeric', mean: 7, sd: 1 });
  const g = TabularFeaturizer.fit([rec('a', { age: null })], [{ name: 'age', kind: 'numeric' }]);
  assert.deepEqual([...g.transform(rec('b', { age: 3 }))], [3, 0]);
});

test('label fields can never be features', () => {
  for (const name of ['DR_ICDR', 'dr_sdrg', 'icdr', 'diabetic_retinopathy', 'macular_edema', 'amd', 'drusens', 'increased_cup_disc']) {
    assert.throws(() => TabularFeaturizer.fit(TRAIN, [{ name, kind: 'numeric' }]), /is a label .* can never be a feature/, name);
  }
  assert.throws(() => TabularFeaturizer.fit(TRAIN, [{ name: 'x', kind: 'textFlag', source: 'macular_edema', pattern: '1' }]), /"macular_edema" is a label/);
  assert.throws(() => TabularFeaturizer.fromJSON({ version: 1, fields: [{ name: 'DR_ICDR', kind: 'boolean' }] }), /is a label/);
});

test('wrong types are precise errors', () => {
  assert.throws(() => TabularFeaturizer.fit([rec('z', { age: '61' })], SPEC), /record z field age = "61" \(expected a finite number or null\)/);
  const f = TabularFeaturizer.fit(TRAIN, SPEC);
  assert.throws(() => f.transform(rec('q', { insulin: 'yes' })), /record q field insulin = "yes" \(expected a boolean or null\)/);
  assert.throws(() => TabularFeaturizer.fit(TRAIN, [{ name: 'age', kind: 'numeric' }, { name: 'age', kind: 'numeric' }]), /listed twice/);
});

test('save/load round trip gives identical vectors', () => {
  const f = TabularFeaturizer.fit(TRAIN, SPEC);
  const path = join(mkdtempSync(join(tmpdir(), 'retalign-tab-')), 'tabular.json');
  f.save(path);
  const g = TabularFeaturizer.load(path);
  assert.deepEqual(g.featureNames(), f.featureNames());
  assert.deepEqual(g.toJSON(), f.toJSON());
  const probe = [...TRAIN, rec('t', { age: 33.3, camera: 'other cam', insulin: false, comorbidities: 'none' })];
  assert.deepEqual(g.transformAll(probe), f.transformAll(probe));
  assert.deepEqual(TabularFeaturizer.fromJSON(JSON.parse(JSON.stringify(f))).transformAll(probe), f.transformAll(probe));
});

test('BRSET default field list on decoded BRSET-like records', () => {
  const names = BRSET_DEFAULT_FIELDS.map((s) => s.name);
  assert.ok(!names.includes('nationality'));
  assert.ok(names.includes('exam_eye') && names.includes('comorbidity_hypertension'));
  const r1 = rec('img1', {
    camera: 'Canon CR', patient_age: 48, comorbidities: 'diabetes1, hypertension', diabetes_time_y: 10, insulin: true,
    patient_sex: 'male', exam_eye: 'right', diabetes: true, nationality: 'Brazil', optic_disc: 'normal', vessels: 'normal',
    macula: 'normal', focus: 'ok', illumination: 'ok', image_field: 'ok', artifacts: 'ok', quality: 'adequate',
  });
  const r2 = rec('img2', { ...r1.fields, patient_age: 60, comorbidities: 'SAH', exam_eye: 'left', insulin: null });
  const f = TabularFeaturizer.fit([r1, r2]);
  const names1 = f.featureNames();
  const x = f.transform(r1);
  const at = (n: string): number => x[names1.indexOf(n)] as number;
  assert.equal(at('patient_age'), -1); // (48 - 54) / 6
  assert.equal(at('comorbidity_hypertension'), 1);
  assert.equal(at('comorbidity_diabetes1'), 1);
  assert.equal(at('comorbidity_diabetes2'), 0);
  assert.equal(at('exam_eye=right'), 1);
  assert.equal(at('insulin'), 1);
  assert.equal(f.transform(r2)[names1.indexOf('insulin:missing')], 1);
  assert.equal(f.transform(r2)[names1.indexOf('comorbidity_hypertension')], 1);
  assert.equal(f.transform(rec('img3', {}))[names1.indexOf('comorbidity_hypertension:missing')], 1);
});

test('tabularFieldSpecs: default names take their spec, other columns are declared, mistakes are named', () => {
  assert.deepEqual(tabularFieldSpecs(null), BRSET_DEFAULT_FIELDS.map((f) => ({ ...f })));
  assert.deepEqual(tabularFieldSpecs(['patient_age', 'comorbidity_hypertension', 'hba1c:numeric', 'smoker : boolean']), [
    { name: 'patient_age', kind: 'numeric' },
    BRSET_DEFAULT_FIELDS.find((f) => f.name === 'comorbidity_hypertension'),
    { name: 'hba1c', kind: 'numeric' },
    { name: 'smoker', kind: 'boolean' },
  ]);
  // the grader's reading of the photo is part of the default list, and can be left out by name
  for (const f of GRADER_READING_FIELDS) assert.ok(BRSET_DEFAULT_FIELDS.some((d) => d.name === f), f);
  const withoutReading = BRSET_DEFAULT_FIELDS.filter((f) => !GRADER_READING_FIELDS.includes(f.name)).map((f) => f.name);
  assert.equal(tabularFieldSpecs(withoutReading).length, BRSET_DEFAULT_FIELDS.length - 3);
  assert.throws(() => tabularFieldSpecs(['hba1c']), /data\.tabularFields: "hba1c" is not one of the default fields \(patient_age, .*\); declare another column as 'hba1c:numeric'/);
  assert.throws(() => tabularFieldSpecs(['hba1c:float']), /"hba1c:float" has kind "float"; expected numeric, categorical, boolean/);
  assert.throws(() => tabularFieldSpecs(['patient_age', 'patient_age']), /"patient_age" is listed twice/);
  assert.throws(() => tabularFieldSpecs(['DR_ICDR:categorical']), /"DR_ICDR" is a label .* and can never be a feature/);
  assert.throws(() => tabularFieldSpecs([]), /data\.tabularFields: empty/);
  assert.throws(() => tabularFieldSpecs(['a:numeric:x']), /"a:numeric:x" is not 'name' or 'name:kind'/);
});
