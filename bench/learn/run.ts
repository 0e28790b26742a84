/**
 * Learning benchmark: does the image tower learn from the photo, and how fast? Trains the demo's
 * Kemt (configs/runs/demo-kemt.json: `small` preset, the balanced synthetic twin, patient-level
 * split) on the photo alone (the note and the record are left out of every batch; only the grade
 * losses are on: the fused heads seeing the image token and the image-only heads) with the
 * project's own training loop, and prints the validation image-only ICDR kappa against wall seconds.
 *
 * Peer: with --peer, the same run with the image tower's stem switched to ViT's 16 x 16 patch
 * embedding (image.stem = 'patch', everything else equal), in the same process, so the gain of the
 * convolutional stem is measured on this machine at this moment, not quoted.
 *
 * Last line: `learn-image-kappa <validation image-only kappa at the end> <training wall seconds>`.
 *
 * usage: npm run bench:learn [-- --steps 300 --seed 1 --peer --set key=value ...]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildModel, type ModelConfig } from '../../src/models/index.js';
import { Objective, inverseFrequencyWeights } from '../../src/losses/index.js';
import { train } from '../../src/train/index.js';
import { manualSeed, setNumThreads, getNumThreads, torchVersion } from '../../src/tensor/index.js';
import { gradingMetrics, argmaxRows } from '../../src/eval/metrics/grading.js';
import { loadRunConfig, prepareData, predict, type PreparedItem } from '../../src/run/index.js';
import { runModelConfig, trainBatchSource } from '../../src/job/train-run.js';
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
const withPeer = process.argv.includes('--peer');

const IMAGE_ONLY = { text: false, tabular: false } as const;

async function run(stem: 'conv' | 'patch', root: string): Promise<{ kappa: number; seconds: number; curve: [number, number, number][] }> {
  const cfg = loadRunConfig(join(packageRoot(), 'configs', 'runs', 'demo-kemt.json'), [`train.steps=${steps}`, `train.seed=${seed}`, ...sets]);
  const data = await prepareData(cfg, root, { log: () => undefined });
  const m: ModelConfig = runModelConfig(cfg, data.tokenizer.vocabSize);
  m.image.stem = stem;
  const tabularDim = data.featurizer?.dim ?? 0;
  manualSeed(cfg.train.seed);
  const model = buildModel(m, { vocabSize: data.tokenizer.vocabSize, tabularDim: Math.max(1, tabularDim), specialIds: data.tokenizer });
  const items = (ids: string[]): PreparedItem[] => ids.map((id) => data.items.get(id) as PreparedItem);
  const trainItems = items(data.ids.train);
  const val = items(data.ids.val);
  const truth = Int32Array.from(val.map((v) => v.icdr));
  const objective = new Objective({
    weights: { imageText: 0, imageTabular: 0, textTabular: 0, mae: 0, mlm: 0, icdr: 1, sdrg: 1, icdrImage: 1, sdrgImage: 1 },
    labelSmoothing: cfg.loss.labelSmoothing,
    icdrClassWeights: inverseFrequencyWeights(trainItems.map((x) => x.icdr), 5),
    sdrgClassWeights: inverseFrequencyWeights(trainItems.map((x) => x.sdrg), 5),
  });
  const source = trainBatchSource(trainItems, cfg, m, tabularDim, IMAGE_ONLY);
  const out = mkdtempSync(join(tmpdir(), 'retalign-bench-learn-'));
  const t0 = Date.now();
  let trainMs = 0;
  let since = Date.now();
  const curve: [number, number, number][] = [];
  try {
    await train({
      model, objective, trainBatches: source, out,
      valEval: async ({ step }) => {
        trainMs += Date.now() - since;
        const p = await predict(model, val, { imageSize: m.image.imageSize, maxTokens: cfg.data.maxTokens, tabularDim, use: IMAGE_ONLY });
        const k = gradingMetrics(truth, argmaxRows(p.icdrLogits as Float32Array, 5), 5).kappa;
        const kappa = Number.isFinite(k) ? k : 0;
        curve.push([step, trainMs / 1000, kappa]);
        console.log(`  ${stem} stem  step ${String(step).padStart(4)}  train ${(trainMs / 1000).toFixed(0).padStart(4)} s  val image-only ICDR kappa ${kappa.toFixed(3)}`);
        since = Date.now();
        return { icdr_kappa: kappa };
      },
      config: {
        seed: cfg.train.seed, epochs: Math.ceil(steps / source.batchesPerEpoch), maxSteps: steps, lr: cfg.train.lr,
        warmupSteps: cfg.train.warmupSteps, minLrRatio: cfg.train.minLrRatio, weightDecay: cfg.train.weightDecay,
        clipGradNorm: cfg.train.clipNorm, evalEvery: Math.max(1, Math.round(steps / 6)), logEvery: 10, progress: 'off',
        checkpointEvery: 0, earlyStop: null,
      },
    });
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
  const last = curve[curve.length - 1] ?? [0, (Date.now() - t0) / 1000, 0];
  return { kappa: last[2], seconds: last[1], curve };
}

setNumThreads(cpus().length);
const root = mkdtempSync(join(tmpdir(), 'retalign-bench-learn-data-'));
try {
  console.log(`bench:learn  demo-kemt on the photo alone, ${steps} steps, seed ${seed}, libtorch ${torchVersion()}, ${getNumThreads()} threads`);
  const ours = await run('conv', root);
  if (withPeer) {
    const peer = await run('patch', root);
    console.log(`patch-stem peer: val image-only kappa ${peer.kappa.toFixed(3)} after ${peer.seconds.toFixed(0)} s; conv stem ${ours.kappa.toFixed(3)} after ${ours.seconds.toFixed(0)} s`);
  }
  console.log(`learn-image-kappa ${ours.kappa.toFixed(3)} ${ours.seconds.toFixed(0)}`);
} finally {
  rmSync(root, { recursive: true, force: true });
}
