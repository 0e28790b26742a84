// The training loop on a tiny linear test model: one step lowers the loss, a short overfit drives
// every part down, a crash + resume equals an uninterrupted run bit for bit, validation does not
// perturb training, early stopping and the best checkpoint, NaN detection, bf16 autocast, no leaks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tensor, tidy, noGrad, manualSeed, liveTensors } from '../../src/tensor/index.js';
import { settledLiveTensors } from '../support/live.js';
import { Objective } from '../../src/losses/index.js';
import { train, readCheckpoint, NonFiniteLossError, type TrainConfigInput } from '../../src/train/index.js';
import { clipGradNormByModule } from '../../src/train/grad-norms.js';
import { TinyModel, ArraySource, collate, makeSamples } from './tiny-model.js';
import type { Rng } from '../../src/data/rng.js';

const tmp = (): string => mkdtempSync(join(tmpdir(), 'retalign-train-'));
const lines = (dir: string): Record<string, unknown>[] =>
  readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
const trainLines = (dir: string): { step: number; loss: number; parts: Record<string, number> }[] =>
  lines(dir).filter((l) => l['type'] === 'train') as unknown as { step: number; loss: number; parts: Record<string, number> }[];
function assertSameParams(a: Map<string, Float32Array>, b: Map<string, Float32Array>): void {
  assert.deepEqual([...a.keys()], [...b.keys()]);
  for (const [k, v] of a) assert.deepEqual(b.get(k), v, `parameter ${k} differs`);
}
const base: TrainConfigInput = { progress: 'off', logEvery: 1, weightDecay: 0.01, clipGradNorm: 1 };

test('one optimizer step lowers the loss on the batch it saw', async () => {
  const out = tmp();
  const model = new TinyModel(1);
  const objective = new Objective();
  const samples = makeSamples(8, 1);
  const lossNow = (): number => tidy(() => noGrad(() => {
    manualSeed(42); // same MAE/MLM masks for both measurements
    return objective.compute(model.forward(collate(samples), { training: false, maeMaskRatio: 0.5, mlmProb: 0.5 }), collate(samples)).total.item();
  }));
  const before = lossNow();
  await train({ model, objective, trainBatches: new ArraySource(samples, 8, false), config: { ...base, lr: 1e-2, epochs: 1 }, out });
  const after = lossNow();
  assert.ok(after < before, `loss ${before} -> ${after}`);
  rmSync(out, { recursive: true, force: true });
});

test('a short overfit drives every loss part down', async () => {
  const out = tmp();
  const model = new TinyModel(2);
  const objective = new Objective();
  await train({ model, objective, trainBatches: new ArraySource(makeSamples(16, 2), 8), config: { ...base, lr: 2e-2, epochs: 40, warmupSteps: 5, maeMaskRatio: 0.5, mlmProb: 0.5 }, out });
  const tl = trainLines(out);
  assert.equal(tl.length, 80);
  const mean = (xs: typeof tl, k: string): number => xs.reduce((s, l) => s + (l.parts[k] as number), 0) / xs.length;
  for (const k of ['imageText', 'imageTabular', 'textTabular', 'mae', 'mlm', 'icdr', 'sdrg']) {
    const first = mean(tl.slice(0, 5), k);
    const last = mean(tl.slice(-5), k);
    assert.ok(last < 0.7 * first, `${k}: ${first} -> ${last}`);
  }
  rmSync(out, { recursive: true, force: true });
});

test('crash + resume gives the same parameters bit for bit as an uninterrupted run', async () => {
  // 10 samples, batch 2 -> 5 micro-batches/epoch; accumulation 2 -> 3 steps/epoch (the last one partial); 3 epochs = 9 steps.
  const cfg: TrainConfigInput = { ...base, seed: 3, epochs: 3, accumSteps: 2, lr: 5e-3, warmupSteps: 2, checkpointEvery: 1,
    modalityDropout: { image: 0.3, text: 0.3, tabular: 0.3 }, maeMaskRatio: 0.5, mlmProb: 0.3 };
  const samples = makeSamples(10, 4);
  const objective = new Objective({ labelSmoothing: 0.1 });
  const outA = tmp();
  const a = new TinyModel(7);
  const ra = await train({ model: a, objective, trainBatches: new ArraySource(samples, 2), config: cfg, out: outA });
  assert.equal(ra.step, 9);

  const outB = tmp();
  const b1 = new TinyModel(7);
  await assert.rejects(train({ model: b1, objective, trainBatches: new ArraySource(samples, 2), config: cfg, out: outB,
    hooks: { onStep: (i) => { if (i.step === 4) throw new Error('simulated crash'); } } }), /simulated crash/);
  const ck = readCheckpoint(join(outB, 'last'));
  assert.deepEqual([ck.state.step, ck.state.epoch, ck.state.batchInEpoch], [4, 1, 2]); // mid-epoch
  manualSeed(999); Tensor.rand([100]).dispose(); // disturb libtorch's RNG: the resume must restore it
  const b2 = new TinyModel(12345); // different init: the checkpoint's weights must replace it
  const rb = await train({ model: b2, objective, trainBatches: new ArraySource(samples, 2), config: cfg, out: outB, resume: true });
  assert.equal(rb.step, 9);
  assertSameParams(a.snapshot(), b2.snapshot());
  // The metrics log holds each step once, with the uninterrupted run's losses.
  assert.deepEqual(trainLines(outB).map((l) => l.step), [1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.deepEqual(trainLines(outB).map((l) => l.loss), trainLines(outA).map((l) => l.loss));
  rmSync(outA, { recursive: true, force: true });
  rmSync(outB, { recursive: true, force: true });
});

test('validation does not perturb training; early stopping keeps the best checkpoint', async () => {
  const samples = makeSamples(12, 5);
  const objective = new Objective();
  const cfg: TrainConfigInput = { ...base, seed: 1, epochs: 4, lr: 5e-3, maeMaskRatio: 0.5, mlmProb: 0.3 };
  // Reference: the same run without validation, parameters captured after step 4.
  const outA = tmp();
  const a = new TinyModel(3);
  let refAt4: Map<string, Float32Array> | null = null;
  await train({ model: a, objective, trainBatches: new ArraySource(samples, 4), config: cfg, out: outA,
    hooks: { onStep: (i) => { if (i.step === 4) refAt4 = a.snapshot(); } } });

  const outB = tmp();
  const b = new TinyModel(3);
  const metric = [0.5, 0.7, 0.6, 0.65, 0.6, 0.9, 0.9];
  const atStep = new Map<number, Map<string, Float32Array>>();
  const evals: number[] = [];
  const r = await train({
    model: b, objective, trainBatches: new ArraySource(samples, 4), out: outB,
    config: { ...cfg, evalEvery: 1, earlyStop: { metric: 'kappa', mode: 'max', patience: 2 } },
    valEval: ({ step }) => {
      evals.push(step);
      tidy(() => { Tensor.rand([50]); noGrad(() => b.forward(collate(samples), { training: false, maeMaskRatio: 0, mlmProb: 0 })); });
      return { kappa: metric[step - 1]!, other: step };
    },
    hooks: { onStep: (i) => { atStep.set(i.step, b.snapshot()); } },
  });
  // 0.5 (best), 0.7 (best), 0.6 (1 bad), 0.65 (2 bad) -> stop after step 4.
  assert.deepEqual(evals, [1, 2, 3, 4]);
  assert.equal(r.stoppedEarly, true);
  assert.equal(r.step, 4);
  assert.deepEqual(r.best, { metric: 'kappa', mode: 'max', value: 0.7, step: 2 });
  const best = readCheckpoint(join(outB, 'best'));
  assert.equal(best.state.step, 2);
  for (const [k, v] of atStep.get(2)!) assert.deepEqual(best.weights.get(k)!.data, v);
  const last = readCheckpoint(join(outB, 'last'));
  assert.equal(last.state.step, 4);
  assert.equal(last.state.stoppedEarly, true);
  assertSameParams(refAt4!, atStep.get(4)!); // validating (which draws from libtorch's RNG) changed nothing
  assert.deepEqual(lines(outB).filter((l) => l['type'] === 'val').map((l) => l['step']), [1, 2, 3, 4]);
  // A resume of an early-stopped run does nothing.
  const again = await train({ model: b, objective, trainBatches: new ArraySource(samples, 4), out: outB, resume: true,
    config: { ...cfg, evalEvery: 1, earlyStop: { metric: 'kappa', mode: 'max', patience: 2 } }, valEval: () => ({ kappa: 1 }) });
  assert.equal(again.step, 4);
  for (const o of [outA, outB]) rmSync(o, { recursive: true, force: true });
});

test('a NaN loss stops the run naming the step and the part; the last good checkpoint stays', async () => {
  const out = tmp();
  const model = new TinyModel(4);
  model.nanAtCall = 3; // the 4th forward, i.e. optimizer step 4 (steps count from 1 as in metrics.jsonl)
  const err = await train({ model, objective: new Objective(), trainBatches: new ArraySource(makeSamples(8, 6), 2),
    config: { ...base, epochs: 3, lr: 1e-3, checkpointEvery: 1 }, out }).then(() => null, (e: unknown) => e);
  assert.ok(err instanceof NonFiniteLossError, String(err));
  assert.equal(err.step, 4);
  assert.equal(err.part, 'mae');
  assert.match(err.message, new RegExp(`non-finite loss part 'mae' \\(NaN\\) at step 4: training stopped; the last good checkpoint is ${join(out, 'last').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
  const ck = readCheckpoint(join(out, 'last'));
  assert.equal(ck.state.step, 3);
  for (const [k, v] of model.snapshot()) assert.deepEqual(ck.weights.get(k)!.data, v, `${k}: parameters were touched after the NaN`);
  const errLine = lines(out).find((l) => l['type'] === 'error')!;
  assert.deepEqual([errLine['step'], errLine['part'], errLine['value']], [4, 'mae', 'NaN']);
  rmSync(out, { recursive: true, force: true });
});

test("precision 'bfloat16' trains under autocast: finite, falling loss and float32 weights", async () => {
  const out = tmp();
  const model = new TinyModel(1);
  const r = await train({ model, objective: new Objective(), trainBatches: new ArraySource(makeSamples(8, 1), 4),
    config: { ...base, precision: 'bfloat16', epochs: 6 }, out });
  assert.ok(r.step > 0);
  const losses = lines(out).filter((l) => l['type'] === 'train').map((l) => l['loss'] as number);
  assert.ok(losses.every(Number.isFinite), 'every logged loss is finite');
  assert.ok((losses[losses.length - 1] as number) < (losses[0] as number), `loss falls under bf16: ${losses[0]} -> ${losses[losses.length - 1]}`);
  for (const p of model.namedParameters().values()) assert.equal(p.dtype, 'float32', 'master weights stay float32');
  rmSync(out, { recursive: true, force: true });
});

test('the live-tensor count does not grow across steps', async () => {
  const out = tmp();
  await settledLiveTensors();
  const counts: number[] = [];
  await train({ model: new TinyModel(5), objective: new Objective(), trainBatches: new ArraySource(makeSamples(12, 7), 2),
    config: { ...base, epochs: 2, accumSteps: 2, modalityDropout: { image: 0.5 }, checkpointEvery: 2 }, out,
    hooks: { onStep: () => { counts.push(liveTensors()); } } });
  assert.equal(counts.length, 6);
  // The count also holds tensors earlier tests left to the garbage collector; a collection during the run
  // can only lower it. A leak raises it at every step, so no step may count more than the one before.
  assert.ok(counts.every((c, i) => i === 0 || c <= counts[i - 1]!), `live tensors per step: ${counts.join(', ')}`);
  rmSync(out, { recursive: true, force: true });
});

test('a fresh run refuses a folder that holds a run; resume without a checkpoint says so', async () => {
  const out = tmp();
  const args = { objective: new Objective(), trainBatches: new ArraySource(makeSamples(4, 1), 2), config: { ...base, maxSteps: 1 }, out };
  await train({ ...args, model: new TinyModel(1) });
  await assert.rejects(train({ ...args, model: new TinyModel(1) }), /already holds a run \(.*last\); resume it or choose another output folder/);
  const empty = tmp();
  await assert.rejects(train({ ...args, out: empty, model: new TinyModel(1), resume: true }), /last: no checkpoint here/);
  // Resuming with a changed learning rate would not continue the same run: refused, naming the field.
  await assert.rejects(train({ ...args, model: new TinyModel(1), resume: true, config: { ...base, maxSteps: 2, lr: 1 } }),
    /config differs from .*state\.json in lr \(checkpoint 0\.0001, now 1\)/);
  await assert.rejects(train({ ...args, model: new TinyModel(1), resume: true, objective: new Objective({ weights: { mae: 0 } }) }),
    /objective differs from .*state\.json/);
  for (const o of [out, empty]) rmSync(o, { recursive: true, force: true });
});

test('gradient accumulation: 2 micro-batches of 4 step like one batch of 8; async sources work', async () => {
  const samples = makeSamples(16, 8);
  // Mean-reduced parts over equal halves average to the full-batch mean (InfoNCE would not: its negatives change).
  const objective = new Objective({ weights: { imageText: 0, imageTabular: 0, textTabular: 0, mae: 0, mlm: 0 } });
  // A large eps and no clipping make the update depend on the gradient's scale (Adam alone is nearly scale-free).
  const cfg: TrainConfigInput = { ...base, epochs: 2, lr: 1e-2, weightDecay: 0.1, eps: 1, clipGradNorm: 0 };
  const outA = tmp();
  const a = new TinyModel(6);
  a.dropoutP = 0;
  await train({ model: a, objective, trainBatches: new ArraySource(samples, 8, false), config: cfg, out: outA });
  const outB = tmp();
  const b = new TinyModel(6);
  b.dropoutP = 0;
  const sync = new ArraySource(samples, 4, false);
  const asyncSource = {
    batchesPerEpoch: sync.batchesPerEpoch,
    async *batchesForEpoch(epoch: number, rng: Rng, from: number) {
      for (const x of sync.batchesForEpoch(epoch, rng, from)) yield await Promise.resolve(x);
    },
  };
  const r = await train({ model: b, objective, trainBatches: asyncSource, config: { ...cfg, accumSteps: 2 }, out: outB });
  assert.equal(r.step, 4);
  const sa = a.snapshot();
  for (const [k, v] of b.snapshot()) {
    const w = sa.get(k)!;
    let maxDiff = 0;
    v.forEach((x, i) => (maxDiff = Math.max(maxDiff, Math.abs(x - w[i]!))));
    assert.ok(maxDiff < 1e-6, `${k}: max difference ${maxDiff}`);
  }
  for (const o of [outA, outB]) rmSync(o, { recursive: true, force: true });
});

test("clipScope 'module': each top-level module's gradient is clipped on its own; the norm before clipping is returned", () => {
  // Hand-worked: image.* gradients (3, 4) -> norm 5; text.* gradients (12) and (0, 0, 5) -> norm 13.
  const param = (g: number[]): Tensor => { // a parameter whose gradient is g
    const p = Tensor.zeros([g.length]);
    p.requiresGrad = true;
    p.mul(Tensor.from(g, [g.length])).sum().backward();
    return p;
  };
  const named = new Map<string, Tensor>([
    ['image.a', param([3])], ['image.b', param([4])], ['text.a', param([12])], ['text.b', param([0, 0, 5])],
  ]);
  const total = clipGradNormByModule(named, 1);
  assert.ok(Math.abs(total - Math.sqrt(25 + 169)) < 1e-5, `norm before clipping ${total}`);
  const g = (k: string): number[] => (named.get(k) as Tensor).grad?.toNumbers() ?? [];
  // Each module scaled to norm 1 by its own factor (1/5 and 1/13), not by the global 1/sqrt(194).
  assert.ok(Math.abs((g('image.a')[0] as number) - 0.6) < 1e-4 && Math.abs((g('image.b')[0] as number) - 0.8) < 1e-4, JSON.stringify([g('image.a'), g('image.b')]));
  assert.ok(Math.abs((g('text.a')[0] as number) - 12 / 13) < 1e-4 && Math.abs((g('text.b')[2] as number) - 5 / 13) < 1e-4, JSON.stringify([g('text.a'), g('text.b')]));
  // A module under the bound is left alone.
  const small = new Map<string, Tensor>([['heads.w', param([0.3, 0.4])]]);
  clipGradNormByModule(small, 1);
  assert.deepEqual((small.get('heads.w') as Tensor).grad?.toNumbers().map((v) => Math.round(v * 1e4) / 1e4), [0.3, 0.4]);
});

test('lrScale: a module at 2x takes twice the step, at 0 stays put; the others step as without it', async () => {
  const samples = makeSamples(8, 9);
  const objective = new Objective();
  // One optimizer step (one batch, no warmup): AdamW's first update is lr * (sign-like Adam term + decay), linear in lr.
  const cfg: TrainConfigInput = { ...base, epochs: 1, lr: 1e-2, weightDecay: 0.1, warmupSteps: 0 };
  const run = async (lrScale: Record<string, number>): Promise<Map<string, Float32Array>> => {
    const m = new TinyModel(7);
    const out = tmp();
    await train({ model: m, objective, trainBatches: new ArraySource(samples, 8, false), config: { ...cfg, lrScale }, out });
    rmSync(out, { recursive: true, force: true });
    return m.snapshot();
  };
  const init = new TinyModel(7).snapshot();
  const plain = await run({});
  const scaled = await run({ image: 2, text: 0 });
  for (const [k, w0] of init) {
    const d1 = (plain.get(k) as Float32Array).map((v, i) => v - (w0[i] as number));
    const d2 = (scaled.get(k) as Float32Array).map((v, i) => v - (w0[i] as number));
    const want = k.startsWith('image.') ? 2 : k.startsWith('text.') ? 0 : 1;
    assert.ok(d1.some((v) => v !== 0), `${k} did not move without lrScale`);
    d2.forEach((v, i) => assert.ok(Math.abs(v - want * (d1[i] as number)) <= 1e-6, `${k}[${i}]: step ${v}, want ${want} x ${d1[i]}`));
  }
});
