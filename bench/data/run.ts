/**
 * Image-pipeline throughput: retalign (sharp in a worker pool) vs a Python PIL + numpy peer doing
 * the same work in the same run (bench/data/pipeline_peer.py, /usr/bin/python3, one process).
 *
 * Run:      npm run build && npm run bench:data      (or: node --import tsx bench/data/run.ts)
 * Takes:    ~20-40 s on 2 cores (16 generated 2000x1500 JPEGs, 3 alternating rounds per side).
 * Expect:   last line `data-throughput-ratio <retalign images/s / python images/s>`, target >= 1.5.
 *
 * Work per image on both sides: decode JPEG (sharp: shrink-on-load, automatic; Python: PIL draft
 * mode, the same DCT-domain downscale), luminance thumbnail -> disc box, crop the box's square
 * (black outside), Lanczos resize to 224, scale, normalize (ImageNet mean/std), CHW float32.
 * Timings exclude start-up (Python imports, worker spawn) and one warm-up image per side.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { resolveImageConfig } from '../../src/data/images/config.js';
import { ImageLoader } from '../../src/data/images/loader.js';
import { Rng } from '../../src/data/rng.js';

const W = 2000;
const H = 1500;
const N_IMAGES = 16;
const REPEAT = 3; // each round processes N_IMAGES * REPEAT images
const ROUNDS = 3;
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

function runPython(paths: string[], dump: string): Rate {
  const r = spawnSync(PYTHON, [peerScript(), '--size', '224', '--repeat', String(REPEAT), '--dump', dump, ...paths], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${PYTHON} pipeline_peer.py failed (exit ${r.status}): ${r.stderr || r.error?.message}`);
  const lines = r.stdout.trim().split('\n');
  const out = JSON.parse(lines[lines.length - 1] as string) as { images: number; seconds: number; cpu_seconds: number };
  return { images: out.images, seconds: out.seconds, cpuSeconds: out.cpu_seconds };
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
    const single = new ImageLoader({ config: cfg, workers: 0 });
    const [first] = await pool.load(paths.slice(0, 1)); // warm-up: workers started, sharp loaded
    await single.load(paths.slice(0, 1));
    const dump = join(dir, 'python_first.f32');

    // Per side: best images/s over the rounds, and the lowest CPU ms per image.
    const sides = ['pool', 'single', 'python'] as const;
    const best = Object.fromEntries(sides.map((k) => [k, { rate: 0, cpuMs: Infinity }])) as Record<(typeof sides)[number], { rate: number; cpuMs: number }>;
    const note = (k: (typeof sides)[number], r: Rate): void => {
      best[k].rate = Math.max(best[k].rate, r.images / r.seconds);
      best[k].cpuMs = Math.min(best[k].cpuMs, (1000 * r.cpuSeconds) / r.images);
    };
    for (let round = 0; round < ROUNDS; round++) {
      // alternate sides so that load from other processes hits both alike
      note('python', runPython(paths, dump));
      note('pool', await runRetalign(pool, paths));
      note('single', await runRetalign(single, paths));
    }
    await pool.close();
    await single.close();

    // Same work check: the two pipelines' outputs for image 0 (they differ only by resampling details).
    const py = new Float32Array(readFileSync(dump).buffer.slice(0));
    const ours = first as Float32Array;
    let diff = 0;
    for (let i = 0; i < ours.length; i++) diff += Math.abs((ours[i] as number) - (py[i] as number));
    diff /= ours.length;

    const rows: Array<[string, { rate: number; cpuMs: number }]> = [
      [`retalign, ImageLoader ${pool.workerCount} workers (sharp, shrink-on-load)`, best.pool],
      ['retalign, workers: 0 (sharp on libuv threads, JS steps on the main thread)', best.single],
      ['python PIL + numpy, 1 process (PIL draft mode = shrink-on-load)', best.python],
    ];
    console.log(`\n| pipeline (decode, crop, resize 224, normalize, CHW) | images/s (best of ${ROUNDS}) | CPU ms/image (all threads) |`);
    console.log('|---|---|---|');
    for (const [k, v] of rows) console.log(`| ${k} | ${v.rate.toFixed(1)} | ${v.cpuMs.toFixed(1)} |`);
    console.log(`\nload average (1 min) during the bench: ${loadavg()[0]?.toFixed(2)} on ${availableParallelism()} cores`);
    console.log(`\nmean |retalign - python| on image 0, normalized units: ${diff.toFixed(4)} (same work, different resamplers)`);
    console.log('note: PIL draft mode is used because sharp shrinks JPEGs on load automatically.');
    console.log(`data-throughput-ratio ${(best.pool.rate / best.python.rate).toFixed(2)}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
