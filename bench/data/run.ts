/**
 * Image-pipeline throughput: retalign's ImageLoader (a worker pool) against what a PyTorch user
 * runs: a torch DataLoader with the same number of worker processes over a Dataset doing the same
 * transforms with PIL + numpy (bench/data/pipeline_peer.py, /usr/bin/python3), in the same run.
 *
 * Run:      npm run build && npm run bench:data      (or: node --import tsx bench/data/run.ts)
 *           quick check: npm run bench:data -- --images 4 --repeat 1 --rounds 2
 * Takes:    ~1-2 min on 2 cores (16 generated 2000x1500 JPEGs, 1 warm-up + 5 timed rounds).
 * Expect:   last line `data-throughput-ratio <retalign images/s / pytorch DataLoader images/s>`
 *           (both the median of the timed rounds).
 *
 * Work per image on both sides: decode JPEG at a DCT-domain reduced scale (retalign: the native fast
 * path's libjpeg-turbo, or sharp's shrink-on-load; Python: PIL draft mode), luminance thumbnail ->
 * disc box, crop the box's square (black outside), Lanczos resize to 224, scale, normalize (ImageNet
 * mean/std), CHW float32, batches of 16. Both loaders are long-lived, as in training (persistent
 * DataLoader workers; our pools stay up); round 0 warms all of them and is not counted. Start-up
 * (Python imports, worker spawn) is never timed. The sides take turns within each round (Python
 * first) so that load from other processes hits them alike; both are reduced alike (median of the
 * rounds). CPU ms per image counts every thread and worker process of a side.
 *
 * Same work: before timing, every image goes through both pipelines once; a mean absolute difference
 * above SAME_WORK_BOUND (normalized units) on any image fails the bench. The libtorch release of the addon and the
 * peer's torch must be equal, else the bench fails. RETALIGN_BENCH_FORCE=same-work (the peer
 * normalizes with a shifted mean) or =version shows each failure.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { resolveImageConfig } from '../../src/data/images/config.js';
import { imageBackend } from '../../src/data/images/fastpath.js';
import { ImageLoader } from '../../src/data/images/loader.js';
import { Rng } from '../../src/data/rng.js';
import { torchVersion } from '../../src/tensor/index.js';
import { PythonPeer, forced, intFlag, median, peerScript, torchVersionLine } from '../common/peer.js';

const BENCH = 'bench/data';
const W = 2000;
const H = 1500;
const N_IMAGES = intFlag(BENCH, 'images', 16);
const REPEAT = intFlag(BENCH, 'repeat', 4); // each round processes N_IMAGES * REPEAT images per side
const ROUNDS = intFlag(BENCH, 'rounds', 5); // timed rounds, after one warm-up round
const BATCH = 16;
const PREFETCH = 2;
const PYTHON = '/usr/bin/python3';
/**
 * Bound on mean |ours - python| of the worst image, in normalized units (a 0..1 pixel divided by
 * std ~0.226, so 0.1 is about 5.8 grey levels of 255). Both sides decode at the same reduced scale
 * and resample with Lanczos; the bench's 16 generated images gave mean 0.048, worst 0.074
 * from resampler and crop-box rounding. A mean 0.1 higher on the peer (RETALIGN_BENCH_FORCE=same-work)
 * gives 0.45.
 */
const SAME_WORK_BOUND = 0.1;
const IMAGENET_MEAN = [0.485, 0.456, 0.406];

/** A fundus-like JPEG: noisy black frame, vignetted orange disc, a bright optic disc, dark vessels. */
async function makeFundus(path: string, rng: Rng): Promise<number> {
  const px = Buffer.alloc(W * H * 3);
  const cx = W / 2 + rng.range(-80, 80);
  const cy = H / 2 + rng.range(-40, 40);
  const r = rng.range(660, 740);
  const od = { x: cx + rng.pick([-1, 1]) * r * 0.45, y: cy + rng.range(-60, 60), r: r * 0.12 };
  const base = [rng.range(170, 220), rng.range(80, 110), rng.range(30, 60)] as const;
  const phase = rng.range(0, Math.PI * 2);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const i = (y * W + x) * 3;
      const d = Math.hypot(x - cx, y - cy) / r;
      const noise = (rng.next32() & 15) - 8;
      if (d > 1) {
        const v = Math.max(0, (noise >> 1) + 2);
        px[i] = v;
        px[i + 1] = v;
        px[i + 2] = v;
        continue;
      }
      const vignette = 1 - 0.45 * d * d;
      const vessel = Math.abs(Math.sin((y - cy) / 37 + Math.sin((x - cx) / 180 + phase) * 2.5)) < 0.05 ? 0.55 : 1;
      const disc = Math.hypot(x - od.x, y - od.y) < od.r ? 1.6 : 1;
      for (let c = 0; c < 3; c++) px[i + c] = Math.min(255, Math.max(0, (base[c] as number) * vignette * vessel * disc + noise));
    }
  }
  const info = await sharp(px, { raw: { width: W, height: H, channels: 3 } }).jpeg({ quality: 92 }).toFile(path);
  return info.size;
}

interface Rate {
  images: number;
  /** Wall-clock seconds. */
  seconds: number;
  /** CPU seconds of the side (all threads: workers, libvips; for Python its worker processes too). */
  cpuSeconds: number;
}

/** The DataLoader peer, started once: run() asks it for one pass (one epoch) over the images. */
async function startPython(paths: string[], workers: number, dump: string): Promise<{ peer: PythonPeer; run: () => Promise<Rate> }> {
  // A forced same-work failure: the peer normalizes with a mean 0.1 higher on every channel.
  const mean = IMAGENET_MEAN.map((m) => String(forced('same-work') ? m + 0.1 : m));
  const peer = await PythonPeer.start(BENCH, PYTHON, [peerScript(BENCH, import.meta.url, 'data', 'pipeline_peer.py'),
    '--workers', String(workers), '--batch', String(BATCH), '--prefetch', String(PREFETCH), '--size', '224', '--repeat', String(REPEAT),
    '--mean', ...mean, '--dump', dump, ...paths]);
  return {
    peer,
    run: async () => {
      const out = await peer.ask({ cmd: 'run' });
      return { images: out['images'] as number, seconds: out['seconds'] as number, cpuSeconds: out['cpu_seconds'] as number };
    },
  };
}

async function runRetalign(loader: ImageLoader, paths: string[]): Promise<Rate> {
  const all = Array.from({ length: REPEAT }, () => paths).flat();
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  let n = 0;
  for await (const b of loader.batches(all, { batchSize: BATCH, prefetch: PREFETCH })) n += b.count;
  const c = process.cpuUsage(c0);
  return { images: n, seconds: (performance.now() - t0) / 1000, cpuSeconds: (c.user + c.system) / 1e6 };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'retalign-bench-data-'));
  try {
    const rng = new Rng(2026);
    const paths: string[] = [];
    let bytes = 0;
    const tGen = performance.now();
    for (let i = 0; i < N_IMAGES; i++) {
      const p = join(dir, `fundus${i}.jpg`);
      bytes += await makeFundus(p, rng);
      paths.push(p);
    }
    console.log(`generated ${N_IMAGES} JPEGs ${W}x${H} (${(W * H / 1e6).toFixed(1)} MP, mean ${(bytes / N_IMAGES / 1024).toFixed(0)} KiB) in ${((performance.now() - tGen) / 1000).toFixed(1)} s`);
    console.log(`cores: ${availableParallelism()}; sharp ${sharp.versions.sharp} / libvips ${sharp.versions.vips}`);

    const cfg = resolveImageConfig({ size: 224 });
    const pool = new ImageLoader({ config: cfg });
    // The same pool with sharp doing all image work: workers copy process.env when they start.
    process.env['RETALIGN_FAST_IMAGE'] = '0';
    const sharpPool = new ImageLoader({ config: cfg });
    const [firstSharp] = await sharpPool.load(paths.slice(0, 1));
    delete process.env['RETALIGN_FAST_IMAGE'];
    const single = new ImageLoader({ config: cfg, workers: 0 });
    const [first] = await pool.load(paths.slice(0, 1)); // workers started, sharp loaded
    await single.load(paths.slice(0, 1));
    const dump = join(dir, 'python_first.f32');
    const python = await startPython(paths, pool.workerCount, dump);
    const versions = torchVersionLine(BENCH, torchVersion(), String(python.peer.ready['torch']), `python (${PYTHON}) DataLoader`);

    // Same work, checked before anything is timed: every image through both pipelines.
    const meanAbsDiff = (a: Float32Array, b: Float32Array): number => a.reduce((s, v, i) => s + Math.abs(v - (b[i] as number)), 0) / a.length;
    const oursAll = await pool.load(paths);
    const per = (oursAll[0] as Float32Array).length;
    const theirsAll = new Float32Array(readFileSync(dump).buffer.slice(0));
    if (theirsAll.length !== per * paths.length) {
      throw new Error(`${BENCH}: the python peer wrote ${theirsAll.length} values for ${paths.length} images; expected ${per} per image (3 x 224 x 224)`);
    }
    const diffs = oursAll.map((o, i) => meanAbsDiff(o as Float32Array, theirsAll.subarray(i * per, (i + 1) * per)));
    const worst = diffs.reduce((w, d, i) => (d > (diffs[w] as number) ? i : w), 0);
    const diff = diffs[worst] as number;
    const diffSharp = meanAbsDiff(first as Float32Array, firstSharp as Float32Array);
    const sameWork = `mean |retalign - python| per image, normalized units: mean ${(diffs.reduce((s, d) => s + d, 0) / diffs.length).toFixed(4)}, ` +
      `worst ${diff.toFixed(4)} (${paths[worst]?.split('/').pop()}) over ${paths.length} images; bound ${SAME_WORK_BOUND} on the worst ` +
      `(different resamplers${forced('same-work') ? '; peer mean shifted by RETALIGN_BENCH_FORCE=same-work' : ''})`;
    if (!(diff <= SAME_WORK_BOUND)) {
      throw new Error(`${BENCH}: FAIL the two pipelines do not do the same work: ${sameWork}; ` +
        `check the crop, size, mean/std and channel order of bench/data/pipeline_peer.py against src/data/images`);
    }
    console.log(`image backend: ${imageBackend()}${imageBackend() === 'sharp' ? ' (native/build/retalign_image.node not built: make build)' : ' (libjpeg-turbo decode, native Lanczos crop-resize)'}`);

    const sides = ['pool', 'sharpPool', 'single', 'python'] as const;
    type Side = (typeof sides)[number];
    const rates = Object.fromEntries(sides.map((k) => [k, [] as number[]])) as Record<Side, number[]>;
    const cpu = Object.fromEntries(sides.map((k) => [k, [] as number[]])) as Record<Side, number[]>;
    const note = (k: Side, r: Rate): void => {
      rates[k].push(r.images / r.seconds);
      cpu[k].push((1000 * r.cpuSeconds) / r.images);
    };
    const load0 = loadavg()[0] ?? NaN;
    for (let round = 0; round <= ROUNDS; round++) {
      const got: Array<[Side, Rate]> = [
        ['python', await python.run()],
        ['pool', await runRetalign(pool, paths)],
        ['sharpPool', await runRetalign(sharpPool, paths)],
        ['single', await runRetalign(single, paths)],
      ];
      for (const [k, r] of got) {
        if (r.images !== N_IMAGES * REPEAT) throw new Error(`${BENCH}: ${k} processed ${r.images} images in round ${round}, expected ${N_IMAGES * REPEAT}`);
      }
      if (round === 0) continue; // warm-up
      for (const [k, r] of got) note(k, r);
      console.log(`round ${round}: ${got.map(([k, r]) => `${k} ${(r.images / r.seconds).toFixed(1)}`).join(', ')} images/s`);
    }
    await python.peer.close();
    await pool.close();
    await sharpPool.close();
    await single.close();
    const best = (xs: number[]): number => Math.max(...xs);

    const rows: Array<[string, Side]> = [
      [`retalign, ImageLoader ${pool.workerCount} workers (${imageBackend()} fast path)`, 'pool'],
      [`retalign, ImageLoader ${sharpPool.workerCount} workers, RETALIGN_FAST_IMAGE=0 (sharp only)`, 'sharpPool'],
      ['retalign, workers: 0 (everything on the calling thread)', 'single'],
      [`pytorch DataLoader, ${pool.workerCount} worker processes (PIL draft mode + numpy transforms)`, 'python'],
    ];
    console.log(`\n| pipeline (decode, crop, resize 224, normalize, CHW; batches of ${BATCH}) | images/s median of ${ROUNDS} | images/s best | CPU ms/image (all threads and workers, median) |`);
    console.log('|---|---|---|---|');
    for (const [k, side] of rows) {
      console.log(`| ${k} | ${median(rates[side]).toFixed(1)} | ${best(rates[side]).toFixed(1)} | ${median(cpu[side]).toFixed(1)} |`);
    }
    console.log(`\nload average (1 min): ${load0.toFixed(2)} at start, ${loadavg()[0]?.toFixed(2)} at end, on ${availableParallelism()} cores; ` +
      'sides take turns within each round (python first)');
    console.log(`python peer: torch ${String(python.peer.ready['torch'])}, numpy ${String(python.peer.ready['numpy'])}, PIL ${String(python.peer.ready['pil'])}`);
    console.log(`\n${sameWork}`);
    console.log(`mean |fast path - sharp only| on image 0, normalized units: ${diffSharp.toFixed(4)}`);
    console.log(`best-round ratio: ${(best(rates.pool) / best(rates.python)).toFixed(2)}`);
    console.log(versions);
    console.log(`data-throughput-ratio ${(median(rates.pool) / median(rates.python)).toFixed(2)}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
