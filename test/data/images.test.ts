import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import sharp from 'sharp';
import { augmentParamsFor, drawAugment, toChw } from '../../src/data/images/augment.js';
import { DEFAULT_AUGMENT_CONFIG, resolveAugmentConfig, resolveImageConfig } from '../../src/data/images/config.js';
import { findFundusBox, planCrop } from '../../src/data/images/crop.js';
import { cropFundus, ImageTooLargeError, preprocessImage } from '../../src/data/images/preprocess.js';
import { Rng } from '../../src/data/rng.js';

const ID = [0, 0, 0] as [number, number, number];
const ONE = [1, 1, 1] as [number, number, number];

test('findFundusBox: disc bounds, specks in the corner ignored, dark image -> null', () => {
  const w = 30;
  const h = 20;
  const lum = new Uint8Array(w * h);
  for (let y = 4; y < 16; y++) for (let x = 8; x < 22; x++) lum[y * w + x] = 120;
  lum[0] = 255; // one-pixel speck (burnt-in text): its row/column counts are < 10% of the disc's
  assert.deepEqual(findFundusBox(lum, w, h, 10), { left: 8, top: 4, width: 14, height: 12 });
  // a rasterized circle of radius 8 centred at (15.5, 10.5): box = its extents
  const c = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) if ((x - 15.5) ** 2 + (y - 10.5) ** 2 <= 64) c[y * w + x] = 90;
  assert.deepEqual(findFundusBox(c, w, h, 10), { left: 8, top: 3, width: 16, height: 16 });
  assert.equal(findFundusBox(new Uint8Array(w * h).fill(10), w, h, 10), null); // "above" threshold, not equal
  assert.throws(() => findFundusBox(lum, w, h + 1, 10), /luminance has 600 values; expected 30x21 = 630/);
});

test('planCrop: resize, extract and pad (hand-computed)', () => {
  assert.deepEqual(planCrop(200, 100, { left: 50, top: 0, width: 100, height: 100 }, 50), {
    resizeWidth: 100,
    resizeHeight: 50,
    extract: { left: 25, top: 0, width: 50, height: 50 },
    extend: { left: 0, right: 0, top: 0, bottom: 0 },
  });
  // no surround: the square of side 200 leaves the image above and below -> black padding
  // s = 0.25 -> 50x25; centre y 12.5 -> sy0 = round(-12.5) = -12 -> pad 12 top, 13 bottom
  assert.deepEqual(planCrop(200, 100, { left: 0, top: 0, width: 200, height: 100 }, 50), {
    resizeWidth: 50,
    resizeHeight: 25,
    extract: { left: 0, top: 0, width: 50, height: 25 },
    extend: { left: 0, right: 0, top: 12, bottom: 13 },
  });
});

test('toChw: normalization, flip, 90-degree rotation (exact), brightness and contrast', () => {
  // 2x2 image, HWC: (0,0)=[255,0,0] (1,0)=[0,255,0] / (0,1)=[0,0,255] (1,1)=[51,102,153]
  const rgb = Uint8Array.from([255, 0, 0, 0, 255, 0, 0, 0, 255, 51, 102, 153]);
  const mean: [number, number, number] = [0.5, 0.25, 0.2];
  const std: [number, number, number] = [0.5, 0.25, 0.4];
  const plain = toChw(rgb, 2, mean, std, null);
  const expected = [
    [1, 0, 0, 0.2].map((v) => (v - 0.5) / 0.5),
    [0, 1, 0, 0.4].map((v) => (v - 0.25) / 0.25),
    [0, 0, 1, 0.6].map((v) => (v - 0.2) / 0.4),
  ].flat();
  expected.forEach((e, i) => assert.ok(Math.abs((plain[i] as number) - e) < 1e-6, `plain[${i}]`));

  const identity = { flip: false, angleDeg: 0, brightness: 1, contrast: 1 };
  assert.deepEqual(toChw(rgb, 2, mean, std, identity), plain);
  // red channel on the 0..1 scale, row-major over (x, y): [1, 0, 0, 0.2]
  const red = (aug: typeof identity): number[] => Array.from(toChw(rgb, 2, ID, ONE, aug).slice(0, 4), (v) => Math.round(v * 1000) / 1000);
  assert.deepEqual(red({ ...identity, flip: true }), [0, 1, 0.2, 0]);
  // counter-clockwise 90 degrees on screen: top-left <- top-right, bottom-left <- top-left ...
  assert.deepEqual(red({ ...identity, angleDeg: 90 }), [0, 0.2, 1, 0]);
  assert.deepEqual(red({ ...identity, brightness: 1.5 }), [1, 0, 0, 0.3]); // 1.5 clipped to 1
  // contrast 0: every pixel becomes the mean grey (0.299 * 1.2 + 0.587 * 1.4 + 0.114 * 1.6) / 4
  const grey = (0.299 * 1.2 + 0.587 * 1.4 + 0.114 * 1.6) / 4;
  toChw(rgb, 2, ID, ONE, { ...identity, contrast: 0 }).forEach((v) => assert.ok(Math.abs(v - grey) < 1e-6));
  assert.throws(() => toChw(rgb, 3, ID, ONE, null), /got 12 bytes; expected 3x3x3 = 27/);
});

test('augmentation draws are seeded, in range, and independent of other indices', () => {
  const cfg = resolveAugmentConfig({ maxRotationDeg: 10 });
  const a = augmentParamsFor(5, 17, cfg);
  assert.deepEqual(augmentParamsFor(5, 17, cfg), a);
  assert.notDeepEqual(augmentParamsFor(6, 17, cfg), a);
  const rng = new Rng(3);
  for (let i = 0; i < 200; i++) {
    const p = drawAugment(rng, cfg);
    assert.ok(Math.abs(p.angleDeg) <= 10 && p.brightness >= 0.9 && p.brightness <= 1.1 && p.contrast >= 0.9 && p.contrast <= 1.1);
  }
  assert.deepEqual(drawAugment(new Rng(1), { flipProb: 0, maxRotationDeg: 0, brightness: 0, contrast: 0 }), {
    flip: false, angleDeg: 0, brightness: 1, contrast: 1,
  });
  assert.equal(DEFAULT_AUGMENT_CONFIG.flipProb, 0.5);
});

test('config validation names the key and the valid keys', () => {
  assert.deepEqual(resolveImageConfig({ size: 64 }).mean, [0.485, 0.456, 0.406]);
  assert.equal(resolveImageConfig().maxInputPixels, 50_000_000);
  assert.throws(() => resolveImageConfig({ sise: 64 }), /unknown key\(s\) sise; valid keys: size, mean, std, cropThreshold, maxInputPixels/);
  assert.throws(() => resolveImageConfig({ std: [1, 0, 1] }), /std is \[1,0,1\]; expected 3 finite numbers \(R, G, B\) > 0/);
  assert.throws(() => resolveImageConfig({ size: 22.5 }), /size is 22.5; expected an integer in \[1, 4096\]/);
  assert.throws(() => resolveAugmentConfig({ flipProb: 2 }), /flipProb is 2; expected a number in \[0, 1\]/);
});

/** PNG with only a header claiming w x h pixels: a decompression bomb needs no pixel data to be refused. */
function pngHeaderOnly(w: number, h: number): Buffer {
  const chunk = (type: string, data: Buffer): Buffer => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(td));
    return Buffer.concat([len, td, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr.set([8, 2, 0, 0, 0], 8); // 8-bit RGB
  return Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk('IHDR', ihdr), chunk('IDAT', Buffer.alloc(0)), chunk('IEND', Buffer.alloc(0))]);
}

/** 60x40 black image with a (200, 100, 50) square at x 30..49, y 10..29; optional alpha/grey. */
async function squareImage(kind: 'png' | 'jpeg' | 'rgba' | 'grey'): Promise<Buffer> {
  const raw = Buffer.alloc(60 * 40 * 4);
  for (let y = 0; y < 40; y++) {
    for (let x = 0; x < 60; x++) {
      const i = (y * 60 + x) * 4;
      const inside = x >= 30 && x < 50 && y >= 10 && y < 30;
      // rgba: the outside is bright red but fully transparent: it must come out black
      raw.set(inside ? [200, 100, 50, 255] : kind === 'rgba' ? [255, 0, 0, 0] : [0, 0, 0, 255], i);
    }
  }
  const img = sharp(raw, { raw: { width: 60, height: 40, channels: 4 } });
  if (kind === 'rgba') return img.png().toBuffer();
  if (kind === 'grey') return img.removeAlpha().greyscale().png().toBuffer();
  if (kind === 'jpeg') return img.removeAlpha().jpeg({ quality: 95 }).toBuffer();
  return img.removeAlpha().png().toBuffer();
}

test('cropFundus: box, square output, alpha flattened onto black, grey to RGB, JPEG', async () => {
  // size 32: the work image (shorter side 1.5 * 32 = 48) keeps the 60x40 source as is -> exact box
  const cfg = resolveImageConfig({ size: 32 });
  const at = (rgb: Uint8Array, x: number, y: number): number[] => Array.from(rgb.slice((y * 32 + x) * 3, (y * 32 + x) * 3 + 3));
  for (const kind of ['png', 'rgba'] as const) {
    const r = await cropFundus(await squareImage(kind), cfg);
    assert.deepEqual(r.box, { left: 30, top: 10, width: 20, height: 20 }, kind);
    assert.deepEqual([r.workWidth, r.workHeight], [60, 40]);
    assert.equal(r.rgb.length, 32 * 32 * 3);
    // interior pixels: the resampling kernel sees only the square
    for (const [x, y] of [[12, 12], [16, 16], [12, 19]] as const) assert.deepEqual(at(r.rgb, x, y), [200, 100, 50], `${kind} (${x},${y})`);
  }
  const greyPng = await squareImage('grey');
  const src = await sharp(greyPng).raw().toBuffer({ resolveWithObject: true });
  const v = src.data[(20 * 60 + 40) * src.info.channels] as number;
  assert.ok(v > 100 && v < 150, `source grey ${v}`);
  const grey = await cropFundus(greyPng, cfg);
  assert.deepEqual(at(grey.rgb, 16, 16), [v, v, v]);
  const jpeg = await preprocessImage(await squareImage('jpeg'), cfg, null);
  assert.equal(jpeg.length, 3 * 32 * 32);
  const red = (200 / 255 - 0.485) / 0.229;
  assert.ok(Math.abs((jpeg[16 * 32 + 16] as number) - red) < 0.1, `jpeg red ${jpeg[16 * 32 + 16]} vs ${red}`);
  // a large source is decoded straight to the work size; the box comes back in source pixels
  const big = await sharp(await squareImage('png')).resize(600, 400, { kernel: 'nearest' }).png().toBuffer();
  const rb = await cropFundus(big, resolveImageConfig({ size: 20 }));
  assert.deepEqual([rb.workWidth, rb.workHeight], [45, 30]); // shorter side 1.5 * 20
  // the square (x 300..500, y 100..300 of 600x400) in work pixels, edges within one pixel each
  for (const [k, v] of Object.entries({ left: 22.5, top: 7.5, width: 15, height: 15 })) {
    assert.ok(Math.abs(rb.box[k as 'left'] - v) <= 2, `box.${k} ${rb.box[k as 'left']} vs ${v}`);
  }
});

test('cropFundus: no bright pixel -> whole image, padded to a square', async () => {
  const black = await sharp({ create: { width: 40, height: 20, channels: 3, background: { r: 3, g: 3, b: 3 } } }).png().toBuffer();
  const r = await cropFundus(black, resolveImageConfig({ size: 8 }));
  assert.deepEqual(r.box, { left: 0, top: 0, width: 24, height: 12 }); // work image: shorter side 1.5 * 8
  assert.deepEqual(Array.from(r.rgb.slice(0, 3)), [0, 0, 0]); // top row is padding
  assert.deepEqual(Array.from(r.rgb.slice((4 * 8 + 4) * 3, (4 * 8 + 4) * 3 + 3)), [3, 3, 3]);
});

test('errors name the file: decompression bomb, corrupt, missing', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'retalign-img-'));
  try {
    const bomb = join(dir, 'bomb.png');
    writeFileSync(bomb, pngHeaderOnly(30000, 30000));
    await assert.rejects(preprocessImage(bomb, resolveImageConfig(), null), (e: unknown) => {
      assert.ok(e instanceof ImageTooLargeError);
      assert.match(e.message, /bomb\.png: 30000x30000 = 900000000 pixels exceeds the limit of 50000000 pixels \(50 MP; decompression-bomb guard/);
      return true;
    });
    const small = join(dir, 'small.png');
    writeFileSync(small, await squareImage('png'));
    await assert.rejects(preprocessImage(small, resolveImageConfig({ maxInputPixels: 2000 }), null), /small\.png: 60x40 = 2400 pixels exceeds the limit of 2000 pixels/);
    const corrupt = join(dir, 'corrupt.jpg');
    writeFileSync(corrupt, 'not an image at all');
    await assert.rejects(preprocessImage(corrupt, resolveImageConfig(), null), /corrupt\.jpg: text, not a JPEG, PNG, WebP or TIFF image$/);
    const cut = join(dir, 'cut.png');
    writeFileSync(cut, (await squareImage('png')).subarray(0, 40));
    await assert.rejects(preprocessImage(cut, resolveImageConfig(), null), /cut\.png: cannot decode the image \(/);
    await assert.rejects(preprocessImage(join(dir, 'missing.jpg'), resolveImageConfig(), null), /missing\.jpg: cannot read the file \(ENOENT/);
    // a file larger than any image within the limit could be is not even read: 8 bytes/pixel + 1 MiB
    const huge = join(dir, 'huge.jpg');
    writeFileSync(huge, Buffer.alloc((1 << 20) + 100));
    await assert.rejects(preprocessImage(huge, resolveImageConfig({ maxInputPixels: 10 }), null), /huge\.jpg: cannot read the file \(file is 1048676 bytes, more than an image within the 10-pixel limit can take \(1048656 bytes\)/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
