// Rendering of the synthetic twin: frame sizes, anatomy placement, visible lesions at small sizes,
// quality defects, byte-identical output per seed, and the contact sheet.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { rngOf } from '../../src/data/synth/hash.js';
import { renderJpeg, renderRgb } from '../../src/data/synth/render.js';
import { makeScene, makeView, type PhotoQuality } from '../../src/data/synth/scene.js';
import { writeContactSheet } from '../../src/data/synth/contact-sheet.js';
import type { LesionPlan } from '../../src/data/synth/lesions.js';
import type { CameraStyle } from '../../src/data/synth/types.js';

const OK: PhotoQuality = { focus: false, illumination: false, imageField: false, artifacts: false };
const NONE: Omit<LesionPlan, 'icdr' | 'sdrg'> = { macularEdema: false, drusen: false, amd: false, nevus: false, scar: false, increasedCup: false };

function render(icdr: number, opts: { eye?: 'right' | 'left'; size?: number; camera?: CameraStyle; quality?: PhotoQuality; seed?: number } = {}) {
  const eye = opts.eye ?? 'right';
  const seed = opts.seed ?? 1;
  // The anatomy is drawn first from the same stream: scenes of different grades share it.
  const scene = makeScene(rngOf(seed, 77), { eye, icdr, sdrg: icdr === 2 ? 1 : icdr, ...NONE });
  const view = makeView(rngOf(seed, 78), { size: opts.size ?? 96, camera: opts.camera ?? 'canon', eye, quality: opts.quality ?? OK });
  return { scene, view, rgb: renderRgb(scene, view) };
}

/** Pixels whose colour differs by more than `t` (sum over channels) between two renders. */
function changed(a: ArrayLike<number>, b: ArrayLike<number>, t = 40): number {
  let n = 0;
  for (let i = 0; i < a.length; i += 3) {
    const d = Math.abs((a[i] as number) - (b[i] as number)) + Math.abs((a[i + 1] as number) - (b[i + 1] as number)) +
      Math.abs((a[i + 2] as number) - (b[i + 2] as number));
    if (d > t) n++;
  }
  return n;
}

test('BRSET frames are 1.3:1 with a dark surround; DeepEyeNet frames are square', async () => {
  const { view, rgb } = render(0, { size: 100 });
  assert.equal(view.width, 130);
  assert.equal(view.height, 100);
  assert.equal(rgb.length, 130 * 100 * 3);
  // Corners are black-ish, the centre is orange-red (R > G > B).
  for (const o of [0, (130 * 100 - 1) * 3]) assert.ok((rgb[o] as number) < 12 && (rgb[o + 1] as number) < 12);
  const c = (50 * 130 + 65) * 3;
  assert.ok((rgb[c] as number) > (rgb[c + 1] as number) && (rgb[c + 1] as number) > (rgb[c + 2] as number), 'fundus is orange-red');
  const dn = render(0, { size: 80, camera: 'deepeyenet' });
  const jpg = await renderJpeg(dn.scene, dn.view);
  const meta = await sharp(jpg).metadata();
  assert.equal(meta.width, 80);
  assert.equal(meta.height, 80);
  assert.equal(meta.format, 'jpeg');
});

test('the optic disc (brightest spot) is on the image right for a right eye and left for a left eye', () => {
  for (const eye of ['right', 'left'] as const) {
    for (const seed of [1, 2, 3]) {
      const { view, rgb } = render(0, { eye, seed, size: 128 });
      let best = -1;
      let bx = 0;
      for (let i = 0; i < rgb.length; i += 3) {
        const v = (rgb[i + 1] as number) + (rgb[i + 2] as number);
        if (v > best) { best = v; bx = (i / 3) % view.width; }
      }
      if (eye === 'right') assert.ok(bx > view.width * 0.6, `right eye seed ${seed}: brightest x ${bx}`);
      else assert.ok(bx < view.width * 0.4, `left eye seed ${seed}: brightest x ${bx}`);
    }
  }
});

test('grades are visible at 96 px and grow with severity', () => {
  const base = render(0).rgb;
  const n = [1, 2, 3, 4].map((g) => changed(base, render(g).rgb));
  const total = base.length / 3;
  assert.ok((n[0] as number) >= 8, `ICDR 1 (microaneurysms) changes ${n[0]} px`);
  assert.ok((n[1] as number) > (n[0] as number), `ICDR 2 ${n[1]} > ICDR 1 ${n[0]}`);
  assert.ok((n[2] as number) > total * 0.03, `ICDR 3 changes ${n[2]} of ${total} px`);
  assert.ok((n[3] as number) > total * 0.01, `ICDR 4 changes ${n[3]} px`);
});

test('quality defects: dim illumination darkens, focus blur removes detail', async () => {
  const ok = render(3, { size: 96 });
  const dim = render(3, { size: 96, quality: { ...OK, illumination: true } });
  const mean = (x: ArrayLike<number>): number => { let s = 0; for (let i = 0; i < x.length; i++) s += x[i] as number; return s / x.length; };
  assert.ok(mean(dim.rgb) < 0.65 * mean(ok.rgb), 'dim image is darker');
  const blurred = render(3, { size: 96, quality: { ...OK, focus: true } });
  const detail = async (s: ReturnType<typeof render>): Promise<number> => {
    const { data, info } = await sharp(await renderJpeg(s.scene, s.view)).raw().toBuffer({ resolveWithObject: true });
    let e = 0;
    for (let y = 1; y < info.height - 1; y++) {
      for (let x = 1; x < info.width - 1; x++) {
        const o = (y * info.width + x) * 3 + 1;
        e += Math.abs(4 * (data[o] as number) - (data[o - 3] as number) - (data[o + 3] as number) - (data[o - info.width * 3] as number) - (data[o + info.width * 3] as number));
      }
    }
    return e;
  };
  assert.ok((await detail(blurred)) < 0.6 * (await detail(ok)), 'blurred image has less high-frequency energy');
});

test('same scene and view -> identical JPEG bytes; the camera changes the colour cast', async () => {
  const a = render(2, { size: 64 });
  const b = render(2, { size: 64 });
  assert.ok((await renderJpeg(a.scene, a.view)).equals(await renderJpeg(b.scene, b.view)));
  const canon = render(0, { size: 64, camera: 'canon' });
  const nikon = render(0, { size: 64, camera: 'nikon' });
  const ratio = (x: ArrayLike<number>): number => { let r = 0; let g = 0; for (let i = 0; i < x.length; i += 3) { r += x[i] as number; g += x[i + 1] as number; } return g / r; };
  assert.ok(ratio(nikon.rgb) > ratio(canon.rgb) * 1.1, 'Nikon is yellower (more green per red) than Canon');
});

test('contact sheet: five labelled tiles side by side', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'retalign-sheet-'));
  try {
    const out = join(dir, 'sheet.png');
    await writeContactSheet(out, 64, 1);
    const meta = await sharp(out).metadata();
    const tile = Math.round(64 * 1.3);
    const gap = 2;
    assert.equal(meta.width, 5 * tile + 4 * gap);
    assert.equal(meta.height, 64 + 18);
    assert.equal(meta.format, 'png');
    await assert.rejects(writeContactSheet(out, 8, 1), /size = 8/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
