/**
 * A contact sheet: one synthetic photo per ICDR grade 0..4, side by side, each labelled below
 * (sharp composite; labels are an SVG overlay). Used in the docs to show what the twin looks like.
 */
import sharp from 'sharp';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { rngOf, SALT } from './hash.js';
import { renderJpeg } from './render.js';
import { makeScene, makeView } from './scene.js';

const NAMES = ['no DR', 'mild NPDR', 'moderate NPDR', 'severe NPDR', 'PDR'];

/**
 * Write a PNG contact sheet of ICDR grades 0..4 at image height `size`.
 *
 * @example await writeContactSheet('docs/img/contact-sheet.png', 224, 1)
 */
export async function writeContactSheet(outPng: string, size: number, seed: number): Promise<void> {
  if (!Number.isInteger(size) || size < 32 || size > 2048) {
    throw new Error(`writeContactSheet: size = ${size}: expected an integer in 32..2048 (px)`);
  }
  const ok = { focus: false, illumination: false, imageField: false, artifacts: false };
  const tiles: Buffer[] = [];
  let width = 0;
  for (let g = 0; g <= 4; g++) {
    const scene = makeScene(rngOf(seed, SALT.anatomy, 0, g), {
      eye: 'right', icdr: g, sdrg: g, macularEdema: g >= 3, drusen: false, amd: false, nevus: false,
      scar: false, increasedCup: false,
    });
    const view = makeView(rngOf(seed, SALT.view, 0, g), { size, camera: 'canon', eye: 'right', quality: ok });
    width = view.width;
    tiles.push(await renderJpeg(scene, view));
  }
  const gap = Math.max(2, Math.round(size * 0.02));
  const band = Math.max(18, Math.round(size * 0.13));
  const W = 5 * width + 4 * gap;
  const font = Math.round(band * 0.55);
  const labels = NAMES.map((n, g) =>
    `<text x="${g * (width + gap) + width / 2}" y="${size + band * 0.68}" font-family="DejaVu Sans, sans-serif" ` +
    `font-size="${font}" fill="white" text-anchor="middle">ICDR ${g} · ${n}</text>`).join('');
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${size + band}">${labels}</svg>`;
  mkdirSync(dirname(outPng), { recursive: true });
  await sharp({ create: { width: W, height: size + band, channels: 3, background: { r: 16, g: 16, b: 16 } } })
    .composite([
      ...tiles.map((t, i) => ({ input: t, left: i * (width + gap), top: 0 })),
      { input: Buffer.from(svg), left: 0, top: 0 },
    ])
    .png()
    .toFile(outPng);
}
