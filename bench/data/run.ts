/**
 * Image-pipeline throughput: retalign (sharp in a worker pool) vs a Python PIL + numpy peer doing
 * the same work in the same run (bench/data/pipeline_peer.py, /usr/bin/python3, one process).
 *
 * Run:      npm run build && npm run bench:data      (or: node --import tsx bench/data/run.ts)
 * Takes:    ~40-60 s on 2 cores (16 generated 2000x1500 JPEGs, 1 warm-up + 5 timed alternating rounds).
 * Expect:   last line `data-throughput-ratio <retalign images/s / python images/s>`, target >= 1.5.
 *
 * Work per image on both sides: decode JPEG at a DCT-domain reduced scale (retalign: the native fast
 * path's libjpeg-turbo, or sharp's shrink-on-load; Python: PIL draft mode), luminance thumbnail ->
 * disc box, crop the box's square (black outside), Lanczos resize to 224, scale, normalize (ImageNet
 * mean/std), CHW float32. Every side is a long-lived loader, as in training: the Python peer stays up between rounds
 * (--serve), the worker pools too; round 0 warms all of them and is not counted. Start-up (Python
 * imports, worker spawn) is never timed. Sides alternate within each round so that load from other
 * processes hits them alike; the table gives the best and the median of the timed rounds.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { resolveImageConfig } from '../../src/data/images/config.js';
import { imageBackend } from '../../src/data/images/fastpath.js';
import { ImageLoader } from '../../src/data/images/loader.js';
import { Rng } from '../../src/data/rng.js';

const W = 2000;
const H = 1500;
const N_IMAGES = 16;
const REPEAT = 4; // each round processes N_IMAGES * REPEAT images per side
const ROUNDS = 5; // timed rounds, after one warm-up round
const PYTHON = '/usr/bin/python3';

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

function peerScript(): string {
  const here = import.meta.url;
  for (const rel of ['./pipeline_peer.py', '../../../bench/data/pipeline_peer.py']) {
    const p = fileURLToPath(new URL(rel, here));
    if (existsSync(p)) return p;
  }
  throw new Error(`bench/data: pipeline_peer.py not found next to ${fileURLToPath(here)} or in bench/data/`);
}

interface Rate {
  images: number;
  /** Wall-clock seconds. */
  seconds: number;
  /** CPU seconds of the whole process (all threads: workers, libvips), for contended machines. */
  cpuSeconds: number;
}

/** The Python peer, started once (--serve): run() asks it for one timed round. */
async function startPython(paths: string[], dump: string): Promise<{ run: () => Promise<Rate>; close: () => void }> {
  const child = spawn(PYTHON, [peerScript(), '--serve', '--size', '224', '--repeat', String(REPEAT), '--dump', dump, ...paths], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const next = async (): Promise<Record<string, unknown>> => {
    const r = await lines.next();
    if (r.done === true) throw new Error(`${PYTHON} pipeline_peer.py ended early: ${stderr.trim() || 'no output'}`);
    return JSON.parse(r.value) as Record<string, unknown>;
  };
  await next(); // {"ready": true}: imports done, one image processed
  return {
    run: async () => {
      child.stdin.write('run\n');
      const out = await next();
      return { images: out['images'] as number, seconds: out['seconds'] as number, cpuSeconds: out['cpu_seconds'] as number };
    },
    close: () => { child.stdin.end(); },
  };
}

async function runRetalign(loader: ImageLoader, paths: string[]): Promise<Rate> {
  const all = Array.from({ length: REPEAT }, () => paths).flat();
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  let n = 0;
  for await (const b of loader.batches(all, { batchSize: 16, prefetch: 2 })) n += b.count;
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
    const python = await startPython(paths, dump);
    console.log(`image backend: ${imageBackend()}${imageBackend() === 'sharp' ? ' (native/build/retalign_image.node not built: make build)' : ' (libjpeg-turbo decode, native Lanczos crop-resize)'}`);

    const sides = ['pool', 'sharpPool', 'single', 'python'] as const;
    type Side = (typeof sides)[number];
    const rates = Object.fromEntries(sides.map((k) => [k, [] as number[]])) as Record<Side, number[]>;
    const cpu = Object.fromEntries(sides.map((k) => [k, [] as number[]])) as Record<Side, number[]>;
    const note = (k: Side, r: Rate): void => {
      rates[k].push(r.images / r.seconds);
      cpu[k].push((1000 * r.cpuSeconds) / r.images);
    };
    for (let round = 0; round <= ROUNDS; round++) {
      const got: Array<[Side, Rate]> = [
        ['python', await python.run()],
        ['pool', await runRetalign(pool, paths)],
        ['sharpPool', await runRetalign(sharpPool, paths)],
        ['single', await runRetalign(single, paths)],
      ];
      if (round === 0) continue; // warm-up
      for (const [k, r] of got) note(k, r);
      console.log(`round ${round}: ${got.map(([k, r]) => `${k} ${(r.images / r.seconds).toFixed(1)}`).join(', ')} images/s`);
    }
    python.close();
    await pool.close();
    await sharpPool.close();
    await single.close();
    const best = (xs: number[]): number => Math.max(...xs);
    const median = (xs: number[]): number => {
      const s = [...xs].sort((a, b) => a - b);
      return ((s[(s.length - 1) >> 1] as number) + (s[s.length >> 1] as number)) / 2;
    };

    // Same work check: the two pipelines' outputs for image 0 (they differ only by resampling details).
    const meanAbsDiff = (a: Float32Array, b: Float32Array): number => a.reduce((s, v, i) => s + Math.abs(v - (b[i] as number)), 0) / a.length;
    const ours = first as Float32Array;
    const diff = meanAbsDiff(ours, new Float32Array(readFileSync(dump).buffer.slice(0)));
    const diffSharp = meanAbsDiff(ours, firstSharp as Float32Array);

    const rows: Array<[string, Side]> = [
      [`retalign, ImageLoader ${pool.workerCount} workers (${imageBackend()} fast path)`, 'pool'],
      [`retalign, ImageLoader ${sharpPool.workerCount} workers, RETALIGN_FAST_IMAGE=0 (sharp only)`, 'sharpPool'],
      ['retalign, workers: 0 (everything on the calling thread)', 'single'],
      ['python PIL + numpy, 1 process (PIL draft mode = DCT-scaled decode)', 'python'],
    ];
    console.log(`\n| pipeline (decode, crop, resize 224, normalize, CHW) | images/s best of ${ROUNDS} | images/s median | CPU ms/image (all threads, best) |`);
    console.log('|---|---|---|---|');
    for (const [k, side] of rows) {
      console.log(`| ${k} | ${best(rates[side]).toFixed(1)} | ${median(rates[side]).toFixed(1)} | ${Math.min(...cpu[side]).toFixed(1)} |`);
    }
    console.log(`\nload average (1 min) during the bench: ${loadavg()[0]?.toFixed(2)} on ${availableParallelism()} cores`);
    console.log(`\nmean |retalign - python| on image 0, normalized units: ${diff.toFixed(4)} (same work, different resamplers)`);
    console.log(`mean |fast path - sharp only| on image 0, normalized units: ${diffSharp.toFixed(4)}`);
    console.log(`median-of-rounds ratio: ${(median(rates.pool) / median(rates.python)).toFixed(2)}`);
    console.log(`data-throughput-ratio ${(best(rates.pool) / best(rates.python)).toFixed(2)}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
