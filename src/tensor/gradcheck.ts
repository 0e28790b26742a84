/**
 * Finite-difference gradient check in float64 (like torch.autograd.gradcheck).
 *
 * @example
 *   const r = gradcheck((x) => x.tanh().sum(), [Tensor.randn([3], 'float64')]);
 *   assert.ok(r.maxAbsErr < 1e-6);
 */
import { Tensor } from './tensor.js';
import { tidy, noGrad } from './scope.js';

export interface GradcheckResult {
  /** Largest |analytic - numeric| over all inputs and elements. */
  maxAbsErr: number;
  /** Largest relative error (|a - n| / max(1, |n|)). */
  maxRelErr: number;
}

/**
 * Compares autograd gradients of the scalar `f(...inputs)` with central differences.
 * Inputs must be float64; they are cloned, so callers keep theirs.
 */
export function gradcheck(f: (...xs: Tensor[]) => Tensor, inputs: Tensor[], eps = 1e-6): GradcheckResult {
  for (const x of inputs) {
    if (x.dtype !== 'float64') throw new Error(`gradcheck: inputs must be float64, got ${x.dtype}`);
  }
  const leaves = inputs.map((x) => x.detach().clone().requireGrad());
  const analytic = tidy(() => {
    const y = f(...leaves);
    if (y.numel !== 1) throw new Error(`gradcheck: f must return a scalar, got shape [${y.shape.join(', ')}]`);
    y.backward();
    return leaves.map((l) => {
      const g = l.grad;
      return g ? Array.from(g.toArray() as Float64Array) : new Array<number>(l.numel).fill(0);
    });
  });
  let maxAbsErr = 0;
  let maxRelErr = 0;
  noGrad(() => {
    leaves.forEach((leaf, i) => {
      const base = leaf.toArray() as Float64Array;
      const shape = leaf.shape;
      for (let j = 0; j < base.length; j++) {
        const evalAt = (delta: number): number =>
          tidy(() => {
            const v = Float64Array.from(base);
            v[j] = (v[j] as number) + delta;
            const xs = leaves.map((l, k) => (k === i ? Tensor.from(v, shape, 'float64') : l));
            return f(...xs).item();
          });
        const numeric = (evalAt(eps) - evalAt(-eps)) / (2 * eps);
        const a = (analytic[i] as number[])[j] as number;
        const err = Math.abs(a - numeric);
        maxAbsErr = Math.max(maxAbsErr, err);
        maxRelErr = Math.max(maxRelErr, err / Math.max(1, Math.abs(numeric)));
      }
    });
  });
  for (const l of leaves) l.dispose();
  return { maxAbsErr, maxRelErr };
}
