/**
 * A recorded forward pass (tensor/trace.ts) -> an ONNX graph (opset 17), op by op. Only what the
 * named outputs depend on is written; values that do not depend on an input (weights, masks made
 * from the shapes, position ids) were read at record time and become initializers. Shapes are the
 * traced ones: the graph is for the traced batch size.
 *
 * Each addon op maps to one or a few ONNX ops (GELU to its erf formula, GroupNorm to reductions,
 * since opset 17 has neither); an op with no mapping here, or one that cannot be exported (dropout
 * in training mode, random draws), is refused with its name and where it sits in the trace.
 *
 * @example
 *   const graph = traceToGraph(traceOps({ image }, model.namedParameters(), () => ({ emb: model.encodeImage(image) })), 'retalign');
 */
import type { DType, Trace, TracedCall, TracedValue, TypedArray } from '../tensor/index.js';
import { ATTR, ONNX_DTYPE, type AttributeMsg, type GraphMsg, type NodeMsg, type TensorMsg, type ValueInfoMsg } from './onnx-proto.js';

export const OPSET = 17;

/** An op the exporter cannot write, named. */
export class UnsupportedOpError extends Error {
  constructor(readonly op: string, detail: string) {
    super(`ONNX export: op '${op}' ${detail}`);
    this.name = 'UnsupportedOpError';
  }
}

const UNARY: Readonly<Record<string, string>> = {
  neg: 'Neg', exp: 'Exp', log: 'Log', sqrt: 'Sqrt', abs: 'Abs', tanh: 'Tanh', erf: 'Erf', sigmoid: 'Sigmoid', relu: 'Relu',
  sin: 'Sin', cos: 'Cos', logicalNot: 'Not', contiguous: 'Identity', clone: 'Identity', detach: 'Identity',
};
const BINARY: Readonly<Record<string, string>> = { add: 'Add', sub: 'Sub', mul: 'Mul', div: 'Div', pow: 'Pow', maximum: 'Max', minimum: 'Min' };
const COMPARE: Readonly<Record<string, string>> = { eq: 'Equal', lt: 'Less', le: 'LessOrEqual', gt: 'Greater', ge: 'GreaterOrEqual', ne: 'Equal' };
const RESHAPES = new Set(['reshape', 'view', 'flatten', 'squeeze', 'unsqueeze']);

function onnxType(dtype: DType): number {
  const code = (ONNX_DTYPE as Record<string, number>)[dtype];
  if (code === undefined) throw new Error(`ONNX export: dtype ${dtype} has no ONNX type`);
  return code;
}

/** Little-endian bytes of a typed array (bool: one byte per value). */
function rawBytes(a: TypedArray | Float32Array | BigInt64Array): Uint8Array {
  return new Uint8Array(a.buffer.slice(a.byteOffset, a.byteOffset + a.byteLength));
}

// Plain objects only: a typed array argument has a `values` method.
const isRecord = (a: unknown): a is Record<string, unknown> => typeof a === 'object' && a !== null && Object.getPrototypeOf(a) === Object.prototype;
const isValue = (a: unknown): a is { value: number } => isRecord(a) && typeof a['value'] === 'number';
const isValues = (a: unknown): a is { values: number[] } => isRecord(a) && Array.isArray(a['values']);

class GraphWriter {
  readonly nodes: NodeMsg[] = [];
  readonly initializers: TensorMsg[] = [];
  private readonly names = new Map<number, string>();
  private counter = 0;
  private readonly scalars = new Map<string, string>();

  constructor(private readonly trace: Trace) {}

  value(id: number): TracedValue {
    const v = this.trace.values.get(id);
    if (v === undefined) throw new Error(`ONNX export: value ${id} is not in the trace`);
    return v;
  }

  fresh(hint: string): string {
    return `${hint}_${this.counter++}`;
  }

  /** The ONNX name of a traced value, writing its initializer the first time a constant is named. */
  name(id: number): string {
    const known = this.names.get(id);
    if (known !== undefined) return known;
    const v = this.value(id);
    const data = this.trace.data.get(id);
    let n: string;
    if (v.kind === 'input') n = v.name;
    else if (data !== undefined) n = this.initializer(v.kind === 'constant' ? v.name : `const_${id}`, v.dtype, v.shape, data);
    else n = `t${id}`;
    this.names.set(id, n);
    return n;
  }

  initializer(name: string, dtype: DType, dims: readonly number[], data: TypedArray | Float32Array | BigInt64Array): string {
    this.initializers.push({ name, dims: [...dims], dataType: onnxType(dtype), rawData: rawBytes(data) });
    return name;
  }

  /** A rank-0 constant of a dtype (shared between uses). */
  scalar(v: number, dtype: DType): string {
    const key = `${dtype}:${v}`;
    const known = this.scalars.get(key);
    if (known !== undefined) return known;
    const arr = dtype === 'int64' ? BigInt64Array.of(BigInt(Math.trunc(v))) : dtype === 'bool' ? Uint8Array.of(v ? 1 : 0)
      : dtype === 'float64' ? Float64Array.of(v) : dtype === 'int32' ? Int32Array.of(v) : Float32Array.of(v);
    const n = this.initializer(this.fresh('scalar'), dtype, [], arr);
    this.scalars.set(key, n);
    return n;
  }

  ints(v: readonly number[]): string {
    return this.initializer(this.fresh('ints'), 'int64', [v.length], BigInt64Array.from(v, (x) => BigInt(x)));
  }

  node(opType: string, input: string[], attrs: AttributeMsg[] = [], output: string[] = [this.fresh(opType.toLowerCase())]): string[] {
    this.nodes.push({ input, output, name: this.fresh(`n_${opType}`), opType, attribute: attrs });
    return output;
  }

  one(opType: string, input: string[], attrs: AttributeMsg[] = [], output?: string): string {
    return this.node(opType, input, attrs, output === undefined ? undefined : [output])[0] as string;
  }

  cast(name: string, from: DType, to: DType): string {
    return from === to ? name : this.one('Cast', [name], [intAttr('to', onnxType(to))]);
  }
}

const intAttr = (name: string, i: number): AttributeMsg => ({ name, type: ATTR.INT, i });
const intsAttr = (name: string, ints: readonly number[]): AttributeMsg => ({ name, type: ATTR.INTS, ints: [...ints] });
const floatAttr = (name: string, f: number): AttributeMsg => ({ name, type: ATTR.FLOAT, f });

/** Writes one recorded call; its results get the names w.name(outputs[i]). */
function writeCall(w: GraphWriter, c: TracedCall, where: string): void {
  const out = c.outputs.map((id) => w.name(id));
  const o0 = out[0] as string;
  const ov = w.value(c.outputs[0] as number);
  const arg = (i: number): unknown => c.args[i];
  const val = (i: number): TracedValue => {
    const a = arg(i);
    if (!isValue(a)) throw new UnsupportedOpError(c.op, `argument ${i} is not a tensor ${where}`);
    return w.value(a.value);
  };
  const tname = (i: number): string => w.name(val(i).id);
  const dimOf = (d: number, rank: number): number => (d < 0 ? d + rank : d);
  /** A tensor operand, or a number made a scalar, in `dtype`. */
  const operand = (i: number, dtype: DType): string => {
    const a = arg(i);
    if (typeof a === 'number' || typeof a === 'boolean') return w.scalar(Number(a), dtype);
    const v = val(i);
    return w.cast(w.name(v.id), v.dtype, dtype);
  };
  const unsupported = (detail: string): never => {
    throw new UnsupportedOpError(c.op, `${detail} ${where}`);
  };

  if (c.op in UNARY) { w.one(UNARY[c.op] as string, [tname(0)], [], o0); return; }
  if (c.op in BINARY) { w.one(BINARY[c.op] as string, [operand(0, ov.dtype), operand(1, ov.dtype)], [], o0); return; }
  if (c.op in COMPARE) {
    const a = val(0);
    const eq = [w.name(a.id), operand(1, a.dtype)];
    if (c.op === 'ne') w.one('Not', [w.one('Equal', eq)], [], o0);
    else w.one(COMPARE[c.op] as string, eq, [], o0);
    return;
  }
  if (RESHAPES.has(c.op)) { w.one('Reshape', [tname(0), w.ints(ov.shape)], [], o0); return; }
  switch (c.op) {
    case 'rsqrt': w.one('Reciprocal', [w.one('Sqrt', [tname(0)])], [], o0); return;
    case 'gelu': {
      const x = tname(0);
      const dt = ov.dtype;
      if (arg(1) === 'tanh') {
        const x3 = w.one('Mul', [w.one('Mul', [x, x]), x]);
        const inner = w.one('Mul', [w.one('Add', [x, w.one('Mul', [x3, w.scalar(0.044715, dt)])]), w.scalar(Math.sqrt(2 / Math.PI), dt)]);
        const t = w.one('Add', [w.one('Tanh', [inner]), w.scalar(1, dt)]);
        w.one('Mul', [w.one('Mul', [x, t]), w.scalar(0.5, dt)], [], o0);
      } else {
        const e = w.one('Add', [w.one('Erf', [w.one('Div', [x, w.scalar(Math.SQRT2, dt)])]), w.scalar(1, dt)]);
        w.one('Mul', [w.one('Mul', [x, e]), w.scalar(0.5, dt)], [], o0);
      }
      return;
    }
    case 'logicalAnd': w.one('And', [tname(0), tname(1)], [], o0); return;
    case 'logicalOr': w.one('Or', [tname(0), tname(1)], [], o0); return;
    case 'clamp': {
      const lo = arg(1);
      const hi = arg(2);
      const bound = (b: unknown): string => (typeof b === 'number' ? w.scalar(b, ov.dtype) : '');
      const ins = [tname(0), bound(lo), bound(hi)];
      while (ins[ins.length - 1] === '') ins.pop();
      w.one('Clip', ins, [], o0);
      return;
    }
    case 'maskedFill': w.one('Where', [tname(1), w.scalar(arg(2) as number, ov.dtype), tname(0)], [], o0); return;
    case 'where': w.one('Where', [tname(0), operand(1, ov.dtype), operand(2, ov.dtype)], [], o0); return;
    case 'matmul': case 'bmm': w.one('MatMul', [tname(0), tname(1)], [], o0); return;
    case 'expand': w.one('Expand', [tname(0), w.ints(ov.shape)], [], o0); return;
    case 'permute': {
      const r = val(0).shape.length;
      w.one('Transpose', [tname(0)], [intsAttr('perm', (arg(1) as number[]).map((d) => dimOf(d, r)))], o0);
      return;
    }
    case 'transpose': {
      const r = val(0).shape.length;
      const perm = Array.from({ length: r }, (_, i) => i);
      const a = dimOf(arg(1) as number, r);
      const b = dimOf(arg(2) as number, r);
      [perm[a], perm[b]] = [perm[b] as number, perm[a] as number];
      w.one('Transpose', [tname(0)], [intsAttr('perm', perm)], o0);
      return;
    }
    case 'narrow': {
      const d = dimOf(arg(1) as number, val(0).shape.length);
      const s = arg(2) as number;
      w.one('Slice', [tname(0), w.ints([s]), w.ints([s + (arg(3) as number)]), w.ints([d])], [], o0);
      return;
    }
    case 'split': {
      const d = dimOf(arg(2) as number, val(0).shape.length);
      const sizes = c.outputs.map((id) => w.value(id).shape[d] as number);
      w.node('Split', [tname(0), w.ints(sizes)], [intAttr('axis', d)], out);
      return;
    }
    case 'indexSelect': w.one('Gather', [tname(0), tname(2)], [intAttr('axis', dimOf(arg(1) as number, val(0).shape.length))], o0); return;
    case 'gather': w.one('GatherElements', [tname(0), tname(2)], [intAttr('axis', dimOf(arg(1) as number, val(0).shape.length))], o0); return;
    case 'embedding': w.one('Gather', [tname(0), tname(1)], [intAttr('axis', 0)], o0); return;
    case 'sum': case 'mean': case 'logsumexp': {
      const x = val(0);
      const dims = arg(1) as number[] | undefined;
      const keep = arg(2) === true ? 1 : 0;
      const xin = w.cast(w.name(x.id), x.dtype, ov.dtype); // torch sums bools and ints as int64
      const axes = dims === undefined || dims.length === 0 ? null : dims.map((d) => dimOf(d, x.shape.length));
      if (c.op === 'sum') w.one('ReduceSum', axes === null ? [xin] : [xin, w.ints(axes)], [intAttr('keepdims', axes === null ? 0 : keep)], o0);
      else w.one(c.op === 'mean' ? 'ReduceMean' : 'ReduceLogSumExp', [xin], [...(axes === null ? [] : [intsAttr('axes', axes)]), intAttr('keepdims', axes === null ? 0 : keep)], o0);
      return;
    }
    case 'max': case 'min': {
      const x = val(0);
      const reduce = c.op === 'max' ? 'ReduceMax' : 'ReduceMin';
      if (arg(1) === undefined) { w.one(reduce, [tname(0)], [intAttr('keepdims', 0)], o0); return; }
      const d = dimOf(arg(1) as number, x.shape.length);
      const keep = arg(2) === true ? 1 : 0;
      w.one(reduce, [tname(0)], [intsAttr('axes', [d]), intAttr('keepdims', keep)], o0);
      w.one(c.op === 'max' ? 'ArgMax' : 'ArgMin', [tname(0)], [intAttr('axis', d), intAttr('keepdims', keep)], out[1]);
      return;
    }
    case 'argmax': {
      const x = val(0);
      if (arg(1) === undefined) { w.one('ArgMax', [w.one('Reshape', [tname(0), w.ints([-1])])], [intAttr('axis', 0), intAttr('keepdims', 0)], o0); return; }
      w.one('ArgMax', [tname(0)], [intAttr('axis', dimOf(arg(1) as number, x.shape.length)), intAttr('keepdims', arg(2) === true ? 1 : 0)], o0);
      return;
    }
    case 'topk': case 'sort': {
      const x = val(0);
      const d = dimOf((c.op === 'topk' ? arg(2) : arg(1)) as number, x.shape.length);
      const k = c.op === 'topk' ? arg(1) as number : x.shape[d] as number;
      const largest = c.op === 'topk' ? arg(3) !== false : arg(2) === true;
      w.node('TopK', [tname(0), w.ints([k])], [intAttr('axis', d), intAttr('largest', largest ? 1 : 0), intAttr('sorted', 1)], out);
      return;
    }
    case 'norm': case 'normalize': {
      const x = val(0);
      const p = arg(1) as number;
      if (p !== 1 && p !== 2) unsupported(`with p = ${p} has no ONNX reduction (only p = 1 or 2)`);
      const reduce = p === 2 ? 'ReduceL2' : 'ReduceL1';
      if (c.op === 'normalize') {
        const d = dimOf(arg(2) as number, x.shape.length);
        const n = w.one(reduce, [tname(0)], [intsAttr('axes', [d]), intAttr('keepdims', 1)]);
        w.one('Div', [tname(0), w.one('Max', [n, w.scalar(arg(3) as number, x.dtype)])], [], o0);
        return;
      }
      const dims = arg(2) as number[] | undefined;
      const axes = dims === undefined || dims.length === 0 ? null : dims.map((d) => dimOf(d, x.shape.length));
      w.one(reduce, [tname(0)], [...(axes === null ? [] : [intsAttr('axes', axes)]), intAttr('keepdims', axes === null ? 0 : arg(3) === true ? 1 : 0)], o0);
      return;
    }
    case 'softmax': case 'logSoftmax':
      w.one(c.op === 'softmax' ? 'Softmax' : 'LogSoftmax', [tname(0)], [intAttr('axis', dimOf(arg(1) as number, val(0).shape.length))], o0);
      return;
    case 'to': { const x = val(0); w.one('Identity', [w.cast(w.name(x.id), x.dtype, ov.dtype)], [], o0); return; }
    case 'linear': {
      const wt = w.one('Transpose', [tname(1)], [intsAttr('perm', [1, 0])]);
      const b = arg(2);
      if (isValue(b)) w.one('Add', [w.one('MatMul', [tname(0), wt]), tname(2)], [], o0);
      else w.one('MatMul', [tname(0), wt], [], o0);
      return;
    }
    case 'conv2d': {
      const wv = val(1);
      const [sh, sw] = arg(3) as [number, number];
      const [ph, pw] = arg(4) as [number, number];
      const ins = [tname(0), tname(1), ...(isValue(arg(2)) ? [tname(2)] : [])];
      w.one('Conv', ins, [intsAttr('kernel_shape', wv.shape.slice(2)), intsAttr('strides', [sh, sw]), intsAttr('pads', [ph, pw, ph, pw])], o0);
      return;
    }
    case 'layerNorm': {
      const shape = arg(1) as number[];
      const dt = ov.dtype;
      const scale = isValue(arg(2)) ? tname(2) : w.initializer(w.fresh('ones'), dt, shape, new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(1));
      const ins = [tname(0), scale, ...(isValue(arg(3)) ? [tname(3)] : [])];
      w.one('LayerNormalization', ins, [intAttr('axis', -shape.length), floatAttr('epsilon', arg(4) as number)], o0);
      return;
    }
    case 'groupNorm': {
      // opset 17 has no GroupNormalization: (N, C, ...) -> (N, G, -1), normalized over the last dim.
      const x = val(0);
      const [N, C] = x.shape as [number, number];
      const G = arg(1) as number;
      const eps = arg(4) as number;
      const dt = x.dtype;
      const g = w.one('Reshape', [tname(0), w.ints([N, G, -1])]);
      const d = w.one('Sub', [g, w.one('ReduceMean', [g], [intsAttr('axes', [2]), intAttr('keepdims', 1)])]);
      const v = w.one('ReduceMean', [w.one('Mul', [d, d])], [intsAttr('axes', [2]), intAttr('keepdims', 1)]);
      const y = w.one('Reshape', [w.one('Div', [d, w.one('Sqrt', [w.one('Add', [v, w.scalar(eps, dt)])])]), w.ints(x.shape)]);
      const perChannel = [C, ...x.shape.slice(2).map(() => 1)];
      const scaled = isValue(arg(2)) ? w.one('Mul', [y, w.one('Reshape', [tname(2), w.ints(perChannel)])]) : y;
      if (isValue(arg(3))) w.one('Add', [scaled, w.one('Reshape', [tname(3), w.ints(perChannel)])], [], o0);
      else w.one('Identity', [scaled], [], o0);
      return;
    }
    case 'dropout':
      if (arg(2) === true) unsupported('runs in training mode (dropout draws at random); export the model in eval mode');
      w.one('Identity', [tname(0)], [], o0);
      return;
    case 'cat': {
      const xs = arg(0);
      if (!isValues(xs)) unsupported('has no tensor list');
      const vs = (xs as { values: number[] }).values;
      w.one('Concat', vs.map((id) => w.name(id)), [intAttr('axis', dimOf(arg(1) as number, ov.shape.length))], o0);
      return;
    }
    case 'stack': {
      const xs = arg(0);
      if (!isValues(xs)) unsupported('has no tensor list');
      const d = dimOf(arg(1) as number, ov.shape.length);
      const parts = (xs as { values: number[] }).values.map((id) => w.one('Unsqueeze', [w.name(id), w.ints([d])]));
      w.one('Concat', parts, [intAttr('axis', d)], o0);
      return;
    }
    default:
      unsupported('has no ONNX form in the exporter (src/export/onnx-graph.ts)');
  }
}

function valueInfo(name: string, v: TracedValue): ValueInfoMsg {
  return { name, type: { tensorType: { elemType: onnxType(v.dtype), shape: { dim: v.shape.map((d) => ({ dimValue: d })) } } } };
}

/**
 * The graph of a trace's named outputs. Throws UnsupportedOpError naming the first op that has no
 * ONNX form, with its position in the trace.
 */
export function traceToGraph(trace: Trace, name: string): GraphMsg {
  const producer = new Map<number, number>();
  trace.calls.forEach((c, i) => c.outputs.forEach((id) => producer.set(id, i)));
  const needed = new Set<number>();
  const stack = trace.outputs.map((o) => o.id);
  while (stack.length > 0) {
    const id = stack.pop() as number;
    if (trace.data.has(id)) continue; // a constant: an initializer
    const ci = producer.get(id);
    if (ci === undefined || needed.has(ci)) continue;
    needed.add(ci);
    for (const a of (trace.calls[ci] as TracedCall).args) {
      if (isValue(a)) stack.push(a.value);
      else if (isValues(a)) stack.push(...a.values);
    }
  }
  const w = new GraphWriter(trace);
  const order = [...needed].sort((a, b) => a - b);
  for (const ci of order) {
    const c = trace.calls[ci] as TracedCall;
    writeCall(w, c, `(call ${ci} of ${trace.calls.length} in the trace)`);
  }
  for (const o of trace.outputs) w.one('Identity', [w.name(o.id)], [], o.name);
  return {
    name,
    node: w.nodes,
    initializer: w.initializers,
    input: trace.inputs.map((i) => valueInfo(i.name, w.value(i.id))),
    output: trace.outputs.map((o) => valueInfo(o.name, w.value(o.id))),
  };
}
