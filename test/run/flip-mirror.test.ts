/**
 * Eye-aware flips (train.flip): a flipped photo's note and record say the other eye. Unit checks of
 * the mirror functions, and the training stream's pairing of flipped photos with mirrored notes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mirrorEyeRecord, mirrorEyeText } from '../../src/data/notes/index.js';
import { TabularFeaturizer } from '../../src/data/tabular.js';
import type { ExamRecord } from '../../src/data/types.js';
import { Rng } from '../../src/data/rng.js';
import { resolveRunConfig } from '../../src/run/config.js';
import { trainBatchSource } from '../../src/job/train-run.js';
import type { PreparedItem } from '../../src/run/collate.js';
import { DEFAULT_CONFIG, type Batch } from '../../src/models/index.js';

test('mirrorEyeText swaps the side where it names the eye, in every case form, and OD/OS; other words stay', () => {
  assert.equal(mirrorEyeText('Colour fundus photograph of the right eye.'), 'Colour fundus photograph of the left eye.');
  assert.equal(mirrorEyeText('Left eye: colour fundus photograph. RIGHT eye not seen.'), 'Right eye: colour fundus photograph. LEFT eye not seen.');
  assert.equal(mirrorEyeText('Record: patient age 61; exam eye right; focus ok. Eye: Left. left-eye view'),
    'Record: patient age 61; exam eye left; focus ok. Eye: Right. right-eye view');
  assert.equal(mirrorEyeText('VA OD 6/9, OS 6/12.'), 'VA OS 6/9, OD 6/12.');
  // Sides that do not name the eye, and words that merely contain the letters, stay.
  const other = 'Lipid deposits left by leakage; turn right. Bright lesions, copyright, leftover, cleft, ODE, DOS, eyelid.';
  assert.equal(mirrorEyeText(other), other);
  // Twice is the identity.
  const note = 'Fundus photo of the right eye, 45-degree field. Exam eye left.';
  assert.equal(mirrorEyeText(mirrorEyeText(note)), note);
});

function rec(eye: ExamRecord['eye'], examEye: string | null): ExamRecord {
  return {
    imageId: `i-${eye}`, patientId: 'p', imagePath: '', eye, fields: { exam_eye: examEye, patient_age: 60 },
    labels: { icdr: 1, sdrg: 1, diabeticRetinopathy: null, macularEdema: null, flags: {} },
  };
}

test('mirrorEyeRecord swaps eye and exam_eye (the input is not modified); unknown eye has no mirror', () => {
  const r = rec('right', 'right');
  const m = mirrorEyeRecord(r);
  assert.ok(m !== null);
  assert.equal(m.eye, 'left');
  assert.equal(m.fields['exam_eye'], 'left');
  assert.equal(m.fields['patient_age'], 60);
  assert.equal(r.eye, 'right');
  assert.equal(r.fields['exam_eye'], 'right');
  assert.equal(mirrorEyeRecord(m)?.fields['exam_eye'], 'right');
  assert.equal(mirrorEyeRecord(rec('unknown', null)), null);
  // A record whose exam_eye field is missing keeps it missing.
  assert.equal(mirrorEyeRecord(rec('left', null))?.fields['exam_eye'], null);
});

test('the featurized mirror record is the original with the exam_eye one-hot swapped', () => {
  const f = TabularFeaturizer.fit([rec('right', 'right'), rec('left', 'left')], [{ name: 'exam_eye', kind: 'categorical' }, { name: 'patient_age', kind: 'numeric' }]);
  const right = [...f.transform(rec('right', 'right'))];
  const left = [...f.transform(rec('left', 'left'))];
  assert.notDeepEqual(right, left);
  assert.deepEqual([...f.transform(mirrorEyeRecord(rec('right', 'right')) as ExamRecord)], left);
});

/** Items whose photo is a left-to-right ramp (so a flip is visible) and whose note/record say which side. */
function items(n: number): PreparedItem[] {
  const S = 4;
  return Array.from({ length: n }, (_, i) => {
    const img = new Float32Array(3 * S * S);
    for (let c = 0; c < 3; c++) for (let y = 0; y < S; y++) for (let x = 0; x < S; x++) img[(c * S + y) * S + x] = i * 10 + x;
    const note = (side: number): Int32Array => Int32Array.from([2, 100 + i, side, 3, 0, 0, 0, 0]);
    return {
      imageId: `i${i}`, patientId: `p${i}`, image: img, tokenIds: note(50), attention: Int32Array.from([1, 1, 1, 1, 0, 0, 0, 0]),
      tabular: Float32Array.from([1, 0]), icdr: i % 5, sdrg: i % 5, noteGroup: 2 * i,
      mirror: { tokenIds: note(51), attention: Int32Array.from([1, 1, 1, 1, 0, 0, 0, 0]), tabular: Float32Array.from([0, 1]), noteGroup: 2 * i + 1 },
    };
  });
}

/** Per drawn item: [photo flipped, note says the mirror side, record says the mirror side, noteGroup is the mirror's]. */
function draw(flip: 'mirror' | 'photo' | 'off'): boolean[][] {
  const cfg = resolveRunConfig({ name: 'x', data: { maxTokens: 8 }, train: { batchSize: 4, flip } });
  const m = { ...DEFAULT_CONFIG, image: { ...DEFAULT_CONFIG.image, imageSize: 4 } };
  const src = trainBatchSource(items(16), cfg, m, 2);
  const out: boolean[][] = [];
  for (let epoch = 0; epoch < 4; epoch++) {
    for (const b of src.batchesForEpoch(epoch, new Rng(3 + epoch), 0) as Iterable<Batch>) {
      const img = b.images?.toNumbers() ?? [];
      const ids = b.tokenIds?.toNumbers() ?? [];
      const tab = b.tabular?.toNumbers() ?? [];
      for (let k = 0; k < b.size; k++) {
        const first = img[k * 48] as number;
        const last = img[k * 48 + 3] as number;
        out.push([first > last, ids[k * 8 + 2] === 51, tab[k * 2 + 1] === 1, (b.noteGroup[k] as number) % 2 === 1]);
      }
    }
  }
  return out;
}

test("trainBatchSource flip 'mirror': a flipped photo always comes with the mirror's note, record and note group, an unflipped one never", () => {
  const rows = draw('mirror');
  const flipped = rows.filter((r) => r[0]).length;
  assert.ok(flipped > rows.length * 0.3 && flipped < rows.length * 0.7, `${flipped} of ${rows.length} flipped`);
  for (const r of rows) assert.deepEqual(r, [r[0], r[0], r[0], r[0]]);
});

test("trainBatchSource flip 'photo' flips the same photos as 'mirror' and never changes the note; 'off' never flips", () => {
  const photo = draw('photo');
  const mirror = draw('mirror');
  assert.deepEqual(photo.map((r) => r[0]), mirror.map((r) => r[0]));
  for (const r of photo) assert.deepEqual(r.slice(1), [false, false, false]);
  assert.ok(photo.some((r) => r[0]));
  for (const r of draw('off')) assert.deepEqual(r, [false, false, false, false]);
});

test("prepareData builds mirror views for the training split only, and only with train.flip 'mirror'", async () => {
  const { loadRunConfig } = await import('../../src/run/config.js');
  const { prepareData } = await import('../../src/run/prepare.js');
  const { mkdtempSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { packageRoot } = await import('../../src/data/assets.js');
  const dir = mkdtempSync(join(tmpdir(), 'retalign-mirror-'));
  try {
    for (const flip of ['photo', 'mirror'] as const) {
      const d = await prepareData(loadRunConfig(join(packageRoot(), 'configs', 'runs', 'smoke.json'), [`train.flip="${flip}"`]), dir, { log: () => undefined });
      const train = new Set(d.ids.train);
      const mirrored = [...d.items.values()].filter((it) => it.mirror);
      if (flip === 'photo') assert.equal(mirrored.length, 0);
      else {
        assert.equal(mirrored.length, d.ids.train.length);
        assert.ok(mirrored.every((it) => train.has(it.imageId)));
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
