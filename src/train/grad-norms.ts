/**
 * Gradients by top-level module (the first segment of the parameter name: image, text, tabular,
 * fusion, each head...): their norms for the training log, and clipping each module on its own
 * (train.clipScope 'module').
 *
 * @example
 *   moduleGradNorms(model.namedParameters())       // { image: 0.9, text: 4.2, ... }
 *   clipGradNormByModule(model.namedParameters(), 1) // each module's gradient norm at most 1
 */
import { clipGradNorm, tidy, type Tensor } from '../tensor/index.js';
import { topModule } from './param-groups.js';

/**
 * Global gradient L2 norm per top-level module (the first segment of the parameter name: image,
 * text, tabular, fusion, heads...), so a log shows which tower the loss actually teaches.
 */
export function moduleGradNorms(named: ReadonlyMap<string, Tensor>): Record<string, number> {
  return tidy(() => {
    const out: Record<string, number> = {};
    for (const [key, params] of moduleGroups(named)) {
      let sq: Tensor | null = null; // 0-d sum of squared gradients, on the gradients' device
      for (const p of params) {
        const g = p.grad;
        if (g === null) continue;
        const s = g.pow(2).sum();
        sq = sq === null ? s : sq.add(s);
      }
      if (sq !== null) out[key] = Math.sqrt(sq.item()); // one read per module
    }
    return out;
  });
}

/** Parameters by top-level module: the first segment of the name (image, text, fusion, a head...). */
function moduleGroups(named: ReadonlyMap<string, Tensor>): Map<string, Tensor[]> {
  const groups = new Map<string, Tensor[]>();
  for (const [name, p] of named) {
    const key = topModule(name);
    const g = groups.get(key);
    if (g === undefined) groups.set(key, [p]);
    else g.push(p);
  }
  return groups;
}

/**
 * Clips the gradients of each top-level module (the first segment of the parameter name) to
 * `maxNorm` on its own; returns the norm of all gradients before clipping.
 * @example clipGradNormByModule(model.namedParameters(), 1) // image.* and text.* each at most 1
 */
export function clipGradNormByModule(named: ReadonlyMap<string, Tensor>, maxNorm: number): number {
  let sq = 0;
  for (const params of moduleGroups(named).values()) sq += clipGradNorm(params, maxNorm) ** 2;
  return Math.sqrt(sq);
}
