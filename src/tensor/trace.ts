/**
 * The op recorder: runs a function with every addon op of the Tensor API recorded (name,
 * arguments, results with their shapes and dtypes), so that an exporter can rewrite a forward pass
 * as a graph (src/export/onnx-graph.ts) instead of hand-building one per model: a new model, or a
 * new layer built from existing ops, exports for free.
 *
 * While `traceOps` runs, the entries of the op tables (TENSOR_OPS, FUNCTIONAL_OPS) are wrapped; they
 * are put back when it returns, so ops outside a trace run exactly the code they always ran (the
 * training hot path pays nothing). Values are identified by their addon handles: each op result
 * gets an id; a tensor that existed before the trace may enter only as a named input or a named
 * constant (the model's parameters); anything else is refused, naming the op that used it.
 * A forward pass that reads a traced value back into JavaScript (item, toArray) would bake one
 * input's answer into the graph, so that is refused too.
 *
 * @example
 *   const t = traceOps({ image: x }, model.namedParameters(), () => ({ probs: model.grade(b).icdr }));
 *   t.calls[0] // { op: 'conv2d', args: [{ value: 0 }, { value: 5 }, undefined, [2, 2], [1, 1]], outputs: [7] }
 */
import type { Handle } from './native.js';
import { FUNCTIONAL_OPS } from './functional.js';
import { TENSOR_OPS, type DType, type Tensor, type TypedArray } from './tensor.js';

/** One recorded value: an input, a named constant, or an op's result. */
export interface TracedValue {
  id: number;
  shape: number[];
  dtype: DType;
  kind: 'input' | 'constant' | 'op';
  /** The input's or constant's name ('' for op results). */
  name: string;
  /** Whether it depends on a traced input (else it is a constant the exporter may fold). */
  fromInput: boolean;
}

/** An argument of a recorded op: a value, a list of values, or a plain JS value (number, array, string, null). */
export type TraceArg = { value: number } | { values: number[] } | unknown;

export interface TracedCall {
  /** The addon function's name ('add', 'linear', 'conv2d', ...). */
  op: string;
  args: TraceArg[];
  /** Result value ids (one for most ops; topk/sort/max-with-dim/split return several). */
  outputs: number[];
}

export interface Trace {
  values: Map<number, TracedValue>;
  calls: TracedCall[];
  inputs: { name: string; id: number }[];
  outputs: { name: string; id: number }[];
  /** The data of every value that depends on no input (named constants and what is computed from them only), by id. */
  data: Map<number, TypedArray>;
}

/** Ops that read or describe a tensor without making a new value: passed through, not recorded. */
const PASS = new Set(['shape', 'dtype', 'device', 'requiresGrad', 'isDisposed', 'dispose', 'hasGrad', 'liveCount', 'cpuAllocator']);
/** Ops that read values back into JS: refused on input-dependent values. */
const READ = new Set(['toArray', 'item']);
/** Ops that change a tensor in place or run autograd: a graph cannot hold them, so a trace refuses them. */
const REFUSE = new Set(['copyInto', 'normalInit', 'uniformInit', 'fillInit', 'backward']);
/** Ops that draw at random: never folded into a constant (the exporter refuses them where an output needs them). */
const RANDOM = new Set(['rand', 'randn', 'randperm', 'dropout']);

let active = false;

/** True while a trace runs (nested traces are refused). */
export function isTracing(): boolean {
  return active;
}

/**
 * Runs `fn` with its ops recorded. `inputs` are the graph inputs (by name), `constants` the tensors
 * that may enter as stored weights (by name, e.g. model.namedParameters()); `fn` returns the named
 * outputs. The outputs' tensors are left to the caller (dispose them or return them from a tidy).
 */
export function traceOps(
  inputs: Readonly<Record<string, Tensor>>,
  constants: Iterable<[string, Tensor]>,
  fn: () => Record<string, Tensor>,
): Trace {
  if (active) throw new Error('traceOps: a trace is already running (traces do not nest)');
  const shapeOf = TENSOR_OPS['shape'] as (h: Handle) => number[];
  const dtypeOf = TENSOR_OPS['dtype'] as (h: Handle) => DType;
  const toArray = TENSOR_OPS['toArray'] as (h: Handle) => TypedArray;
  const ids = new Map<Handle, number>();
  const values = new Map<number, TracedValue>();
  const data = new Map<number, TypedArray>();
  const calls: TracedCall[] = [];
  const named = new Map<Handle, string>();
  for (const [name, t] of constants) named.set(t.handle, name);

  const add = (h: Handle, kind: TracedValue['kind'], name: string, fromInput: boolean): number => {
    const id = values.size;
    ids.set(h, id);
    values.set(id, { id, shape: shapeOf(h), dtype: dtypeOf(h), kind, name, fromInput });
    return id;
  };
  const inputIds = Object.entries(inputs).map(([name, t]) => ({ name, id: add(t.handle, 'input', name, true) }));
  const isHandle = (a: unknown): a is Handle => typeof a === 'object' && a !== null && !Array.isArray(a) && !ArrayBuffer.isView(a);
  const valueOf = (op: string, h: Handle): number => {
    const known = ids.get(h);
    if (known !== undefined) return known;
    const name = named.get(h);
    if (name === undefined) {
      throw new Error(`traceOps: op '${op}' used a tensor of shape [${shapeOf(h).join(', ')}] that is neither a traced input, ` +
        `a named constant (a parameter) nor the result of a recorded op; an addon function called outside the op tables ` +
        `(TENSOR_OPS, FUNCTIONAL_OPS) cannot be exported`);
    }
    const id = add(h, 'constant', name, false);
    data.set(id, toArray(h));
    return id;
  };

  const tables = [TENSOR_OPS, FUNCTIONAL_OPS];
  const saved = tables.map((t) => ({ ...t }));
  const wrap = (name: string, orig: (...a: unknown[]) => unknown) => (...args: unknown[]): unknown => {
    if (PASS.has(name)) return orig(...args);
    if (REFUSE.has(name)) throw new Error(`traceOps: op '${name}' (in place, or autograd) ran during the trace; an exported graph cannot hold it`);
    if (READ.has(name)) {
      const h = args[0] as Handle;
      const id = ids.get(h);
      if (id !== undefined && values.get(id)?.fromInput) {
        throw new Error(`traceOps: the traced function read a value computed from its inputs back into JavaScript ('${name}' of a ` +
          `[${(values.get(id) as TracedValue).shape.join(', ')}] tensor): its answer would be baked into the graph`);
      }
      return orig(...args);
    }
    let fromInput = false;
    const rec = args.map((a): TraceArg => {
      if (isHandle(a)) {
        const id = valueOf(name, a);
        fromInput ||= (values.get(id) as TracedValue).fromInput;
        return { value: id };
      }
      if (Array.isArray(a) && a.length > 0 && a.every(isHandle)) {
        const vs = a.map((x) => valueOf(name, x as Handle));
        fromInput ||= vs.some((v) => (values.get(v) as TracedValue).fromInput);
        return { values: vs };
      }
      return ArrayBuffer.isView(a) ? a : Array.isArray(a) ? [...a] : a;
    });
    const out = orig(...args);
    if (typeof out !== 'object' || out === null) return out; // a flag or a number (setRequiresGrad, requiresGrad): no value
    const outs = (Array.isArray(out) ? out : [out]) as Handle[];
    const outIds = outs.map((h) => add(h, 'op', '', fromInput));
    // A result that no input reaches (a weight's slice, a mask made from the shapes) is read now and
    // becomes a constant of the graph: the op itself need not be exportable.
    if (!fromInput && !RANDOM.has(name)) outIds.forEach((id, i) => data.set(id, toArray(outs[i] as Handle)));
    calls.push({ op: name, args: rec, outputs: outIds });
    return out;
  };

  active = true;
  let result: Record<string, Tensor>;
  try {
    for (const t of tables) for (const [k, v] of Object.entries(t)) t[k] = wrap(k, v);
    result = fn();
  } finally {
    tables.forEach((t, i) => Object.assign(t, saved[i]));
    active = false;
  }
  const outputs = Object.entries(result).map(([name, t]) => {
    const known = ids.get(t.handle);
    const id = known !== undefined ? known : named.has(t.handle) ? valueOf('output', t.handle) : undefined;
    if (id === undefined) throw new Error(`traceOps: output '${name}' was not computed by the traced ops`);
    return { name, id };
  });
  return { values, calls, inputs: inputIds, outputs, data };
}
