// One rank of the data-parallel tests (not a test file): trains the tiny model with the global-batch
// contrastive loss on its shard of the epoch and writes its final parameters to
// <out>/params-rank<R>.bin. Under WORLD_SIZE/RANK/MASTER_* (set by dist.test.ts as torchrun would)
// it joins the group; without them it is the one-process reference. argv[2] is a JSON WorkerArgs.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Objective } from '../../src/losses/index.js';
import { train } from '../../src/train/index.js';
import { DataParallel, shardBatches, torchrunEnv } from '../../src/train/distributed.js';
import type { BatchSource } from '../../src/train/index.js';
import type { Rng } from '../../src/data/rng.js';
import { TinyModel, collate, makeSamples } from './tiny-model.js';

export interface WorkerArgs {
  out: string;
  /** Per-process batch. */
  batch: number;
  steps: number;
  samples: number;
  checkpointEvery: number;
  resume: boolean;
  /** This rank SIGKILLs itself right after this step (the crash test). */
  killRank?: number;
  killAfterStep?: number;
  timeoutMs: number;
  /** Rendezvous through a FileStore at this path instead of the TCPStore at MASTER_ADDR:MASTER_PORT. */
  fileStore?: string;
}

const a = JSON.parse(process.argv[2] as string) as WorkerArgs;
const env = torchrunEnv(process.env);
const dp = env === null ? undefined : DataParallel.join(env, { timeoutMs: a.timeoutMs, ...(a.fileStore !== undefined ? { fileStore: a.fileStore } : {}) });
const world = env?.worldSize ?? 1;
const rank = env?.rank ?? 0;

const samples = makeSamples(a.samples, 3);
const source: BatchSource = {
  batchesPerEpoch: Math.floor(samples.length / (a.batch * world)),
  *batchesForEpoch(_epoch: number, rng: Rng, from: number) {
    const order = rng.shuffle(samples.map((_, i) => i));
    const mine = shardBatches(order, a.batch, world, rank);
    for (let k = from; k < mine.length; k++) yield collate((mine[k] as number[]).map((i) => samples[i]!));
  },
};
const model = new TinyModel(rank === 0 ? 5 : 99); // other ranks start elsewhere: the broadcast must fix it
model.dropoutP = 0;
// The global-batch contrastive losses plus per-sample grade losses (averaged over ranks).
const objective = new Objective({ weights: { imageText: 1, imageTabular: 1, textTabular: 1, mae: 0, mlm: 0, icdr: 1, sdrg: 0.5 } });
try {
  await train({
    model, objective, trainBatches: source, out: a.out, resume: a.resume, dist: dp,
    config: { lr: 1e-2, epochs: 100, maxSteps: a.steps, warmupSteps: 2, weightDecay: 0.01, clipGradNorm: 1, progress: 'off', logEvery: 1,
      checkpointEvery: a.checkpointEvery, evalEvery: 0, seed: 11 },
    hooks: {
      onStep: (s) => {
        if (a.killRank === rank && a.killAfterStep === s.step) process.kill(process.pid, 'SIGKILL');
      },
    },
  });
  const snap = model.snapshot();
  const flat = new Float32Array([...snap.values()].reduce((n, v) => n + v.length, 0));
  let off = 0;
  for (const v of snap.values()) {
    flat.set(v, off);
    off += v.length;
  }
  writeFileSync(join(a.out, `params-rank${rank}.bin`), flat);
  dp?.leave();
} catch (e) {
  process.stderr.write(`rank ${rank}: ${(e as Error).message}\n`);
  process.exit(1);
}
