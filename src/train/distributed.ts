/**
 * Data-parallel training over c10d (src/tensor/dist.ts): the torchrun environment, the sharded
 * sampler, and what the loop asks of the other ranks (parameters from rank 0, averaged gradients,
 * the global batch for contrastive losses, every rank's RNG state for a checkpoint).
 *
 * Conventions, as torchrun/DDP: train.batchSize is per process (global batch = batchSize x
 * WORLD_SIZE); each rank runs the same loop on its own shard; rank 0 alone writes checkpoints,
 * metrics.jsonl and the progress display. Gradients are averaged in buckets after backward
 * (our own bucketing over the process group, not c10d's Reducer: see allReduceGradients).
 *
 * @example
 *   const env = torchrunEnv(process.env); // null outside a distributed launch
 *   const dp = env === null ? null : DataParallel.join(env, { backend: 'gloo' });
 */
import { Tensor, noGrad, type Device } from '../tensor/index.js';
import { allGather, allGatherWithGrad, allReduce, allReduceGradients, broadcast, destroyProcessGroup, initProcessGroup } from '../tensor/dist.js';
import type { Batch, ModelOutput } from '../models/types.js';

/** What torchrun (or srun with the same variables, or `retalign train --nproc-per-node`) sets. */
export interface TorchrunEnv {
  worldSize: number;
  rank: number;
  localRank: number;
  /** Processes on this machine (LOCAL_WORLD_SIZE; defaults to WORLD_SIZE). */
  localWorldSize: number;
  masterAddr: string;
  masterPort: number;
}

/**
 * Reads WORLD_SIZE, RANK, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT; null when
 * WORLD_SIZE is unset (a plain one-process run). Errors name the variable, its value and what was expected.
 * @example torchrunEnv({ WORLD_SIZE: '2', RANK: '1', MASTER_ADDR: '10.0.0.1', MASTER_PORT: '29500' })
 */
export function torchrunEnv(env: Record<string, string | undefined>): TorchrunEnv | null {
  if (env['WORLD_SIZE'] === undefined || env['WORLD_SIZE'] === '') return null;
  const int = (name: string, dflt: number | null, min: number, max: number): number => {
    const v = env[name];
    if (v === undefined || v === '') {
      if (dflt === null) throw new Error(`distributed: ${name} is not set (WORLD_SIZE=${env['WORLD_SIZE']} is): set it as torchrun does`);
      return dflt;
    }
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) throw new Error(`distributed: ${name}=${JSON.stringify(v)} is not an integer in [${min}, ${max}]`);
    return n;
  };
  const worldSize = int('WORLD_SIZE', null, 1, 65536);
  const rank = int('RANK', null, 0, worldSize - 1);
  const localWorldSize = int('LOCAL_WORLD_SIZE', worldSize, 1, worldSize);
  const localRank = int('LOCAL_RANK', rank, 0, localWorldSize - 1);
  const masterPort = int('MASTER_PORT', worldSize === 1 ? 29500 : null, 1, 65535);
  const masterAddr = env['MASTER_ADDR'] ?? (worldSize === 1 ? '127.0.0.1' : '');
  if (masterAddr === '') throw new Error('distributed: MASTER_ADDR is not set: the address of the rank-0 machine, as torchrun expects');
  return { worldSize, rank, localRank, localWorldSize, masterAddr, masterPort };
}

/**
 * The rank's micro-batches of one epoch (a distributed sampler): the epoch's order (the same on
 * every rank: drawn from the loop's (seed, epoch) stream) is cut into global batches of
 * localBatch x worldSize; rank r takes rows [r * localBatch, (r + 1) * localBatch) of each. So the
 * ranks' shards are disjoint, their union is the epoch, and global batch k holds the same samples in
 * the same order as a one-process run with batch localBatch x worldSize. Tail policy: drop — the
 * last n mod (localBatch x worldSize) samples of the order are not used this epoch (the order is
 * reshuffled every epoch, as the one-process source drops its own tail).
 * @example shardBatches([5, 3, 0, 1, 4, 2], 2, 2, 1) // [[0, 1]]: global batch [5, 3 | 0, 1], tail [4, 2] dropped
 */
export function shardBatches(order: readonly number[], localBatch: number, worldSize: number, rank: number): number[][] {
  if (!Number.isInteger(localBatch) || localBatch < 1) throw new Error(`shardBatches: localBatch must be an integer >= 1, got ${localBatch}`);
  if (!Number.isInteger(rank) || rank < 0 || rank >= worldSize) throw new Error(`shardBatches: rank ${rank} is not in [0, ${worldSize})`);
  const g = localBatch * worldSize;
  const out: number[][] = [];
  for (let k = 0; (k + 1) * g <= order.length; k++) out.push(order.slice(k * g + rank * localBatch, k * g + (rank + 1) * localBatch));
  return out;
}

export interface DataParallelOptions {
  backend?: 'gloo' | 'nccl';
  /** A collective that waits longer fails and names the ranks that stopped answering (default 60 s). */
  timeoutMs?: number;
  /** Gradient all-reduce bucket size (default 25 MiB, as DDP). */
  bucketBytes?: number;
  /** Rendezvous through a FileStore at this path instead of the TCPStore at MASTER_ADDR:MASTER_PORT. */
  fileStore?: string;
}

/**
 * How the TCPStore at MASTER_ADDR:MASTER_PORT is shared: torchrun's agent already hosts it there
 * (TORCHELASTIC_USE_AGENT_STORE=True), so rank 0 joins as a client; each restart of the job
 * (TORCHELASTIC_RESTART_COUNT) keys its rendezvous apart from the dead attempt's, as torch.distributed does.
 */
export function storeRole(rank: number, env: Record<string, string | undefined>): { storeServer: boolean; prefix: string } {
  return { storeServer: rank === 0 && env['TORCHELASTIC_USE_AGENT_STORE'] !== 'True', prefix: `retalign/attempt_${env['TORCHELASTIC_RESTART_COUNT'] ?? '0'}` };
}

/** This process's place in a data-parallel job, and the collectives the training loop needs. */
export class DataParallel {
  private constructor(readonly rank: number, readonly worldSize: number, readonly bucketBytes: number) {}

  /** Joins the process group of `env` (blocks until every rank arrives or the timeout passes). */
  static join(env: TorchrunEnv, o: DataParallelOptions = {}): DataParallel {
    const timeoutMs = o.timeoutMs ?? 60_000;
    initProcessGroup({
      backend: o.backend ?? 'gloo', rank: env.rank, worldSize: env.worldSize, timeoutMs,
      ...(o.fileStore !== undefined ? { store: 'file' as const, path: o.fileStore }
        : { store: 'tcp' as const, host: env.masterAddr, port: env.masterPort, ...storeRole(env.rank, process.env) }),
    });
    return new DataParallel(env.rank, env.worldSize, o.bucketBytes ?? 25 * 2 ** 20);
  }

  /** Rank 0 writes the run's files. */
  get isMain(): boolean {
    return this.rank === 0;
  }

  /** Every rank starts from rank 0's values (all parameters, one dtype group per call). */
  broadcastParameters(params: Iterable<Tensor>): void {
    const byType = new Map<string, Tensor[]>();
    for (const p of params) {
      const k = `${p.dtype}@${p.device}`;
      const list = byType.get(k);
      if (list === undefined) byType.set(k, [p]);
      else list.push(p);
    }
    for (const list of byType.values()) broadcast(list, 0);
  }

  /** Averages the gradients over ranks (bucketed; see src/tensor/dist.ts allReduceGradients). */
  syncGradients(params: readonly Tensor[]): void {
    allReduceGradients(params, this.bucketBytes);
  }

  /** The mean over ranks of each number (one all-reduce), e.g. the step's loss parts for the log. */
  meanOf(values: readonly number[]): number[] {
    if (values.length === 0) return [];
    return noGrad(() => {
      const t = Tensor.from(Float64Array.from(values), [values.length], 'float64');
      try {
        allReduce([t], 'mean');
        return Array.from(t.toArray() as Float64Array);
      } finally {
        t.dispose();
      }
    });
  }

  /** Every rank's bytes (equal lengths), in rank order: the RNG states a checkpoint keeps. */
  gatherBytes(b: Uint8Array): Uint8Array[] {
    return noGrad(() => {
      const t = Tensor.from(b, [b.length], 'uint8');
      const all = allGather(t);
      try {
        const flat = all.toArray() as Uint8Array;
        return Array.from({ length: this.worldSize }, (_, r) => flat.slice(r * b.length, (r + 1) * b.length));
      } finally {
        t.dispose();
        all.dispose();
      }
    });
  }

  /**
   * The contrastive inputs over the global batch: every embedding gathered from all ranks (with the
   * gradient to this rank's rows, so 4 ranks x 32 see 128 negatives) and the global noteGroup; the
   * other outputs and labels stay local (their losses are per-sample means, averaged with the gradients).
   * Call inside the micro-step's tidy scope.
   */
  globalContrastive(out: ModelOutput, batch: Batch): { out: ModelOutput; batch: Batch } {
    const g = (t: Tensor | null): Tensor | null => (t === null ? null : allGatherWithGrad(t));
    const groups = allGather(Tensor.from(batch.noteGroup, [batch.noteGroup.length], 'int32'));
    const noteGroup = groups.toArray() as Int32Array;
    return {
      out: { ...out, imageEmb: g(out.imageEmb), textEmb: g(out.textEmb), tabEmb: g(out.tabEmb) },
      batch: { ...batch, noteGroup },
    };
  }

  /** Leaves the group (after a barrier). */
  leave(): void {
    destroyProcessGroup();
  }
}

/** The device a rank trains on: cuda:LOCAL_RANK when the run asks for CUDA, else the CPU. */
export function rankDevice(device: Device, env: TorchrunEnv): Device {
  return device === 'cpu' ? 'cpu' : (`cuda:${env.localRank}` as Device);
}
