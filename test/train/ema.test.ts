// The moving average of the weights (train.ema): the update rule against numbers worked by hand,
// the loop's average against a replay of the live weights, validation and checkpoints on the average,
// the live weights saved beside it, and a crash + resume bit for bit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tensor } from '../../src/tensor/index.js';
import { Objective } from '../../src/losses/index.js';
import { train, readCheckpoint, type TrainConfigInput } from '../../src/train/index.js';
import { readCheckpointModel } from '../../src/run/checkpoint.js';
import { WeightEma } from '../../src/train/ema.js';
import { TinyModel, ArraySource, makeSamples } from './tiny-model.js';

const tmp = (): string => mkdtempSync(join(tmpdir(), 'retalign-ema-'));

function assertClose(a: ArrayLike<number>, b: ArrayLike<number>, tol: number, what: string): void {
  assert.equal(a.length, b.length, `${what}: length`);
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs((a[i] as number) - (b[i] as number)) <= tol, `${what}[${i}]: ${a[i]} vs ${b[i]}`);
}

test('WeightEma: the update rule with its ramp, buffers copied, with() restores the live weights', async () => {
  const w = Tensor.from([1, 2], [2]).requireGrad();
  const buf = Tensor.from([5], [1]);
  const named = new Map([['w', w], ['buf', buf]]);
  const ema = new WeightEma(named, 0.9);
  assert.equal(ema.decayAt(1), 2 / 11); // the ramp: (1 + t) / (10 + t) below the decay
  assert.equal(ema.decayAt(1000), 0.9);
  named.get('w')!.detach().copy_(Tensor.from([3, 6], [2]));
  buf.copy_(Tensor.from([7], [1]));
  ema.update(named, 1); // shadow = 1..2 + (1 - 2/11) * ([3, 6] - [1, 2])
  const a = 1 - 2 / 11;
  assertClose(ema.shadow.get('w')!.toArray() as Float32Array, [1 + a * 2, 2 + a * 4], 1e-6, 'after step 1');
  assert.deepEqual([...ema.shadow.get('buf')!.toArray()], [7]); // not trained: copied
  named.get('w')!.detach().copy_(Tensor.from([0, 0], [2]));
  ema.update(named, 100); // decay 0.9 now
  assertClose(ema.shadow.get('w')!.toArray() as Float32Array, [0.9 * (1 + a * 2), 0.9 * (2 + a * 4)], 1e-6, 'after step 100');
  const seen = await ema.with(named, () => [...(w.toArray() as Float32Array)]);
  assertClose(seen, ema.shadow.get('w')!.toArray() as Float32Array, 0, 'inside with()');
  assert.deepEqual([...(w.toArray() as Float32Array)], [0, 0]); // the live weights are back
  await assert.rejects(ema.with(named, () => { throw new Error('boom'); }), /boom/);
  assert.deepEqual([...(w.toArray() as Float32Array)], [0, 0]);
  assert.throws(() => new WeightEma(named, 1), /decay must be in \(0, 1\)/);
  ema.dispose();
});

const cfg: TrainConfigInput = { progress: 'off', logEvery: 1, weightDecay: 0.01, clipGradNorm: 1, seed: 2, epochs: 3, lr: 1e-2,
  maeMaskRatio: 0.5, mlmProb: 0.3, ema: 0.8, evalEvery: 2, checkpointEvery: 1, earlyStop: { metric: 'score', mode: 'max', patience: 0 } };

test('train.ema: validation and weights.safetensors hold the average of the live steps; the live weights are saved beside it', async () => {
  const samples = makeSamples(12, 3);
  const model = new TinyModel(5);
  const init = model.snapshot();
  const live: Map<string, Float32Array>[] = [];
  const validated: Map<string, Float32Array>[] = [];
  const out = tmp();
  const r = await train({
    model, objective: new Objective(), trainBatches: new ArraySource(samples, 4), config: cfg, out,
    valEval: ({ step }) => { validated.push(model.snapshot()); return { score: step === 2 ? 1 : 0 }; },
    hooks: { onStep: () => { live.push(model.snapshot()); } },
  });
  assert.equal(r.step, 9);
  // Replay the rule on the live weights seen after each step.
  const expected: Map<string, Float32Array>[] = [];
  let s = new Map([...init].map(([k, v]) => [k, Float64Array.from(v)]));
  live.forEach((w, i) => {
    const a = 1 - Math.min(0.8, (2 + i) / (11 + i));
    s = new Map([...s].map(([k, v]) => [k, v.map((x, j) => x + a * ((w.get(k) as Float32Array)[j] as number - x))]));
    expected.push(new Map([...s].map(([k, v]) => [k, Float32Array.from(v)])));
  });
  for (const [k, v] of expected[1]!) assertClose(validated[0]!.get(k)!, v, 1e-5, `validated at step 2: ${k}`);
  const last = readCheckpoint(join(out, 'last'));
  for (const [k, v] of expected[8]!) {
    assertClose(last.weights.get(k)!.data as Float32Array, v, 1e-5, `last/weights ${k}`);
    assert.deepEqual(last.trainWeights!.get(k)!.data, live[8]!.get(k), `last/train-weights ${k}`);
    assert.deepEqual(model.snapshot().get(k), last.weights.get(k)!.data, `the model after train() holds the average: ${k}`);
  }
  // The average differs from the live weights (else this test could not tell them apart).
  assert.ok([...expected[8]!].some(([k, v]) => v.some((x, j) => Math.abs(x - (live[8]!.get(k) as Float32Array)[j]!) > 1e-4)));
  const best = readCheckpointModel(join(out, 'best'));
  assert.equal(best.state.step, 2);
  for (const [k, v] of expected[1]!) assertClose(best.weights.get(k)!.data as Float32Array, v, 1e-5, `best/weights ${k}`);
  rmSync(out, { recursive: true, force: true });
});

test('train.ema: crash + resume gives the same average and live weights bit for bit; off writes no train-weights', async () => {
  const samples = makeSamples(10, 4);
  const objective = new Objective();
  const valEval = (): Record<string, number> => ({ score: 0 });
  const outA = tmp();
  const a = new TinyModel(7);
  await train({ model: a, objective, trainBatches: new ArraySource(samples, 2), config: cfg, out: outA, valEval });
  const outB = tmp();
  await assert.rejects(train({ model: new TinyModel(7), objective, trainBatches: new ArraySource(samples, 2), config: cfg, out: outB, valEval,
    hooks: { onStep: (i) => { if (i.step === 7) throw new Error('simulated crash'); } } }), /simulated crash/);
  const b = new TinyModel(99);
  await train({ model: b, objective, trainBatches: new ArraySource(samples, 2), config: cfg, out: outB, valEval, resume: true });
  const ca = readCheckpoint(join(outA, 'last'));
  const cb = readCheckpoint(join(outB, 'last'));
  for (const [k, v] of ca.weights) {
    assert.deepEqual(cb.weights.get(k)!.data, v.data, `average ${k}`);
    assert.deepEqual(cb.trainWeights!.get(k)!.data, ca.trainWeights!.get(k)!.data, `live ${k}`);
  }
  assert.deepEqual(b.snapshot(), a.snapshot());
  const outC = tmp();
  await train({ model: new TinyModel(7), objective, trainBatches: new ArraySource(samples, 2), config: { ...cfg, ema: 0 }, out: outC });
  assert.equal(existsSync(join(outC, 'last', 'train-weights.safetensors')), false);
  for (const o of [outA, outB, outC]) rmSync(o, { recursive: true, force: true });
});
