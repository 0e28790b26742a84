import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import sharp from 'sharp';
import { resolveImageConfig } from '../../src/data/images/config.js';
import { decodeJpegFast, imageBackend, isJpeg, resampleSquare } from '../../src/data/images/fastpath.js';
import { cropFundus } from '../../src/data/images/preprocess.js';

// The image fast path (native/image: libjpeg-turbo decode, Lanczos crop-resize) against sharp. `make build` builds it wherever
// jpeglib.h exists (the Makefile installs libjpeg62-turbo-dev), so these tests run in CI.
const HAVE_HEADER = ['/usr/include/jpeglib.h', '/usr/include/x86_64-linux-gnu/jpeglib.h'].some((p) => existsSync(p));
const skip = imageBackend() === 'sharp' ? 'the JPEG fast path is not built here' : false;

/** W x H: black surround, an orange disc of radius 0.4 H at the centre, a bright optic disc. */
async function fundus(w: number, h: number): Promise<ReturnType<typeof sharp>> {
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}">
    <rect width="100%" height="100%" fill="black"/>
    <circle cx="${w / 2}" cy="${h / 2}" r="${0.4 * h}" fill="rgb(200,100,50)"/>
    <circle cx="${w / 2 + 0.2 * h}" cy="${h / 2}" r="${0.05 * h}" fill="rgb(250,220,150)"/></svg>`;
  return sharp(Buffer.from(svg)).removeAlpha();
}

function meanAbsDiff(a: Uint8Array, b: Uint8Array): number {
  assert.equal(a.length, b.length);
  let s = 0;
  for (let i = 0; i < a.length; i++) s += Math.abs((a[i] as number) - (b[i] as number));
  return s / a.length;
}

/** Runs fn with RETALIGN_FAST_IMAGE set to `value` (undefined: unset), restoring it after. */
async function withDecoderEnv<T>(value: string | undefined, fn: () => Promise<T>): Promise<T> {
  const before = process.env['RETALIGN_FAST_IMAGE'];
  if (value === undefined) delete process.env['RETALIGN_FAST_IMAGE'];
  else process.env['RETALIGN_FAST_IMAGE'] = value;
  try {
    return await fn();
  } finally {
    if (before === undefined) delete process.env['RETALIGN_FAST_IMAGE'];
    else process.env['RETALIGN_FAST_IMAGE'] = before;
  }
}

test('the fast path is built and loaded wherever libjpeg headers exist', { skip: HAVE_HEADER ? false : 'no jpeglib.h here' }, () => {
  assert.equal(imageBackend(), 'native', 'jpeglib.h exists, so make build must have built native/build/retalign_image.node');
});

test('decodeJpegFast: DCT scale keeps the shorter side >= the minimum; pixels match sharp', { skip }, async () => {
  const bytes = await (await fundus(1200, 900)).jpeg({ quality: 92 }).toBuffer();
  assert.ok(isJpeg(bytes));
  const r = decodeJpegFast(bytes, 336, 50_000_000);
  assert.equal(r.kind, 'decoded');
  if (r.kind !== 'decoded') return;
  // 900 / 2 = 450 >= 336, 900 / 4 = 225 < 336
  assert.deepEqual([r.width, r.height, r.denom, r.data.length], [600, 450, 2, 600 * 450 * 3]);
  const ref = await sharp(bytes).resize(600, 450, { fit: 'fill' }).raw().toBuffer();
  const d = meanAbsDiff(r.data, ref);
  assert.ok(d < 2, `mean |fast - sharp| = ${d.toFixed(3)} grey levels`);
  const px = (x: number, y: number): number[] => Array.from(r.data.subarray((y * 600 + x) * 3, (y * 600 + x) * 3 + 3));
  px(300, 225).forEach((v, c) => assert.ok(Math.abs(v - ([200, 100, 50][c] as number)) <= 6, `centre channel ${c}: ${v}`));
  px(5, 5).forEach((v) => assert.ok(v <= 6, `corner ${v}`));
  const r8 = decodeJpegFast(bytes, 100, 50_000_000); // 900 / 8 = 112.5 -> 113 >= 100
  assert.deepEqual(r8.kind === 'decoded' ? [r8.width, r8.height, r8.denom] : r8, [150, 113, 8]);
  const small = await (await fundus(60, 40)).jpeg().toBuffer();
  const r1 = decodeJpegFast(small, 48, 50_000_000); // never enlarged: full size
  assert.deepEqual(r1.kind === 'decoded' ? [r1.width, r1.height, r1.denom] : r1, [60, 40, 1]);
  const grey = decodeJpegFast(await (await fundus(80, 60)).greyscale().jpeg().toBuffer(), 10, 50_000_000);
  assert.equal(grey.kind, 'decoded');
  if (grey.kind === 'decoded') {
    for (let i = 0; i < grey.data.length; i += 3) assert.ok(grey.data[i] === grey.data[i + 1] && grey.data[i] === grey.data[i + 2], 'grey -> R = G = B');
  }
});

test('decodeJpegFast: pixel limit from the header; everything else it does not handle exactly goes to sharp', { skip }, async () => {
  const img = await fundus(400, 300);
  const bytes = await img.clone().jpeg().toBuffer();
  assert.deepEqual(decodeJpegFast(bytes, 100, 1000), { kind: 'tooLarge', width: 400, height: 300 });
  assert.deepEqual(decodeJpegFast(await img.clone().png().toBuffer(), 100, 1e9), { kind: 'sharp', reason: 'not a JPEG' });
  const truncated = decodeJpegFast(bytes.subarray(0, bytes.length >> 1), 100, 1e9);
  assert.equal(truncated.kind, 'sharp');
  assert.match(truncated.kind === 'sharp' ? truncated.reason : '', /^libjpeg: Premature end of JPEG file/);
  const rotated = await img.clone().withMetadata({ orientation: 6 }).jpeg().toBuffer();
  assert.deepEqual(decodeJpegFast(rotated, 100, 1e9), { kind: 'sharp', reason: 'EXIF orientation' });
  // withMetadata also embeds sharp's sRGB profile: sRGB is taken, another profile is not
  const upright = await img.clone().withMetadata({ orientation: 1 }).jpeg().toBuffer();
  assert.equal(decodeJpegFast(upright, 100, 1e9).kind, 'decoded');
  const icc = await img.clone().withIccProfile('p3').jpeg().toBuffer();
  assert.deepEqual(decodeJpegFast(icc, 100, 1e9), { kind: 'sharp', reason: 'embedded ICC profile (not sRGB)' });
  const cmyk = await img.clone().toColourspace('cmyk').jpeg().toBuffer();
  assert.deepEqual(decodeJpegFast(cmyk, 100, 1e9), { kind: 'sharp', reason: 'CMYK/YCCK colour' });
  await withDecoderEnv('0', async () => {
    assert.equal(imageBackend(), 'sharp');
    assert.deepEqual(decodeJpegFast(bytes, 100, 1e9), { kind: 'sharp', reason: 'fast path off' });
  });
});

test('cropFundus: the fast path and sharp agree on the crop; a rotated JPEG is left to sharp', { skip }, async () => {
  const cfg = resolveImageConfig({ size: 64 });
  const bytes = await (await fundus(1200, 900)).jpeg({ quality: 92 }).toBuffer();
  const fast = await withDecoderEnv(undefined, () => cropFundus(bytes, cfg));
  const slow = await withDecoderEnv('0', () => cropFundus(bytes, cfg));
  // work images: 1200x900 at 1/8 = 150x113 (>= 96 = 1.5 * 64) vs sharp's, shorter side exactly 96
  assert.deepEqual([fast.workWidth, fast.workHeight, slow.workHeight], [150, 113, 96]);
  // the disc box, as a fraction of the work image, within 3% of the shorter side
  for (const k of ['left', 'top', 'width', 'height'] as const) {
    const f = fast.box[k] / fast.workHeight;
    const s = slow.box[k] / slow.workHeight;
    assert.ok(Math.abs(f - s) < 0.03, `box.${k}: ${f.toFixed(3)} vs ${s.toFixed(3)} of the shorter side`);
  }
  // the two differ by resampling and by a sub-pixel shift of the box, which shows at the disc's edge
  const diffs = Array.from(fast.rgb, (v, i) => Math.abs(v - (slow.rgb[i] as number))).sort((x, y) => x - y);
  const q = (p: number): number => diffs[Math.floor(p * (diffs.length - 1))] as number;
  assert.ok(q(0.5) <= 1 && q(0.9) <= 10, `|fast - sharp| over the 64x64 crop: median ${q(0.5)}, p90 ${q(0.9)} grey levels`);
  assert.ok(meanAbsDiff(fast.rgb, slow.rgb) < 6, `mean |fast - sharp| ${meanAbsDiff(fast.rgb, slow.rgb).toFixed(2)}`);
  // a JPEG with EXIF orientation 6 is decoded by sharp (orientation applied), then cropped alike
  const rotated = await (await fundus(1200, 900)).withMetadata({ orientation: 6 }).jpeg().toBuffer();
  const a = await withDecoderEnv(undefined, () => cropFundus(rotated, cfg));
  const b = await withDecoderEnv('0', () => cropFundus(rotated, cfg));
  assert.ok(a.workWidth === 96 && a.workHeight > 96, `orientation applied: portrait, got ${a.workWidth}x${a.workHeight}`);
  assert.deepEqual([a.workWidth, a.workHeight, a.box], [b.workWidth, b.workHeight, b.box]);
  assert.ok(meanAbsDiff(a.rgb, b.rgb) < 1.5, `same work image, native vs sharp resampler: ${meanAbsDiff(a.rgb, b.rgb).toFixed(2)}`);
});

test('resampleSquare: identity, window shift with black padding, constant preserved, close to sharp lanczos3', { skip }, async () => {
  const w = 40;
  const h = 30;
  const src = new Uint8Array(w * h * 3);
  const rng = (i: number): number => (i * 2654435761) >>> 24; // fixed pseudo-random bytes
  for (let i = 0; i < src.length; i++) src[i] = rng(i + 1);
  // identity: scale 1, integer centres -> every Lanczos weight but the centre one is 0
  const id = resampleSquare(src, w, h, w, h, 0, 0, 30) as Buffer;
  for (let y = 0; y < 30; y++) assert.deepEqual(id.subarray(y * 90, y * 90 + 90), Buffer.from(src.subarray(y * w * 3, y * w * 3 + 90)), `row ${y}`);
  // window at (-2, 5): two black columns, then the source shifted; rows past the image are black
  const sh = resampleSquare(src, w, h, w, h, -2, 5, 30) as Buffer;
  const at = (b: Uint8Array, stride: number, x: number, y: number): number[] => Array.from(b.subarray((y * stride + x) * 3, (y * stride + x) * 3 + 3));
  assert.deepEqual(at(sh, 30, 0, 0), [0, 0, 0]);
  assert.deepEqual(at(sh, 30, 1, 7), [0, 0, 0]);
  assert.deepEqual(at(sh, 30, 2, 0), at(src, w, 0, 5));
  assert.deepEqual(at(sh, 30, 29, 24), at(src, w, 27, 29));
  assert.deepEqual(at(sh, 30, 10, 25), [0, 0, 0]); // y 5 + 25 = 30: past the last row
  // a constant image stays constant at any scale (weights are normalized; edges replicated)
  const flat = new Uint8Array(w * h * 3).fill(77);
  for (const [rw, rh] of [[13, 10], [90, 67]] as const) {
    const r = resampleSquare(flat, w, h, rw, rh, 0, 0, 10) as Buffer;
    assert.ok(r.every((v) => v === 77), `constant at ${rw}x${rh}`);
  }
  // against sharp's Lanczos-3 resize + extract on a smooth image (1/3 scale)
  const big = await (await fundus(300, 240)).blur(2).raw().toBuffer();
  const ours = resampleSquare(big, 300, 240, 100, 80, 10, 0, 64) as Buffer;
  const ref = await sharp(big, { raw: { width: 300, height: 240, channels: 3 } }).resize(100, 80, { fit: 'fill', kernel: 'lanczos3' })
    .extract({ left: 10, top: 0, width: 64, height: 64 }).raw().toBuffer();
  assert.ok(meanAbsDiff(ours, ref) < 1.5, `mean |native - sharp| ${meanAbsDiff(ours, ref).toFixed(3)} grey levels`);
  assert.throws(() => resampleSquare(src, w, h + 1, w, h, 0, 0, 8), /resampleSquare: 3600 bytes for 40x31 RGB/);
});
