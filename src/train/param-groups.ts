/**
 * AdamW parameter groups: decoupled weight decay on matrices only, and an optional learning-rate
 * multiplier per top-level module (train.lrScale). Which parameters decay is the model's call
 * (TrainableModel.decays: biases, norms, position embeddings and scales do not); parameters that do
 * not require grad (frozen) are left out of the optimizer.
 *
 * @example
 *   const g = paramGroups(model, 0.05, { image: 2 });
 *   const opt = new AdamW(g.groups, { lr: 3e-4 });   // g.decay / g.noDecay list the names
 *   g.lrScales.forEach((k, i) => opt.setLr(3e-4 * k, i)); // the image tower's groups at 6e-4
 */
import type { ParamGroup, Tensor } from '../tensor/index.js';
import type { TrainableModel } from '../models/types.js';

export interface ParamGrouping {
  /**
   * Non-empty groups only: decay (weightDecay) then no-decay (0), once per learning-rate multiplier
   * in the order the multipliers first appear among the parameters (a single pair without lrScale).
   */
  groups: ParamGroup[];
  /** Each group's learning-rate multiplier (groups[i] trains at lr * lrScales[i]). */
  lrScales: number[];
  /** Names in each decay class, in namedParameters order. */
  decay: string[];
  noDecay: string[];
  /** Parameters that do not require grad (not optimized). */
  frozen: string[];
  /** Every optimized parameter, in namedParameters order. */
  params: Tensor[];
}

/** A parameter's top-level module: the first segment of its name (image, text, fusion, a head...). */
export const topModule = (name: string): string => name.split('.')[0] as string;

/**
 * Splits a model's parameters into decay / no-decay groups, and those by learning-rate multiplier
 * (`lrScale`: top-level module -> multiplier; a module not named keeps 1). A name the model does not
 * have is an error that lists the ones it has.
 */
export function paramGroups(model: TrainableModel, weightDecay: number, lrScale: Readonly<Record<string, number>> = {}): ParamGrouping {
  if (!(weightDecay >= 0) || !Number.isFinite(weightDecay)) throw new Error(`paramGroups: weightDecay must be a finite number >= 0, got ${weightDecay}`);
  const named = model.namedParameters();
  const modules = [...new Set([...named.keys()].map(topModule))];
  for (const [k, v] of Object.entries(lrScale)) {
    if (!modules.includes(k)) throw new Error(`train.lrScale: model '${model.name}' has no module '${k}'; its modules: ${modules.join(', ')}`);
    if (!(v >= 0) || !Number.isFinite(v)) throw new Error(`train.lrScale.${k} must be a finite number >= 0, got ${v}`);
  }
  const byScale = new Map<number, { decay: Tensor[]; noDecay: Tensor[] }>();
  const out: ParamGrouping = { groups: [], lrScales: [], decay: [], noDecay: [], frozen: [], params: [] };
  for (const [name, p] of named) {
    if (!p.requiresGrad) {
      out.frozen.push(name);
      continue;
    }
    out.params.push(p);
    const scale = lrScale[topModule(name)] ?? 1;
    let g = byScale.get(scale);
    if (g === undefined) byScale.set(scale, (g = { decay: [], noDecay: [] }));
    if (model.decays(name, p)) {
      g.decay.push(p);
      out.decay.push(name);
    } else {
      g.noDecay.push(p);
      out.noDecay.push(name);
    }
  }
  if (out.params.length === 0) throw new Error(`paramGroups: model '${model.name}' has no parameter that requires grad`);
  for (const [scale, g] of byScale) {
    for (const group of [{ params: g.decay, weightDecay }, { params: g.noDecay, weightDecay: 0 }]) {
      if (group.params.length === 0) continue;
      out.groups.push(group);
      out.lrScales.push(scale);
    }
  }
  return out;
}
