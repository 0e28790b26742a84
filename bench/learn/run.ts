/**
 * Learning benchmark: does the image tower learn from the photo, and how fast? Trains the demo's
 * Kemt (configs/runs/demo-kemt.json: `small` preset, the balanced synthetic twin, patient-level
 * split) on the photo alone (src/job/image-only.ts: the note and the record left out of every batch,
 * grade losses only) with the project's own training loop, and prints the validation image-only
 * ICDR kappa against training wall seconds.
 *
 * Peer: with --peer, the same run with the image tower's stem switched to ViT's 16 x 16 patch
 * embedding (image.stem = 'patch', everything else equal) in the same process, so the gain of the
 * convolutional stem is measured on this machine at this moment, not quoted.
 *
 * Last line: `learn-image-kappa <validation image-only kappa at the end> <training wall seconds>`.
 *
 * usage: npm run bench:learn [-- --steps 300 --seed 1 --peer --set key=value ...]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setNumThreads, getNumThreads, torchVersion } from '../../src/tensor/index.js';
import { loadRunConfig } from '../../src/run/index.js';
import { trainImageOnly } from '../../src/job/image-only.js';
import { packageRoot } from '../../src/data/assets.js';

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return dflt;
  const v = process.argv[i + 1];
  if (v === undefined || v.startsWith('--')) throw new Error(`bench/learn: --${name} needs a value`);
  return v;
}
const steps = Number(arg('steps', '300'));
const seed = Number(arg('seed', '1'));
if (!Number.isInteger(steps) || steps < 1) throw new Error(`bench/learn: --steps must be an integer >= 1, got ${arg('steps', '')}`);
const sets = process.argv.flatMap((a, i) => (a === '--set' ? [process.argv[i + 1] as string] : []));
const cfg = loadRunConfig(join(packageRoot(), 'configs', 'runs', 'demo-kemt.json'), [`train.steps=${steps}`, `train.seed=${seed}`, ...sets]);

setNumThreads(cpus().length);
const root = mkdtempSync(join(tmpdir(), 'retalign-bench-learn-'));
try {
  console.log(`bench:learn  demo-kemt on the photo alone, ${steps} steps, batch ${cfg.train.batchSize}, lr ${cfg.train.lr}, seed ${seed}, ` +
    `libtorch ${torchVersion()}, ${getNumThreads()} threads`);
  const show = (stem: string) => (e: { step: number; seconds: number; kappa: number }): void =>
    console.log(`  ${stem} stem  step ${String(e.step).padStart(4)}  train ${e.seconds.toFixed(0).padStart(4)} s  val image-only ICDR kappa ${e.kappa.toFixed(3)}`);
  const ours = await trainImageOnly(cfg, { root, stem: 'conv', onEval: show('conv ') });
  if (process.argv.includes('--peer')) {
    const peer = await trainImageOnly(cfg, { root, stem: 'patch', onEval: show('patch') });
    console.log(`patch-stem peer: kappa ${peer.kappa.toFixed(3)} after ${peer.seconds.toFixed(0)} s; conv stem ${ours.kappa.toFixed(3)} after ${ours.seconds.toFixed(0)} s`);
  }
  console.log(`learn-image-kappa ${ours.kappa.toFixed(3)} ${ours.seconds.toFixed(0)}`);
} finally {
  rmSync(root, { recursive: true, force: true });
}
