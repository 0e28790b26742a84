/**
 * Collectives over PyTorch's c10d process group (native/dist.cc): one group per process, as
 * torch.distributed's default group. Gloo on CPU tensors, NCCL on CUDA where the addon was built
 * against a CUDA libtorch. Every call blocks until all ranks have joined it or the group's timeout
 * passes; a failure names the ranks that stopped answering and leaves the group unusable.
 *
 * @example
 *   initProcessGroup({ backend: 'gloo', rank, worldSize: 2, store: 'tcp', host: '127.0.0.1', port: 29500, timeoutMs: 30_000 });
 *   allReduce([t], 'mean'); // t is now the mean over both ranks
 */
import { native, type Handle } from './native.js';
import { Tensor } from './tensor.js';

export interface ProcessGroupOptions {
  backend: 'gloo' | 'nccl';
  rank: number;
  worldSize: number;
  /** Collective and rendezvous timeout. */
  timeoutMs: number;
  /** Rendezvous: a TCPStore hosted by rank 0 at host:port, or a FileStore at a path all ranks share. */
  store: 'tcp' | 'file';
  host?: string;
  port?: number;
  path?: string;
  /** Host the TCPStore here (default: rank 0); false when a launcher's agent already hosts it (torchrun). */
  storeServer?: boolean;
  /** Prefix of the keys this group writes in the store (default 'retalign'); a restarted job uses a new one. */
  prefix?: string;
}

export interface DistInfo {
  /** False when the addon was built without c10d/gloo headers. */
  available: boolean;
  nccl: boolean;
  initialized: boolean;
  rank?: number;
  worldSize?: number;
  backend?: string;
  store?: string;
}

const fn = <A extends unknown[], R>(name: string): ((...a: A) => R) => {
  const f = native[name];
  if (typeof f !== 'function') throw new Error(`retalign addon has no function '${name}': rebuild with 'node native/build.mjs'`);
  return f as (...a: A) => R;
};

/** Joins the process group (blocks until all worldSize ranks arrive or timeoutMs passes). */
export function initProcessGroup(o: ProcessGroupOptions): void {
  fn<[ProcessGroupOptions], void>('distInit')(o);
}
/** Leaves the group after a barrier (a failed group is only forgotten). */
export function destroyProcessGroup(): void {
  fn<[], void>('distDestroy')();
}
export function distInfo(): DistInfo {
  return fn<[], DistInfo>('distInfo')();
}
/** In place over all ranks: 'sum' or 'mean'. Several tensors travel as one buffer (same dtype). */
export function allReduce(ts: readonly Tensor[], op: 'sum' | 'mean' = 'sum'): void {
  fn<[Handle[], string], void>('distAllReduce')(ts.map((t) => t.handle), op);
}
/** In place: every rank receives root's values (same dtype for all tensors of one call). */
export function broadcast(ts: readonly Tensor[], root = 0): void {
  fn<[Handle[], number], void>('distBroadcast')(ts.map((t) => t.handle), root);
}
/** Every rank's x (same shape on all) concatenated along dim 0 in rank order; no gradient. */
export function allGather(x: Tensor): Tensor {
  return new Tensor(fn<[Handle], Handle>('distAllGather')(x.handle));
}
/**
 * As allGather, differentiable: the backward sums the gathered gradient over ranks and keeps this
 * rank's rows (OpenCLIP's gather_with_grad), so a loss that every rank computes on the global batch
 * trains each rank's own rows with the whole gradient.
 */
export function allGatherWithGrad(x: Tensor): Tensor {
  return new Tensor(fn<[Handle], Handle>('distAllGatherWithGrad')(x.handle));
}
export function barrier(): void {
  fn<[], void>('distBarrier')();
}
/**
 * Averages the parameters' gradients over ranks in buckets of at most bucketBytes (one all-reduce
 * each). A gradient missing on some ranks reduces as zeros; all ranks end with the same gradients.
 */
export function allReduceGradients(params: readonly Tensor[], bucketBytes = 25 * 2 ** 20): void {
  fn<[Handle[], number], void>('distAllReduceGradients')(params.map((p) => p.handle), bucketBytes);
}
