/**
 * AdamW parameter groups: decoupled weight decay on matrices only. Which parameters decay is the
 * model's call (TrainableModel.decays: biases, norms, position embeddings and scales do not);
 * parameters that do not require grad (frozen) are left out of the optimizer.
 *
 * @example
 *   const g = paramGroups(model, 0.05);
 *   const opt = new AdamW(g.groups, { lr: 3e-4 });   // g.decay / g.noDecay list the names
 */
import type { ParamGroup, Tensor } from '../tensor/index.js';
import type { TrainableModel } from '../models/types.js';

export interface ParamGrouping {
  /** Non-empty groups only: [decay (weightDecay), no-decay (0)]. */
  groups: ParamGroup[];
  /** Names in each group, in namedParameters order. */
  decay: string[];
  noDecay: string[];
  /** Parameters that do not require grad (not optimized). */
  frozen: string[];
  /** Every optimized parameter, in namedParameters order. */
  params: Tensor[];
}

/** Splits a model's parameters into decay / no-decay groups. */
export function paramGroups(model: TrainableModel, weightDecay: number): ParamGrouping {
  if (!(weightDecay >= 0) || !Number.isFinite(weightDecay)) throw new Error(`paramGroups: weightDecay must be a finite number >= 0, got ${weightDecay}`);
  const decayT: Tensor[] = [];
  const noDecayT: Tensor[] = [];
  const out: ParamGrouping = { groups: [], decay: [], noDecay: [], frozen: [], params: [] };
  for (const [name, p] of model.namedParameters()) {
    if (!p.requiresGrad) {
      out.frozen.push(name);
      continue;
    }
    out.params.push(p);
    if (model.decays(name, p)) {
      decayT.push(p);
      out.decay.push(name);
    } else {
      noDecayT.push(p);
      out.noDecay.push(name);
    }
  }
  if (out.params.length === 0) throw new Error(`paramGroups: model '${model.name}' has no parameter that requires grad`);
  if (decayT.length > 0) out.groups.push({ params: decayT, weightDecay });
  if (noDecayT.length > 0) out.groups.push({ params: noDecayT, weightDecay: 0 });
  return out;
}
