/**
 * AdamW (libtorch's implementation) with parameter groups, a per-step learning rate, exact state
 * save/load, and gradient-norm clipping.
 *
 * @example
 *   const opt = new AdamW([{ params: decay, weightDecay: 0.05 }, { params: noDecay, weightDecay: 0 }], { lr: 3e-4 });
 *   loss.backward(); clipGradNorm(params, 1.0); opt.setLr(lrAt(step)); opt.step(); opt.zeroGrad();
 */
import { AdamWCtor, native, type NativeAdamW, type Handle } from './native.js';
import type { Tensor } from './tensor.js';

export interface ParamGroup {
  params: Tensor[];
  /** Decoupled weight decay for this group (0 for biases, norms, embeddings of positions...). */
  weightDecay: number;
  /** Learning rate; defaults to the optimizer's lr. */
  lr?: number;
}

export interface AdamWOptions {
  lr: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
}

export class AdamW {
  private readonly impl: NativeAdamW;
  readonly groups: ParamGroup[];

  constructor(groups: ParamGroup[], o: AdamWOptions) {
    this.groups = groups;
    const seen = new Set<Tensor>();
    for (const g of groups) {
      for (const p of g.params) {
        if (seen.has(p)) throw new Error('AdamW: a parameter appears in two groups');
        seen.add(p);
        if (!p.requiresGrad) throw new Error(`AdamW: parameter ${p.toString()} does not require grad`);
      }
    }
    this.impl = new AdamWCtor(
      groups.map((g) => ({ params: g.params.map((p) => p.handle), lr: g.lr ?? o.lr, weightDecay: g.weightDecay })),
      { beta1: o.beta1 ?? 0.9, beta2: o.beta2 ?? 0.999, eps: o.eps ?? 1e-8 },
    );
  }
  step(): void {
    this.impl.step();
  }
  /** Drops all gradients (set to none). */
  zeroGrad(): void {
    this.impl.zeroGrad();
  }
  /** Sets the learning rate of every group, or of one group. */
  setLr(lr: number, group?: number): void {
    this.impl.setLr(lr, group);
  }
  getLr(group = 0): number {
    return this.impl.getLr(group);
  }
  /** Serialized state (step counts and moments) for an exact resume. */
  saveState(): Buffer {
    return this.impl.saveState();
  }
  loadState(b: Buffer): void {
    this.impl.loadState(b);
  }
}

/** Scales gradients so their global L2 norm is at most maxNorm; returns the norm before clipping. */
export function clipGradNorm(params: readonly Tensor[], maxNorm: number, normType = 2): number {
  return (native['clipGradNorm'] as (p: Handle[], m: number, n: number) => number)(params.map((p) => p.handle), maxNorm, normType);
}

/** Drops the gradients of the given tensors. */
export function zeroGrad(params: readonly Tensor[]): void {
  (native['zeroGrad'] as (p: Handle[]) => void)(params.map((p) => p.handle));
}
