/**
 * Learning-rate schedule: linear warmup then cosine decay to lr * minLrRatio, as a pure function
 * of the optimizer step (nanoGPT's get_lr). Steps count from 0.
 *
 * @example
 *   lrAt(0,   { lr: 1e-3, warmupSteps: 10, totalSteps: 110, minLrRatio: 0.1 }) // 1e-4 (warmup 1/10)
 *   lrAt(60,  { lr: 1e-3, warmupSteps: 10, totalSteps: 110, minLrRatio: 0.1 }) // 5.5e-4 (half-way down)
 *   lrAt(110, { lr: 1e-3, warmupSteps: 10, totalSteps: 110, minLrRatio: 0.1 }) // 1e-4 (floor)
 */

export interface ScheduleOptions {
  /** Peak learning rate (reached at the end of warmup). */
  lr: number;
  /** Steps of linear warmup; step s < warmupSteps gets lr * (s + 1) / warmupSteps. */
  warmupSteps: number;
  /** Steps of the whole run; the cosine reaches its floor here and stays there. */
  totalSteps: number;
  /** Floor as a fraction of lr, in [0, 1]. */
  minLrRatio: number;
}

/** Learning rate at optimizer step `step` (0-based). */
export function lrAt(step: number, o: ScheduleOptions): number {
  if (!Number.isInteger(step) || step < 0) throw new Error(`lrAt: step must be an integer >= 0, got ${step}`);
  if (!(o.lr >= 0) || !Number.isFinite(o.lr)) throw new Error(`lrAt: lr must be a finite number >= 0, got ${o.lr}`);
  if (!Number.isInteger(o.warmupSteps) || o.warmupSteps < 0) throw new Error(`lrAt: warmupSteps must be an integer >= 0, got ${o.warmupSteps}`);
  if (!Number.isInteger(o.totalSteps) || o.totalSteps < 1) throw new Error(`lrAt: totalSteps must be an integer >= 1, got ${o.totalSteps}`);
  if (!(o.minLrRatio >= 0 && o.minLrRatio <= 1)) throw new Error(`lrAt: minLrRatio must be in [0, 1], got ${o.minLrRatio}`);
  if (step < o.warmupSteps) return (o.lr * (step + 1)) / o.warmupSteps;
  const minLr = o.lr * o.minLrRatio;
  const span = o.totalSteps - o.warmupSteps;
  if (span <= 0 || step >= o.totalSteps) return minLr;
  const progress = (step - o.warmupSteps) / span; // [0, 1)
  return minLr + 0.5 * (1 + Math.cos(Math.PI * progress)) * (o.lr - minLr);
}
