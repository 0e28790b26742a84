/**
 * Image-only training: a run config's Kemt trained on the photo alone (the note and the record are
 * left out of every batch; only the grade losses are on: the fused heads over the image token and
 * the image-only heads), with the project's own loop, validating the image-only ICDR kappa. It
 * answers one question: does the image tower learn from the photo, and how fast? Used by
 * `npm run bench:learn` and by the learning test that guards it.
 *
 * @example
 *   const r = await trainImageOnly(loadRunConfig('configs/runs/demo-kemt.json'), { root: '/tmp/x' });
 *   r.kappa // validation image-only ICDR kappa at the last step
 */
import { NUM_GRADES } from '../data/grades.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildModel, type ModelConfig } from '../models/index.js';
import { Objective, inverseFrequencyWeights } from '../losses/index.js';
import { train } from '../train/index.js';
import { manualSeed } from '../tensor/index.js';
import { gradingMetrics, argmaxRows } from '../eval/metrics/grading.js';
import { prepareData, predict, type PreparedItem, type RunConfig } from '../run/index.js';
import { runModelConfig, trainBatchSource } from './train-run.js';

const IMAGE_ONLY = { text: false, tabular: false } as const;

export interface ImageOnlyOptions {
  /** Folder for synthesized data (shared between calls with the same synth settings). */
  root: string;
  /** Override the preset's image stem (the bench's patch-stem peer). */
  stem?: 'conv' | 'patch';
  /** Validations over the run (default 6). */
  evals?: number;
  /** Called after each validation. */
  onEval?: (e: { step: number; seconds: number; kappa: number }) => void;
}

export interface ImageOnlyResult {
  /** Validation image-only ICDR kappa at the last step. */
  kappa: number;
  /** Validation image-only ICDR accuracy at the last step. */
  accuracy: number;
  /** Training wall seconds (validation excluded). */
  seconds: number;
  /** [step, training seconds, kappa] per validation. */
  curve: [number, number, number][];
  valSize: number;
}

export async function trainImageOnly(cfg: RunConfig, o: ImageOnlyOptions): Promise<ImageOnlyResult> {
  const data = await prepareData(cfg, o.root, { log: () => undefined });
  const m: ModelConfig = runModelConfig(cfg, data.tokenizer.vocabSize);
  if (o.stem !== undefined) m.image.stem = o.stem;
  const tabularDim = data.featurizer?.dim ?? 0;
  manualSeed(cfg.train.seed);
  const model = buildModel(m, { vocabSize: data.tokenizer.vocabSize, tabularDim: Math.max(1, tabularDim), specialIds: data.tokenizer });
  const items = (ids: string[]): PreparedItem[] => ids.map((id) => data.items.get(id) as PreparedItem);
  const trainItems = items(data.ids.train);
  const val = items(data.ids.val);
  if (val.length === 0) throw new Error('trainImageOnly: the split has no validation exams (split.val is 0)');
  const truth = Int32Array.from(val.map((v) => v.icdr));
  const objective = new Objective({
    weights: { imageText: 0, imageTabular: 0, textTabular: 0, mae: 0, mlm: 0, icdr: 1, sdrg: 1, icdrImage: 1, sdrgImage: 1 },
    labelSmoothing: cfg.loss.labelSmoothing,
    icdrClassWeights: cfg.loss.classWeights ? inverseFrequencyWeights(trainItems.map((x) => x.icdr), NUM_GRADES) : null,
    sdrgClassWeights: cfg.loss.classWeights ? inverseFrequencyWeights(trainItems.map((x) => x.sdrg), NUM_GRADES) : null,
    classWeighting: cfg.loss.classWeighting,
  });
  const source = trainBatchSource(trainItems, cfg, m, tabularDim, IMAGE_ONLY);
  const out = mkdtempSync(join(tmpdir(), 'retalign-image-only-'));
  const steps = cfg.train.steps;
  let trainMs = 0;
  let since = Date.now();
  let accuracy = 0;
  const curve: [number, number, number][] = [];
  try {
    await train({
      model, objective, trainBatches: source, out,
      valEval: async ({ step }) => {
        trainMs += Date.now() - since;
        const p = await predict(model, val, { imageSize: m.image.imageSize, maxTokens: cfg.data.maxTokens, tabularDim, use: IMAGE_ONLY });
        const g = gradingMetrics(truth, argmaxRows(p.icdrLogits as Float32Array, NUM_GRADES), NUM_GRADES);
        const kappa = Number.isFinite(g.kappa) ? g.kappa : 0;
        accuracy = g.accuracy;
        curve.push([step, trainMs / 1000, kappa]);
        o.onEval?.({ step, seconds: trainMs / 1000, kappa });
        since = Date.now();
        return { icdr_kappa: kappa };
      },
      config: {
        seed: cfg.train.seed, epochs: Math.ceil(steps / source.batchesPerEpoch), maxSteps: steps, lr: cfg.train.lr,
        warmupSteps: cfg.train.warmupSteps, minLrRatio: cfg.train.minLrRatio, weightDecay: cfg.train.weightDecay,
        clipGradNorm: cfg.train.clipGradNorm, clipScope: cfg.train.clipScope, lrScale: cfg.train.lrScale,
        evalEvery: Math.max(1, Math.round(steps / (o.evals ?? 6))), logEvery: 10, progress: 'off',
        checkpointEvery: 0, earlyStop: null,
      },
    });
  } finally {
    rmSync(out, { recursive: true, force: true });
    model.dispose();
  }
  const last = curve[curve.length - 1] as [number, number, number];
  return { kappa: last[2], accuracy, seconds: last[1], curve, valSize: val.length };
}
