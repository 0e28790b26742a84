// Synthetic BRSET/DeepEyeNet twin: header, codings, determinism, prevalence, patient grouping,
// ground truth consistent with the ICDR/SDRG grade definitions.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateCohort, type SynthImage } from '../../src/data/synth/cohort.js';
import { FELLOW_EYE, gradesFromLesions, IMAGE_PREVALENCE, patientGradeMix } from '../../src/data/synth/grades.js';
import { synthesize } from '../../src/data/synth/synthesize.js';
import { generateDeepEyeNet } from '../../src/data/synth/deepeyenet.js';
import { brsetCsv, csvCell } from '../../src/data/synth/brset-csv.js';
import type { ImageTruth, TruthEntry } from '../../src/data/synth/types.js';

const HEADER =
  'image_id,patient_id,camera,patient_age,comorbidities,diabetes_time_y,insuline,patient_sex,exam_eye,diabetes,' +
  'nationality,optic_disc,vessels,macula,DR_SDRG,DR_ICDR,focus,iluminaton,image_field,artifacts,' +
  'diabetic_retinopathy,macular_edema,scar,nevus,amd,vascular_occlusion,hypertensive_retinopathy,drusens,' +
  'hemorrhage,retinal_detachment,myopic_fundus,increased_cup_disc,other,quality';

function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'retalign-synth-test-'));
}
const col = (name: string): number => HEADER.split(',').indexOf(name);
const cell = (img: SynthImage, name: string): string => img.row[col(name)] as string;

// One large cohort (no pixels) shared by the statistics tests: the size of BRSET.
const big = generateCohort({ patients: 8524, seed: 11, prevalence: 'real' });

test('labels.csv header is exactly the BRSET v1.0.0 header (34 columns, file order)', async () => {
  const dir = tmp();
  try {
    await synthesize({ out: dir, patients: 5, seed: 3, images: false });
    const text = readFileSync(join(dir, 'labels.csv'), 'utf8');
    const lines = text.trimEnd().split('\n');
    assert.equal(lines[0], HEADER);
    assert.equal(HEADER.split(',').length, 34);
    assert.ok(lines.length >= 6 && lines.length <= 21, `5 patients give 5..20 rows, got ${lines.length - 1}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('csv cells with commas are quoted; rows of the wrong width are rejected', () => {
  assert.equal(csvCell('diabetes1, SAH'), '"diabetes1, SAH"');
  assert.equal(csvCell('say "no"'), '"say ""no"""');
  assert.equal(csvCell('48.0'), '48.0');
  assert.throws(() => brsetCsv([['a', 'b']]), /row 0 has 2 cells, expected 34/);
});

test('same seed -> identical labels.csv, ground_truth.json and image bytes; other seed -> different', async () => {
  const a = tmp();
  const b = tmp();
  const c = tmp();
  try {
    await synthesize({ out: a, patients: 4, size: 64, seed: 5, prevalence: 'balanced' });
    await synthesize({ out: b, patients: 4, size: 64, seed: 5, prevalence: 'balanced' });
    await synthesize({ out: c, patients: 4, size: 64, seed: 6, prevalence: 'balanced', images: false });
    for (const f of ['labels.csv', 'ground_truth.json']) {
      assert.ok(readFileSync(join(a, f)).equals(readFileSync(join(b, f))), `${f} differs between identical runs`);
    }
    const imgs = readdirSync(join(a, 'fundus_photos')).sort();
    assert.ok(imgs.length >= 4);
    for (const f of imgs) {
      const x = readFileSync(join(a, 'fundus_photos', f));
      assert.equal(x[0], 0xff);
      assert.equal(x[1], 0xd8, 'JPEG magic');
      assert.ok(x.equals(readFileSync(join(b, 'fundus_photos', f))), `${f} differs between identical runs`);
    }
    assert.notEqual(readFileSync(join(a, 'labels.csv'), 'utf8'), readFileSync(join(c, 'labels.csv'), 'utf8'));
    const gt = JSON.parse(readFileSync(join(a, 'ground_truth.json'), 'utf8')) as { version: string; seed: number; images: ImageTruth[] };
    assert.equal(gt.seed, 5);
    assert.match(gt.version, /^\d+\.\d+\.\d+$/);
    assert.equal(gt.images.length, imgs.length);
  } finally {
    for (const d of [a, b, c]) rmSync(d, { recursive: true, force: true });
  }
});

test('patient k does not depend on how many patients follow', () => {
  const small = generateCohort({ patients: 30, seed: 11, prevalence: 'real' });
  assert.deepEqual(small.map((i) => i.row), big.slice(0, small.length).map((i) => i.row));
});

test('patientGradeMix solves m = p (I + T) / 2 for the real mix', () => {
  const p = patientGradeMix('real');
  for (let h = 0; h < 5; h++) {
    let m = p[h] as number;
    for (let g = 0; g < 5; g++) m += (p[g] as number) * (FELLOW_EYE[g]?.[h] as number);
    assert.ok(Math.abs(m / 2 - (IMAGE_PREVALENCE.real[h] as number)) < 1e-12, `grade ${h}`);
  }
});

test('prevalence: real ~93% ICDR 0, balanced roughly equal grades (400 patients, no images)', () => {
  const real = generateCohort({ patients: 400, seed: 2, prevalence: 'real' });
  const r0 = real.filter((i) => i.icdr === 0).length / real.length;
  assert.ok(r0 > 0.88 && r0 < 0.97, `real ICDR 0 fraction ${r0}`);
  const bal = generateCohort({ patients: 400, seed: 2, prevalence: 'balanced' });
  for (let g = 0; g <= 4; g++) {
    const f = bal.filter((i) => i.icdr === g).length / bal.length;
    assert.ok(f > 0.12 && f < 0.28, `balanced ICDR ${g} fraction ${f}`);
  }
  // BRSET-sized real cohort: per-grade fractions near the published counts.
  const want = [0.933, 0.0097, 0.0277, 0.0048, 0.0243];
  want.forEach((w, g) => {
    const f = big.filter((i) => i.icdr === g).length / big.length;
    assert.ok(Math.abs(f - w) < Math.max(0.004, w * 0.35), `real ICDR ${g}: ${f} vs ${w}`);
  });
});

test('patients have 1-4 images (mean ~1.9), eyes coded 1/2, patient fields constant', () => {
  const byPatient = new Map<number, SynthImage[]>();
  for (const i of big) byPatient.set(i.patientId, [...(byPatient.get(i.patientId) ?? []), i]);
  assert.equal(byPatient.size, 8524);
  const mean = big.length / byPatient.size;
  assert.ok(mean > 1.8 && mean < 2.0, `mean images per patient ${mean}`);
  for (const [pid, imgs] of byPatient) {
    assert.ok(imgs.length >= 1 && imgs.length <= 4, `patient ${pid} has ${imgs.length} images`);
    for (const c of ['patient_id', 'camera', 'patient_age', 'patient_sex', 'diabetes', 'diabetes_time_y', 'insuline', 'comorbidities']) {
      assert.equal(new Set(imgs.map((i) => cell(i, c))).size, 1, `patient ${pid}: ${c} varies`);
    }
    if (imgs.length >= 2) assert.deepEqual(new Set(imgs.map((i) => cell(i, 'exam_eye'))), new Set(['1', '2']));
    // Repeat photos of one eye carry the same grades.
    for (const e of ['1', '2']) assert.ok(new Set(imgs.filter((i) => cell(i, 'exam_eye') === e).map((i) => cell(i, 'DR_ICDR'))).size <= 1);
  }
  assert.equal(big[0]?.imageId, 'img00001');
  assert.equal(big[big.length - 1]?.imageId, `img${String(big.length).padStart(5, '0')}`);
});

test('codings, dirty values and missingness follow BRSET', () => {
  const n = big.length;
  const frac = (c: string, v: string): number => big.filter((i) => cell(i, c) === v).length / n;
  const values = (c: string): Set<string> => new Set(big.map((i) => cell(i, c)));
  assert.deepEqual(values('camera'), new Set(['Canon CR', 'NIKON NF5050']));
  assert.deepEqual(values('diabetes'), new Set(['yes', 'No']));
  assert.deepEqual(values('nationality'), new Set(['Brazil']));
  assert.deepEqual(values('optic_disc'), new Set(['1', '2', 'bv']));
  assert.deepEqual(values('focus'), new Set(['0', '1', '2']));
  assert.deepEqual(values('quality'), new Set(['Adequate', 'Inadequate']));
  assert.deepEqual(values('insuline'), new Set(['', 'yes', 'no']));
  assert.ok(values('diabetes_time_y').has('Não'));
  assert.ok(big.every((i) => /^(\d+\.0)?$/.test(cell(i, 'patient_age'))), 'ages written like 48.0');
  const near = (x: number, want: number, tol: number, what: string): void => assert.ok(Math.abs(x - want) < tol, `${what}: ${x} vs ${want}`);
  near(frac('patient_age', ''), 0.335, 0.03, 'age missing');
  near(frac('comorbidities', ''), 0.506, 0.03, 'comorbidities missing');
  near(frac('diabetes_time_y', ''), 0.885, 0.02, 'duration missing');
  near(frac('insuline', ''), 0.895, 0.02, 'insulin missing');
  near(frac('patient_sex', '2'), 0.618, 0.03, 'female');
  near(frac('camera', 'Canon CR'), 0.651, 0.03, 'Canon');
  near(frac('diabetes', 'yes'), 0.159, 0.02, 'diabetes');
  near(frac('quality', 'Inadequate'), 0.122, 0.02, 'inadequate');
  near(frac('drusens', '1'), 0.174, 0.03, 'drusen');
  near(frac('increased_cup_disc', '1'), 0.197, 0.03, 'cup/disc');
  // quality is Inadequate exactly when a quality field says 2.
  for (const i of big) {
    const bad = ['focus', 'iluminaton', 'image_field', 'artifacts'].some((c) => cell(i, c) === '2');
    assert.equal(cell(i, 'quality'), bad ? 'Inadequate' : 'Adequate', i.imageId);
  }
  // Diabetic retinopathy only in diabetics; the DR flag follows ICDR.
  for (const i of big) {
    if (i.icdr > 0) assert.equal(cell(i, 'diabetes'), 'yes', i.imageId);
    assert.equal(cell(i, 'diabetic_retinopathy'), i.icdr > 0 ? '1' : '0');
  }
});

test('SDRG joint: scales agree at 0/1/3/4 (up to grader noise), ICDR 2 spreads over SDRG 1-3', () => {
  const bal = generateCohort({ patients: 600, seed: 4, prevalence: 'balanced' });
  for (const i of bal) {
    if (i.gradeNoise) { assert.equal(Math.abs(i.sdrg - i.plan.sdrg), 1); continue; }
    if (i.icdr === 2) assert.ok([1, 2, 3].includes(i.sdrg), `${i.imageId}: ICDR 2 with SDRG ${i.sdrg}`);
    else assert.equal(i.sdrg, i.icdr, i.imageId);
  }
  const icdr2 = new Set(bal.filter((i) => i.icdr === 2 && !i.gradeNoise).map((i) => i.sdrg));
  assert.deepEqual(icdr2, new Set([1, 2, 3]));
  const noisy = bal.filter((i) => i.gradeNoise).length / bal.filter((i) => i.icdr > 0).length;
  assert.ok(noisy > 0.003 && noisy < 0.05, `grade noise rate ${noisy}`);
});

test('gradesFromLesions: hand-built cases of the ICDR 4-2-1 rule and the SDRG hemifield rule', () => {
  const e = (type: TruthEntry['type'], quadrant: TruthEntry['quadrant'], count: number): TruthEntry => ({ type, quadrant, count });
  assert.deepEqual(gradesFromLesions([]), { icdr: 0, sdrg: 0 });
  assert.deepEqual(gradesFromLesions([e('drusen', 'macula', 12)]), { icdr: 0, sdrg: 0 });
  assert.deepEqual(gradesFromLesions([e('microaneurysm', 'superotemporal', 3)]), { icdr: 1, sdrg: 1 });
  assert.deepEqual(gradesFromLesions([e('dot_haemorrhage', 'inferonasal', 1)]), { icdr: 2, sdrg: 1 });
  // 4 blots in the superior hemifield only: R2; in both: R3.
  assert.deepEqual(gradesFromLesions([e('blot_haemorrhage', 'superotemporal', 2), e('blot_haemorrhage', 'superonasal', 2)]), { icdr: 2, sdrg: 2 });
  assert.deepEqual(gradesFromLesions([e('blot_haemorrhage', 'superotemporal', 4), e('blot_haemorrhage', 'inferonasal', 4)]), { icdr: 2, sdrg: 3 });
  // 21 haemorrhages in each quadrant: severe; 20 in one of them: not.
  const q4 = ['superotemporal', 'superonasal', 'inferotemporal', 'inferonasal'] as const;
  assert.equal(gradesFromLesions(q4.map((q) => e('dot_haemorrhage', q, 21))).icdr, 3);
  assert.equal(gradesFromLesions(q4.map((q, i) => e('dot_haemorrhage', q, i === 0 ? 20 : 21))).icdr, 2);
  // Venous beading: one quadrant is ICDR 2 / R3; two quadrants ICDR 3.
  assert.deepEqual(gradesFromLesions([e('venous_beading', 'superotemporal', 1)]), { icdr: 2, sdrg: 3 });
  assert.deepEqual(gradesFromLesions([e('venous_beading', 'superotemporal', 1), e('venous_beading', 'inferonasal', 1)]), { icdr: 3, sdrg: 3 });
  assert.deepEqual(gradesFromLesions([e('irma', 'inferotemporal', 1)]), { icdr: 3, sdrg: 3 });
  assert.deepEqual(gradesFromLesions([e('laser_scar', 'inferotemporal', 40)]), { icdr: 4, sdrg: 4 });
  assert.deepEqual(gradesFromLesions([e('neovascularisation_disc', 'disc', 1)]), { icdr: 4, sdrg: 4 });
});

test('ground truth is consistent with the labels (balanced, 150 patients, no images)', async () => {
  const dir = tmp();
  try {
    await synthesize({ out: dir, patients: 150, seed: 8, prevalence: 'balanced', images: false });
    const gt = JSON.parse(readFileSync(join(dir, 'ground_truth.json'), 'utf8')) as { images: ImageTruth[] };
    const rows = readFileSync(join(dir, 'labels.csv'), 'utf8').trimEnd().split('\n').slice(1);
    assert.equal(gt.images.length, rows.length);
    const DR = ['microaneurysm', 'dot_haemorrhage', 'blot_haemorrhage', 'flame_haemorrhage', 'hard_exudate', 'cotton_wool_spot',
      'venous_beading', 'irma', 'neovascularisation_disc', 'neovascularisation_elsewhere', 'preretinal_haemorrhage', 'laser_scar'];
    const seen = new Set<number>();
    for (const t of gt.images) {
      const g = gradesFromLesions(t.lesions);
      assert.equal(g.icdr, t.icdr, `${t.imageId}: lesions say ICDR ${g.icdr}, label ${t.icdr}`);
      if (!t.gradeNoise) assert.equal(g.sdrg, t.sdrg, `${t.imageId}: lesions say SDRG ${g.sdrg}, label ${t.sdrg}`);
      const types = new Set(t.lesions.map((e) => e.type));
      if (t.icdr === 0) assert.ok(!t.lesions.some((e) => DR.includes(e.type)), `${t.imageId}: ICDR 0 with DR lesions`);
      if (t.icdr === 1) assert.deepEqual([...types].filter((x) => DR.includes(x)), ['microaneurysm']);
      if (t.icdr === 4) {
        assert.ok(['neovascularisation_disc', 'neovascularisation_elsewhere', 'preretinal_haemorrhage', 'laser_scar'].some((x) => types.has(x as never)), t.imageId);
      }
      for (const e of t.lesions) assert.ok(Number.isInteger(e.count) && e.count > 0);
      seen.add(t.icdr);
    }
    assert.deepEqual(seen, new Set([0, 1, 2, 3, 4]));
    // Flags with a visible sign are drawn; quality codes match rendered defects.
    const H = HEADER.split(',');
    rows.forEach((line, k) => {
      const cells = line.match(/("([^"]|"")*"|[^,]*)(,|$)/g)?.map((c) => c.replace(/,$/, '').replace(/^"|"$/g, '')) ?? [];
      const get = (c: string): string => cells[H.indexOf(c)] as string;
      const t = gt.images[k] as ImageTruth;
      assert.equal(get('image_id'), t.imageId);
      const has = (type: string, site?: string): boolean => t.lesions.some((e) => e.type === type && (site === undefined || e.quadrant === site));
      assert.equal(get('drusens') === '1' || get('amd') === '1', has('drusen'), `${t.imageId} drusen`);
      assert.equal(get('increased_cup_disc') === '1', has('increased_cup_disc', 'disc'), `${t.imageId} cup`);
      assert.equal(get('nevus') === '1', has('nevus'), `${t.imageId} nevus`);
      assert.equal(get('scar') === '1', has('chorioretinal_scar'), `${t.imageId} scar`);
      if (get('macular_edema') === '1') assert.ok(has('hard_exudate', 'macula'), `${t.imageId} macular oedema without macular exudates`);
      assert.equal(get('focus') === '2', (t.quality['blur'] ?? 0) > 0, `${t.imageId} focus`);
      assert.equal(get('iluminaton') === '2', (t.quality['dim'] ?? 0) > 0, `${t.imageId} illumination`);
      assert.equal(get('image_field') === '2', (t.quality['field_shift'] ?? 0) > 0, `${t.imageId} field`);
      assert.equal(get('artifacts') === '2', (t.quality['dust'] ?? 0) > 0, `${t.imageId} artifacts`);
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('DeepEyeNet format: three JSON arrays keyed by image path, 60/20/20 split, square images', async () => {
  const dir = tmp();
  try {
    const s = await synthesize({ out: dir, format: 'deepeyenet', patients: 10, size: 48, seed: 2, prevalence: 'balanced' });
    assert.equal(s.records, 10);
    assert.equal(s.imagesWritten, 10);
    const counts: Record<string, number> = {};
    for (const split of ['train', 'valid', 'test']) {
      const arr = JSON.parse(readFileSync(join(dir, `DeepEyeNet_${split}.json`), 'utf8')) as Record<string, { keywords: string; 'clinical-description': string }>[];
      assert.ok(Array.isArray(arr));
      counts[split] = 0;
      for (const obj of arr) {
        for (const [key, v] of Object.entries(obj)) {
          counts[split]++;
          assert.match(key, new RegExp(`^eyenet0420/${split}_set/img_\\d{5}\\.jpg$`));
          assert.equal(typeof v.keywords, 'string');
          assert.ok(v['clinical-description'].length > 5);
          assert.ok(readFileSync(join(dir, key)).length > 100, `${key} written`);
        }
      }
    }
    assert.deepEqual(counts, { train: 6, valid: 2, test: 2 });
    const items = generateDeepEyeNet({ entries: 400, seed: 3, prevalence: 'real' });
    const dr = items.filter((i) => /\b(DR|NPDR|PDR|diabetic retinopathy)\b/i.test(i.description)).length / items.length;
    assert.ok(dr > 0.1 && dr < 0.3, `DR mentions ${dr} (DeepEyeNet test: ~18%)`);
    assert.deepEqual(new Set(items.filter((i) => i.icdr > 0).map((i) => i.icdr)), new Set([1, 2, 3, 4]));
    assert.ok(items.some((i) => i.keywords === ''), 'some empty keywords');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('options are validated with the option name, value and what was expected', async () => {
  await assert.rejects(synthesize({ out: join(tmpdir(), 'never'), size: 10 }), /option size = 10: expected an integer in 32\.\.4096/);
  await assert.rejects(synthesize({ out: join(tmpdir(), 'never'), prevalence: 'x' as never }), /option prevalence = "x": expected 'real' or 'balanced'/);
  await assert.rejects(synthesize({ out: join(tmpdir(), 'never'), patients: 0 }), /option patients = 0/);
});
