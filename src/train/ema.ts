/**
 * An exponential moving average of a model's weights (Polyak averaging, as timm's ModelEma and
 * TensorFlow's ExponentialMovingAverage): after each optimizer step every trained parameter's shadow
 * moves towards it, shadow <- shadow + (1 - d) * (param - shadow), with d = min(decay, (1 + t) / (10 + t))
 * at step t (the ramp keeps the first steps' random init from dominating a short run). Buffers that
 * are not trained (BatchNorm running statistics) are copied as they are. Validation and the saved
 * checkpoints use the average; training goes on from the live weights.
 *
 * @example
 *   const ema = new WeightEma(model.namedParameters(), 0.99);
 *   opt.step(); ema.update(model.namedParameters(), step);
 *   const metrics = ema.with(model.namedParameters(), () => evaluate(model));
 */
import { noGrad, tidy, type Tensor } from '../tensor/index.js';

export class WeightEma {
  /** The averaged weights, by the model's parameter names (buffers included). */
  readonly shadow: Map<string, Tensor>;

  /** Starts the average at the model's current weights. */
  constructor(named: ReadonlyMap<string, Tensor>, readonly decay: number) {
    if (!(decay > 0 && decay < 1)) throw new Error(`WeightEma: decay must be in (0, 1), got ${decay}`);
    this.shadow = copies(named);
  }

  /** The decay applied after optimizer step `step` (1-based). */
  decayAt(step: number): number {
    return Math.min(this.decay, (1 + step) / (10 + step));
  }

  /** Moves the average towards the live weights after optimizer step `step` (1-based). */
  update(named: ReadonlyMap<string, Tensor>, step: number): void {
    const a = 1 - this.decayAt(step);
    noGrad(() => {
      for (const [k, p] of named) {
        const s = this.shadow.get(k);
        if (s === undefined) throw new Error(`WeightEma: the model has a tensor '${k}' the average does not`);
        if (!p.requiresGrad) s.copy_(p);
        else tidy(() => void s.copy_(s.add(p.sub(s).mul(a))));
      }
    });
  }

  /** Runs `fn` with the averaged weights in the model, then puts the live ones back (also when `fn` throws). */
  async with<R>(named: ReadonlyMap<string, Tensor>, fn: () => R | Promise<R>): Promise<R> {
    const live = copies(named);
    this.copyInto(named, this.shadow);
    try {
      return await fn();
    } finally {
      this.copyInto(named, live);
      for (const t of live.values()) t.dispose();
    }
  }

  /** Puts the average into the model for good (the end of training). */
  applyTo(named: ReadonlyMap<string, Tensor>): void {
    this.copyInto(named, this.shadow);
  }

  dispose(): void {
    for (const t of this.shadow.values()) t.dispose();
  }

  private copyInto(to: ReadonlyMap<string, Tensor>, from: ReadonlyMap<string, Tensor>): void {
    noGrad(() => {
      for (const [k, t] of to) {
        const f = from.get(k);
        if (f === undefined) throw new Error(`WeightEma: no '${k}' to copy from`);
        t.copy_(f);
      }
    });
  }
}

/** Detached copies of the tensors, by name. */
function copies(named: ReadonlyMap<string, Tensor>): Map<string, Tensor> {
  return noGrad(() => new Map([...named].map(([k, t]) => {
    const d = t.detach();
    const c = d.clone();
    d.dispose();
    return [k, c];
  })));
}
