/**
 * Key renaming from another library's state-dict names into ours: ordered regex rules, a list
 * of known keys to drop (poolers, classifier heads, buffers), and an error naming every key that
 * no rule covers.
 *
 * @example
 *   renameKeys(sd, [[/^norm\.(weight|bias)$/, 'norm.$1']], [/^head\./], 'timm ViT') // { tensors, ignored }
 */
import type { RawTensor } from '../../tensor/io/raw.js';

export type Rule = readonly [RegExp, string];

export interface Renamed {
  /** Tensors under our names. */
  tensors: Map<string, RawTensor>;
  /** Source keys dropped on purpose (poolers, heads, buffers), for the log. */
  ignored: string[];
}

/** Applies the first matching rule to each key; keys matching `ignore` are dropped; others are errors. */
export function renameKeys(sd: ReadonlyMap<string, RawTensor>, rules: readonly Rule[], ignore: readonly RegExp[], what: string): Renamed {
  const tensors = new Map<string, RawTensor>();
  const ignored: string[] = [];
  const unknown: string[] = [];
  for (const [key, t] of sd) {
    const rule = rules.find(([re]) => re.test(key));
    if (rule !== undefined) {
      const name = key.replace(rule[0], rule[1]);
      if (tensors.has(name)) throw new Error(`${what}: two source keys map to '${name}' (the second is '${key}')`);
      tensors.set(name, t);
    } else if (ignore.some((re) => re.test(key))) {
      ignored.push(key);
    } else {
      unknown.push(key);
    }
  }
  if (unknown.length > 0) {
    const shown = unknown.slice(0, 12).join(', ') + (unknown.length > 12 ? `, ... (${unknown.length - 12} more)` : '');
    throw new Error(`${what}: ${unknown.length} unrecognized key${unknown.length > 1 ? 's' : ''}: ${shown}`);
  }
  return { tensors, ignored };
}

/** Strips `prefix` from every key that has it (e.g. 'bert.' or 'vit.'). */
export function stripPrefix(sd: ReadonlyMap<string, RawTensor>, prefix: string): Map<string, RawTensor> {
  const out = new Map<string, RawTensor>();
  for (const [k, v] of sd) out.set(k.startsWith(prefix) ? k.slice(prefix.length) : k, v);
  return out;
}

/** Rows [start, start + count) of a row-major tensor along dim 0 (a view of its data). */
export function rows(t: RawTensor, start: number, count: number): RawTensor {
  const rowSize = t.shape.slice(1).reduce((a, b) => a * b, 1);
  return { dtype: t.dtype, shape: [count, ...t.shape.slice(1)], data: t.data.subarray(start * rowSize, (start + count) * rowSize) };
}
