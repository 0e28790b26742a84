import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { augmentParamsFor } from '../../src/data/images/augment.js';
import { resolveAugmentConfig, resolveImageConfig } from '../../src/data/images/config.js';
import { ImageLoader } from '../../src/data/images/loader.js';
import { preprocessImage } from '../../src/data/images/preprocess.js';

// Runs from src under tsx (worker.ts through the tsx bootstrap) and from dist (worker.js).
const S = 16;
let dir = '';
const paths: string[] = [];

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'retalign-loader-'));
  for (let i = 0; i < 5; i++) {
    // 80x60 black frame with a disc of a different colour and place per image
    const svg =
      `<svg xmlns="http://www.w3.org/2000/svg" width="80" height="60"><rect width="80" height="60" fill="black"/>` +
      `<circle cx="${36 + 2 * i}" cy="30" r="${20 + i}" fill="rgb(${180 + 10 * i},${90 + 5 * i},40)"/>` +
      `<circle cx="${30 + 2 * i}" cy="26" r="4" fill="rgb(250,220,120)"/></svg>`;
    const p = join(dir, `img${i}.${i % 2 ? 'png' : 'jpg'}`);
    const img = sharp(Buffer.from(svg));
    await (i % 2 ? img.png() : img.jpeg({ quality: 90 })).toFile(p);
    paths.push(p);
  }
});
after(() => rmSync(dir, { recursive: true, force: true }));

test('workers give exactly the in-process result, with and without augmentation', async () => {
  const cfg = resolveImageConfig({ size: S });
  const aug = resolveAugmentConfig({});
  const loader = new ImageLoader({ config: { size: S }, workers: 2 });
  try {
    const plain = await loader.load(paths);
    const augmented = await loader.load(paths, { augment: true, seed: 11 });
    for (let i = 0; i < paths.length; i++) {
      const p = paths[i] as string;
      assert.deepEqual(plain[i], await preprocessImage(p, cfg, null), p);
      assert.deepEqual(augmented[i], await preprocessImage(p, cfg, augmentParamsFor(11, i, aug)), p);
      assert.equal((plain[i] as Float32Array).length, 3 * S * S);
    }
    assert.notDeepEqual(augmented[0], plain[0]);
  } finally {
    await loader.close();
  }
});

test('batches: order, shapes, prefetch; draws depend on (seed, index) only, not batch size or workers', async () => {
  const one = new ImageLoader({ config: { size: S }, workers: 1 });
  const inline = new ImageLoader({ config: { size: S }, workers: 0 });
  try {
    const got: Array<{ start: number; count: number; paths: string[]; len: number }> = [];
    const flat: Float32Array[] = [];
    for await (const b of one.batches(paths, { batchSize: 2, augment: true, seed: 4, prefetch: 1 })) {
      got.push({ start: b.start, count: b.count, paths: b.paths, len: b.data.length });
      for (let i = 0; i < b.count; i++) flat.push(b.data.slice(i * 3 * S * S, (i + 1) * 3 * S * S));
    }
    assert.deepEqual(got, [
      { start: 0, count: 2, paths: paths.slice(0, 2), len: 2 * 3 * S * S },
      { start: 2, count: 2, paths: paths.slice(2, 4), len: 2 * 3 * S * S },
      { start: 4, count: 1, paths: paths.slice(4), len: 3 * S * S },
    ]);
    const other = await inline.load(paths, { augment: true, seed: 4 });
    flat.forEach((x, i) => assert.deepEqual(x, other[i], `image ${i}`));
    // stopping early leaves nothing dangling
    for await (const b of one.batches(paths, { batchSize: 1, prefetch: 3 })) {
      assert.equal(b.start, 0);
      break;
    }
    await assert.rejects(async () => {
      for await (const _ of one.batches(paths, { batchSize: 0 })) void _;
    }, /batchSize is 0; expected an integer >= 1/);
  } finally {
    await one.close();
    await inline.close();
  }
});

test('a failing file is named; the pool keeps working; closed loader refuses', async () => {
  const loader = new ImageLoader({ config: { size: S }, workers: 2 });
  const strict = new ImageLoader({ config: { size: S, maxInputPixels: 4000 }, workers: 1 });
  try {
    const missing = join(dir, 'nope.jpg');
    await assert.rejects(loader.load([paths[0] as string, missing]), /nope\.jpg: cannot read the file/);
    // 80x60 = 4800 pixels > 4000
    await assert.rejects(strict.load([paths[1] as string]), /img1\.png: 80x60 = 4800 pixels exceeds the limit of 4000 pixels/);
    const bad = [...paths.slice(0, 2), missing];
    await assert.rejects(async () => {
      for await (const _ of loader.batches(bad, { batchSize: 2, prefetch: 2 })) void _;
    }, /nope\.jpg/);
    assert.equal((await loader.load(paths)).length, paths.length);
  } finally {
    await loader.close();
    await strict.close();
  }
  await assert.rejects(loader.load(paths), /ImageLoader is closed; cannot load/);
  assert.throws(() => new ImageLoader({ workers: -1 }), /workers is -1; expected an integer >= 0/);
  assert.throws(() => new ImageLoader({ config: { size: 0 } }), /ImageLoader config: size is 0/);
});

test('close() while images load: a started job finishes, queued ones are rejected, and the workers stop', async () => {
  for (let round = 0; round < 5; round++) {
    const loader = new ImageLoader({ config: { size: S }, workers: 1, inflightPerWorker: 1 });
    const jobs = Promise.allSettled(paths.map((p) => loader.load([p]))); // observed from the start: no unhandled rejections
    await loader.close();
    const settled = await jobs;
    assert.equal(settled[0]?.status, 'fulfilled', 'the job the worker had started');
    assert.equal((settled[0] as PromiseFulfilledResult<Float32Array[]>).value[0]?.length, 3 * S * S);
    for (const r of settled.slice(1)) {
      assert.equal(r.status, 'rejected');
      assert.match(String((r as PromiseRejectedResult).reason), /img\d\.(jpg|png): ImageLoader closed before the image was loaded/);
    }
  }
});
