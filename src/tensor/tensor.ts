/**
 * The TypeScript Tensor API over the libtorch addon.
 *
 * A Tensor owns one libtorch tensor. Ops return new Tensors; intermediates are released by
 * `tidy(() => ...)` scopes (see scope.ts) or by `dispose()`. The addon's object finalizer frees
 * anything that is garbage-collected without being disposed (the safety net), and `liveTensors()`
 * counts what is still held so tests can assert that nothing leaks.
 *
 * @example
 *   const a = Tensor.from([1, 2, 3, 4], [2, 2]);
 *   const b = a.matmul(a).add(1);       // (2, 2)
 *   b.toArray();                        // Float32Array [8, 11, 16, 23]
 */
import { native, type Handle } from './native.js';
import { track } from './scope.js';

export type DType = 'float32' | 'float64' | 'float16' | 'bfloat16' | 'int64' | 'int32' | 'int16' | 'int8' | 'uint8' | 'bool';
export type Device = 'cpu' | 'cuda' | `cuda:${number}`;
export type TypedArray = Float32Array | Float64Array | BigInt64Array | Int32Array | Int16Array | Int8Array | Uint8Array | Uint16Array;
export type Reduction = 'mean' | 'sum' | 'none';
/** The shape of a tensor of a known rank, as a tuple: `const [B, T, D] = x.sizes(3)`. */
export type Sizes<R extends number> = R extends 1 ? [number] : R extends 2 ? [number, number] : R extends 3 ? [number, number, number]
  : R extends 4 ? [number, number, number, number] : R extends 5 ? [number, number, number, number, number] : number[];

type Fn = (...args: unknown[]) => unknown;
const N = native as unknown as Record<string, Fn>;
function call(name: string): Fn {
  const f = N[name];
  if (typeof f !== 'function') throw new Error(`retalign addon has no function '${name}': rebuild with 'make build'`);
  return f;
}
// Cache every addon function once: ops are hot.
const op = {
  fromArray: call('fromArray'), toArray: call('toArray'), zeros: call('zeros'), ones: call('ones'),
  full: call('full'), rand: call('rand'), randn: call('randn'), randperm: call('randperm'), arange: call('arange'),
  shape: call('shape'), dtype: call('dtype'), device: call('device'), item: call('item'), to: call('to'),
  dispose: call('dispose'), isDisposed: call('isDisposed'),
  neg: call('neg'), exp: call('exp'), log: call('log'), sqrt: call('sqrt'), rsqrt: call('rsqrt'), abs: call('abs'),
  tanh: call('tanh'), erf: call('erf'), sigmoid: call('sigmoid'), relu: call('relu'), sin: call('sin'), cos: call('cos'),
  gelu: call('gelu'), contiguous: call('contiguous'), clone: call('clone'), detach: call('detach'), grad: call('grad'),
  logicalNot: call('logicalNot'), logicalAnd: call('logicalAnd'), logicalOr: call('logicalOr'), isfinite: call('isfinite'),
  add: call('add'), sub: call('sub'), mul: call('mul'), div: call('div'), pow: call('pow'),
  eq: call('eq'), ne: call('ne'), lt: call('lt'), le: call('le'), gt: call('gt'), ge: call('ge'),
  maximum: call('maximum'), minimum: call('minimum'), matmul: call('matmul'), bmm: call('bmm'),
  where: call('where'), clamp: call('clamp'), maskedFill: call('maskedFill'),
  reshape: call('reshape'), view: call('view'), permute: call('permute'), transpose: call('transpose'),
  unsqueeze: call('unsqueeze'), squeeze: call('squeeze'), expand: call('expand'), flatten: call('flatten'),
  split: call('split'), narrow: call('narrow'), indexSelect: call('indexSelect'), gather: call('gather'),
  sum: call('sum'), mean: call('mean'), max: call('max'), min: call('min'), argmax: call('argmax'),
  topk: call('topk'), sort: call('sort'), norm: call('norm'), normalize: call('normalize'), logsumexp: call('logsumexp'),
  softmax: call('softmax'), logSoftmax: call('logSoftmax'),
  setRequiresGrad: call('setRequiresGrad'), requiresGrad: call('requiresGrad'), hasGrad: call('hasGrad'),
  backward: call('backward'), copyInto: call('copyInto'), normalInit: call('normalInit'),
  uniformInit: call('uniformInit'), fillInit: call('fillInit'),
};
export { call as nativeFn };
/**
 * The cached addon functions of the Tensor methods, for the op recorder (trace.ts) only: it swaps
 * entries for recording wrappers while a trace runs and puts the originals back, so ops cost the
 * same as ever when no trace runs.
 */
export const TENSOR_OPS: Record<string, Fn> = op;

const DTYPE_ARRAY: Record<DType, (n: number) => TypedArray> = {
  float32: (n) => new Float32Array(n), float64: (n) => new Float64Array(n), float16: (n) => new Uint16Array(n),
  bfloat16: (n) => new Uint16Array(n), int64: (n) => new BigInt64Array(n), int32: (n) => new Int32Array(n),
  int16: (n) => new Int16Array(n), int8: (n) => new Int8Array(n), uint8: (n) => new Uint8Array(n), bool: (n) => new Uint8Array(n),
};

function inferDType(a: TypedArray): DType {
  if (a instanceof Float32Array) return 'float32';
  if (a instanceof Float64Array) return 'float64';
  if (a instanceof BigInt64Array) return 'int64';
  if (a instanceof Int32Array) return 'int32';
  if (a instanceof Int16Array) return 'int16';
  if (a instanceof Int8Array) return 'int8';
  if (a instanceof Uint8Array) return 'uint8';
  throw new Error('Tensor.from: a Uint16Array is ambiguous (float16 or bfloat16 bits): pass the dtype');
}

function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** A tensor, or a number/boolean broadcast as a scalar. */
export type TensorLike = Tensor | number;
const h = (x: TensorLike | boolean): unknown => (x instanceof Tensor ? x.handle : x);

export class Tensor {
  /** The addon handle; internal. */
  readonly handle: Handle;

  /** Wraps an addon handle and registers it with the innermost tidy scope. */
  constructor(handle: Handle) {
    this.handle = handle;
    track(this);
  }

  // ---------------------------------------------------------------- creation

  /**
   * From a typed array or a nested-free number array (copied).
   * @example Tensor.from([1, 2, 3, 4], [2, 2]); Tensor.from(new BigInt64Array([1n, 2n]))
   */
  static from(data: TypedArray | readonly number[] | readonly boolean[], shape?: readonly number[], dtype?: DType): Tensor {
    let arr: TypedArray;
    let dt: DType;
    if (Array.isArray(data)) {
      dt = dtype ?? (typeof data[0] === 'boolean' ? 'bool' : 'float32');
      arr = DTYPE_ARRAY[dt](data.length);
      if (arr instanceof BigInt64Array) (data as number[]).forEach((v, i) => (arr[i] = BigInt(Math.trunc(v))));
      else (data as (number | boolean)[]).forEach((v, i) => (arr[i] = Number(v)));
    } else {
      arr = data as TypedArray;
      dt = dtype ?? inferDType(arr);
    }
    const shp = shape ? [...shape] : [arr.length];
    if (numel(shp) !== arr.length) {
      throw new Error(`Tensor.from: shape [${shp.join(', ')}] needs ${numel(shp)} elements, got ${arr.length}`);
    }
    return new Tensor(op.fromArray(arr, shp, dt) as Handle);
  }
  /** A 0-d tensor. */
  static scalar(v: number, dtype: DType = 'float32'): Tensor {
    return Tensor.from([v], [], dtype);
  }
  static zeros(shape: readonly number[], dtype: DType = 'float32', device: Device = 'cpu'): Tensor {
    return new Tensor(op.zeros([...shape], dtype, device) as Handle);
  }
  static ones(shape: readonly number[], dtype: DType = 'float32', device: Device = 'cpu'): Tensor {
    return new Tensor(op.ones([...shape], dtype, device) as Handle);
  }
  static full(shape: readonly number[], value: number | boolean, dtype: DType = 'float32', device: Device = 'cpu'): Tensor {
    return new Tensor(op.full([...shape], value, dtype, device) as Handle);
  }
  /** Uniform [0, 1) from libtorch's generator (seed with manualSeed). */
  static rand(shape: readonly number[], dtype: DType = 'float32', device: Device = 'cpu'): Tensor {
    return new Tensor(op.rand([...shape], dtype, device) as Handle);
  }
  static randn(shape: readonly number[], dtype: DType = 'float32', device: Device = 'cpu'): Tensor {
    return new Tensor(op.randn([...shape], dtype, device) as Handle);
  }
  static randperm(n: number): Tensor {
    return new Tensor(op.randperm(n) as Handle);
  }
  /** [start, end) by step. @example Tensor.arange(0, 5) // [0,1,2,3,4] float32 */
  static arange(start: number, end: number, step = 1, dtype: DType = 'float32', device: Device = 'cpu'): Tensor {
    return new Tensor(op.arange(start, end, step, dtype, device) as Handle);
  }

  // ---------------------------------------------------------------- metadata and export

  get shape(): number[] {
    return op.shape(this.handle) as number[];
  }
  get ndim(): number {
    return this.shape.length;
  }
  /**
   * The size of one dim (negative counts from the end), as torch's x.size(dim); throws when the
   * tensor has no such dim.
   * @example Tensor.zeros([2, 3]).size(-1) // 3
   */
  size(dim: number): number {
    const s = this.shape;
    const n = s[dim < 0 ? dim + s.length : dim];
    if (n === undefined || !Number.isInteger(dim)) throw new Error(`size: dim ${dim} is out of range for shape [${s.join(', ')}]`);
    return n;
  }
  /**
   * The shape as a tuple of `rank` sizes, checked: a tensor of another rank throws, naming its shape.
   * @example const [B, T, D] = x.sizes(3);
   */
  sizes<R extends 1 | 2 | 3 | 4 | 5>(rank: R): Sizes<R> {
    const s = this.shape;
    if (s.length !== rank) throw new Error(`sizes: expected a rank-${rank} tensor, got shape [${s.join(', ')}]`);
    return s as Sizes<R>;
  }
  get numel(): number {
    return numel(this.shape);
  }
  get dtype(): DType {
    return op.dtype(this.handle) as DType;
  }
  /** 'cpu', or 'cuda:N' for a tensor on GPU N. */
  get device(): Device {
    return op.device(this.handle) as Device;
  }
  get requiresGrad(): boolean {
    return op.requiresGrad(this.handle) as boolean;
  }
  set requiresGrad(v: boolean) {
    op.setRequiresGrad(this.handle, v);
  }
  /** Marks this tensor as a leaf that collects gradients; returns this. */
  requireGrad(v = true): this {
    op.setRequiresGrad(this.handle, v);
    return this;
  }
  get isDisposed(): boolean {
    return op.isDisposed(this.handle) as boolean;
  }
  /** A contiguous CPU copy as a typed array (float16/bfloat16: Uint16Array bits). */
  toArray(): TypedArray {
    return op.toArray(this.handle) as TypedArray;
  }
  /** Values as float32 (converting on the libtorch side). */
  toFloat32(): Float32Array {
    if (this.dtype === 'float32') return this.toArray() as Float32Array;
    const t = new Tensor(op.to(this.handle, undefined, 'float32') as Handle);
    try {
      return t.toArray() as Float32Array;
    } finally {
      t.dispose();
    }
  }
  /** Values as plain numbers. */
  toNumbers(): number[] {
    const a = this.dtype === 'float16' || this.dtype === 'bfloat16' ? this.toFloat32() : this.toArray();
    return Array.from(a as ArrayLike<number | bigint>, (v) => Number(v));
  }
  /** The single value of a one-element tensor. */
  item(): number {
    return Number(op.item(this.handle));
  }
  to(deviceOrDtype: Device | DType, dtype?: DType): Tensor {
    const isDtype = (s: string): s is DType => s in DTYPE_ARRAY;
    if (isDtype(deviceOrDtype)) return new Tensor(op.to(this.handle, undefined, deviceOrDtype) as Handle);
    return new Tensor(op.to(this.handle, deviceOrDtype, dtype) as Handle);
  }
  /** Releases the libtorch memory now. Safe to call twice. */
  dispose(): void {
    op.dispose(this.handle);
  }

  // ---------------------------------------------------------------- elementwise

  add(o: TensorLike): Tensor { return new Tensor(op.add(this.handle, h(o)) as Handle); }
  sub(o: TensorLike): Tensor { return new Tensor(op.sub(this.handle, h(o)) as Handle); }
  mul(o: TensorLike): Tensor { return new Tensor(op.mul(this.handle, h(o)) as Handle); }
  div(o: TensorLike): Tensor { return new Tensor(op.div(this.handle, h(o)) as Handle); }
  pow(o: TensorLike): Tensor { return new Tensor(op.pow(this.handle, h(o)) as Handle); }
  maximum(o: TensorLike): Tensor { return new Tensor(op.maximum(this.handle, h(o)) as Handle); }
  minimum(o: TensorLike): Tensor { return new Tensor(op.minimum(this.handle, h(o)) as Handle); }
  neg(): Tensor { return new Tensor(op.neg(this.handle) as Handle); }
  exp(): Tensor { return new Tensor(op.exp(this.handle) as Handle); }
  log(): Tensor { return new Tensor(op.log(this.handle) as Handle); }
  sqrt(): Tensor { return new Tensor(op.sqrt(this.handle) as Handle); }
  rsqrt(): Tensor { return new Tensor(op.rsqrt(this.handle) as Handle); }
  abs(): Tensor { return new Tensor(op.abs(this.handle) as Handle); }
  tanh(): Tensor { return new Tensor(op.tanh(this.handle) as Handle); }
  erf(): Tensor { return new Tensor(op.erf(this.handle) as Handle); }
  sigmoid(): Tensor { return new Tensor(op.sigmoid(this.handle) as Handle); }
  relu(): Tensor { return new Tensor(op.relu(this.handle) as Handle); }
  sin(): Tensor { return new Tensor(op.sin(this.handle) as Handle); }
  cos(): Tensor { return new Tensor(op.cos(this.handle) as Handle); }
  /** GELU; approximate 'none' (erf, BERT/ViT) or 'tanh'. */
  gelu(approximate: 'none' | 'tanh' = 'none'): Tensor { return new Tensor(op.gelu(this.handle, approximate) as Handle); }
  clamp(min?: number, max?: number): Tensor { return new Tensor(op.clamp(this.handle, min, max) as Handle); }
  /** Where mask is true, value; else this. */
  maskedFill(mask: Tensor, value: number): Tensor { return new Tensor(op.maskedFill(this.handle, mask.handle, value) as Handle); }
  eq(o: TensorLike): Tensor { return new Tensor(op.eq(this.handle, h(o)) as Handle); }
  ne(o: TensorLike): Tensor { return new Tensor(op.ne(this.handle, h(o)) as Handle); }
  lt(o: TensorLike): Tensor { return new Tensor(op.lt(this.handle, h(o)) as Handle); }
  le(o: TensorLike): Tensor { return new Tensor(op.le(this.handle, h(o)) as Handle); }
  gt(o: TensorLike): Tensor { return new Tensor(op.gt(this.handle, h(o)) as Handle); }
  ge(o: TensorLike): Tensor { return new Tensor(op.ge(this.handle, h(o)) as Handle); }
  logicalNot(): Tensor { return new Tensor(op.logicalNot(this.handle) as Handle); }
  logicalAnd(o: Tensor): Tensor { return new Tensor(op.logicalAnd(this.handle, o.handle) as Handle); }
  logicalOr(o: Tensor): Tensor { return new Tensor(op.logicalOr(this.handle, o.handle) as Handle); }
  isfinite(): Tensor { return new Tensor(op.isfinite(this.handle) as Handle); }

  // ---------------------------------------------------------------- linear algebra

  /** torch.matmul semantics (broadcast batch dims). */
  matmul(o: Tensor): Tensor { return new Tensor(op.matmul(this.handle, o.handle) as Handle); }
  bmm(o: Tensor): Tensor { return new Tensor(op.bmm(this.handle, o.handle) as Handle); }

  // ---------------------------------------------------------------- shape

  reshape(shape: readonly number[]): Tensor { return new Tensor(op.reshape(this.handle, [...shape]) as Handle); }
  view(shape: readonly number[]): Tensor { return new Tensor(op.view(this.handle, [...shape]) as Handle); }
  permute(dims: readonly number[]): Tensor { return new Tensor(op.permute(this.handle, [...dims]) as Handle); }
  transpose(d0: number, d1: number): Tensor { return new Tensor(op.transpose(this.handle, d0, d1) as Handle); }
  unsqueeze(dim: number): Tensor { return new Tensor(op.unsqueeze(this.handle, dim) as Handle); }
  squeeze(dim?: number): Tensor { return new Tensor(op.squeeze(this.handle, dim) as Handle); }
  expand(shape: readonly number[]): Tensor { return new Tensor(op.expand(this.handle, [...shape]) as Handle); }
  flatten(start = 0, end = -1): Tensor { return new Tensor(op.flatten(this.handle, start, end) as Handle); }
  contiguous(): Tensor { return new Tensor(op.contiguous(this.handle) as Handle); }
  clone(): Tensor { return new Tensor(op.clone(this.handle) as Handle); }
  /** A view that shares storage but is cut from the autograd graph. */
  detach(): Tensor { return new Tensor(op.detach(this.handle) as Handle); }
  narrow(dim: number, start: number, length: number): Tensor { return new Tensor(op.narrow(this.handle, dim, start, length) as Handle); }
  /**
   * The slice at `index` along `dim`, that dim removed (torch's select: x[:, 0] is x.select(1, 0)); a
   * view, like narrow. Negative dims and indices count from the end.
   * @example Tensor.from([1, 2, 3, 4], [2, 2]).select(1, 0).toNumbers() // [1, 3]
   */
  select(dim: number, index: number): Tensor {
    const d = dim < 0 ? dim + this.ndim : dim;
    const n = this.size(d);
    const i = index < 0 ? index + n : index;
    if (!Number.isInteger(i) || i < 0 || i >= n) throw new Error(`select: index ${index} is out of range for dim ${dim} of size ${n} (shape [${this.shape.join(', ')}])`);
    const row = this.narrow(d, i, 1);
    try {
      return row.squeeze(d);
    } finally {
      row.dispose();
    }
  }
  /** Split into chunks of `size` (number) or of the given sizes (array) along dim. */
  split(size: number | readonly number[], dim = 0): Tensor[] {
    const hs = op.split(this.handle, typeof size === 'number' ? size : [...size], dim) as Handle[];
    return hs.map((x) => new Tensor(x));
  }
  indexSelect(dim: number, index: Tensor): Tensor { return new Tensor(op.indexSelect(this.handle, dim, index.handle) as Handle); }
  gather(dim: number, index: Tensor): Tensor { return new Tensor(op.gather(this.handle, dim, index.handle) as Handle); }

  // ---------------------------------------------------------------- reductions

  /** Sum over all elements, or over dims. */
  sum(dims?: number | readonly number[], keepdim = false): Tensor {
    return new Tensor(op.sum(this.handle, dims === undefined ? undefined : typeof dims === 'number' ? [dims] : [...dims], keepdim) as Handle);
  }
  mean(dims?: number | readonly number[], keepdim = false): Tensor {
    return new Tensor(op.mean(this.handle, dims === undefined ? undefined : typeof dims === 'number' ? [dims] : [...dims], keepdim) as Handle);
  }
  /** Max over all elements (0-d). */
  max(): Tensor { return new Tensor(op.max(this.handle) as Handle); }
  min(): Tensor { return new Tensor(op.min(this.handle) as Handle); }
  /** Max along a dim: values and int64 indices. */
  maxDim(dim: number, keepdim = false): { values: Tensor; indices: Tensor } {
    const [v, i] = op.max(this.handle, dim, keepdim) as [Handle, Handle];
    return { values: new Tensor(v), indices: new Tensor(i) };
  }
  minDim(dim: number, keepdim = false): { values: Tensor; indices: Tensor } {
    const [v, i] = op.min(this.handle, dim, keepdim) as [Handle, Handle];
    return { values: new Tensor(v), indices: new Tensor(i) };
  }
  argmax(dim?: number, keepdim = false): Tensor { return new Tensor(op.argmax(this.handle, dim, keepdim) as Handle); }
  /** k largest (or smallest) along dim, sorted. */
  topk(k: number, dim = -1, largest = true): { values: Tensor; indices: Tensor } {
    const [v, i] = op.topk(this.handle, k, dim, largest) as [Handle, Handle];
    return { values: new Tensor(v), indices: new Tensor(i) };
  }
  sort(dim = -1, descending = false): { values: Tensor; indices: Tensor } {
    const [v, i] = op.sort(this.handle, dim, descending) as [Handle, Handle];
    return { values: new Tensor(v), indices: new Tensor(i) };
  }
  /** p-norm over all elements or over dims. */
  norm(p = 2, dims?: number | readonly number[], keepdim = false): Tensor {
    return new Tensor(op.norm(this.handle, p, dims === undefined ? undefined : typeof dims === 'number' ? [dims] : [...dims], keepdim) as Handle);
  }
  /** x / max(||x||_p, eps) along dim (F.normalize). */
  normalize(p = 2, dim = -1, eps = 1e-12): Tensor { return new Tensor(op.normalize(this.handle, p, dim, eps) as Handle); }
  logsumexp(dims: number | readonly number[], keepdim = false): Tensor {
    return new Tensor(op.logsumexp(this.handle, typeof dims === 'number' ? [dims] : [...dims], keepdim) as Handle);
  }
  softmax(dim = -1): Tensor { return new Tensor(op.softmax(this.handle, dim) as Handle); }
  logSoftmax(dim = -1): Tensor { return new Tensor(op.logSoftmax(this.handle, dim) as Handle); }

  // ---------------------------------------------------------------- autograd

  /** Backpropagate from this tensor (a scalar unless `gradient` is given). */
  backward(gradient?: Tensor): void {
    op.backward(this.handle, gradient?.handle);
  }
  /** The accumulated gradient, or null when none has been computed. */
  get grad(): Tensor | null {
    if (!(op.hasGrad(this.handle) as boolean)) return null;
    return new Tensor(op.grad(this.handle) as Handle);
  }

  // ---------------------------------------------------------------- in-place (parameters, under no-grad)

  /** Copies `src` into this tensor (no autograd); shapes must broadcast. */
  copy_(src: Tensor): this { op.copyInto(this.handle, src.handle); return this; }
  normal_(mean = 0, std = 1): this { op.normalInit(this.handle, mean, std); return this; }
  uniform_(a = 0, b = 1): this { op.uniformInit(this.handle, a, b); return this; }
  fill_(v: number): this { op.fillInit(this.handle, v); return this; }

  toString(): string {
    return `Tensor(shape=[${this.shape.join(', ')}], dtype=${this.dtype}, device=${this.device})`;
  }
}

/** where(cond, a, b): elementwise select. */
export function where(cond: Tensor, a: TensorLike, b: TensorLike): Tensor {
  return new Tensor(op.where(cond.handle, h(a), h(b)) as Handle);
}
