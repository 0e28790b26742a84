/**
 * Synthetic twin throughput: renders and writes BRSET-format images at 224 px (default) into a temp
 * folder and prints images/s. Run: `node --import tsx bench/data/synth.ts [--patients N] [--size PX]`
 * (or the compiled dist/bench/data/synth.js). Target (issue 3): >= 50 images/s on 2 cores.
 * Last line: `synth-images-per-s <n>`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { synthesize } from '../../src/data/synth/synthesize.js';

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(process.argv[i + 1]) : def;
  if (!Number.isFinite(v)) throw new Error(`bench/data/synth: --${name} expects a number, got ${process.argv[i + 1]}`);
  return v;
}

const patients = arg('patients', 150);
const size = arg('size', 224);
const dir = mkdtempSync(join(tmpdir(), 'retalign-synth-bench-'));
try {
  // Warm-up (JIT, sharp/libvips start) on a few patients, not timed.
  await synthesize({ out: join(dir, 'warm'), patients: 5, size, seed: 99 });
  const t0 = process.hrtime.bigint();
  const c0 = process.cpuUsage();
  const s = await synthesize({ out: join(dir, 'run'), patients, size, seed: 1, prevalence: 'balanced' });
  const sec = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(c0);
  const w = Math.round(size * 1.3);
  console.log(`synth: ${s.imagesWritten} images of ${w}x${size} px (balanced grades) in ${sec.toFixed(2)} s`);
  // CPU time (all threads, sharp's included) tells the cost when the machine is shared.
  console.log(`synth-cpu-ms-per-image ${((cpu.user + cpu.system) / 1000 / s.imagesWritten).toFixed(1)}`);
  console.log(`synth-images-per-s ${(s.imagesWritten / sec).toFixed(1)}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
