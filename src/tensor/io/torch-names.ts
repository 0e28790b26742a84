/**
 * The Python names a torch.save pickle refers to, mapped to small JS stand-ins for pickleparser.
 *
 * pickleparser pushes whatever the name resolver returns for a GLOBAL and calls it on REDUCE, so:
 * rebuild functions return descriptors (TensorRef) that are materialized once the dict key is
 * known (errors can then name it); storage classes (torch.FloatStorage, ...) and dtypes
 * (torch.float32, ...) are inert "token" functions whose meaning is kept in a WeakMap.
 */
import { NameRegistry } from 'pickleparser';
import type { DType } from './raw.js';

/** A storage referenced by persistent id ('storage', type, key, location, numel). */
export class StorageRef {
  constructor(
    readonly key: string,
    readonly typeName: string,
    /** null for untyped byte storages (torch 2.x UntypedStorage): the tensor gives the dtype. */
    readonly dtype: DType | null,
    /** In elements of `dtype` (bytes when untyped). */
    readonly numel: number,
    readonly location: string,
    /** Why this storage cannot be read (unknown or unsupported type); reported per tensor. */
    readonly problem?: string,
  ) {}
}

/** Arguments of _rebuild_tensor_v2/v3, validated later when the key is known. */
export class TensorRef {
  constructor(
    readonly storage: unknown,
    readonly offset: unknown,
    readonly size: unknown,
    readonly stride: unknown,
    /** v3 only: a dtype token such as torch.float32. */
    readonly dtype?: unknown,
  ) {}
}

/** A tensor kind we recognise but cannot turn into dense data (quantized, sparse, meta...). */
export class UnsupportedTensor {
  constructor(readonly kind: string, readonly rebuild: string) {}
}

export interface TokenInfo {
  kind: 'storage' | 'dtype';
  /** Python name, e.g. 'torch.BFloat16Storage' or 'torch.float16'. */
  name: string;
  /** null: untyped storage, or a dtype with no RawTensor counterpart (then `unsupported`). */
  dtype: DType | null;
  unsupported: boolean;
}

const tokens = new WeakMap<object, TokenInfo>();

/** Meaning of a value pickled as a storage class or dtype global; undefined for anything else. */
export function tokenDType(v: unknown): TokenInfo | undefined {
  return (typeof v === 'function' || (typeof v === 'object' && v !== null)) ? tokens.get(v as object) : undefined;
}

function token(info: TokenInfo): () => never {
  const f = function (): never {
    throw new Error(`${info.name} cannot be called while reading a state dict`);
  };
  tokens.set(f, info);
  return f;
}

const TYPED_STORAGES: [string, DType | null][] = [
  ['FloatStorage', 'float32'], ['DoubleStorage', 'float64'], ['HalfStorage', 'float16'],
  ['BFloat16Storage', 'bfloat16'], ['LongStorage', 'int64'], ['IntStorage', 'int32'],
  ['ShortStorage', 'int16'], ['CharStorage', 'int8'], ['ByteStorage', 'uint8'], ['BoolStorage', 'bool'],
  ['ComplexFloatStorage', null], ['ComplexDoubleStorage', null], ['QInt8Storage', null],
  ['QUInt8Storage', null], ['QInt32Storage', null], ['QUInt4x2Storage', null], ['QUInt2x4Storage', null],
];

/** torch dtype globals as pickled by torch.dtype.__reduce__ (canonical names only). */
const DTYPE_NAMES: [string, DType | null][] = [
  ['float32', 'float32'], ['float64', 'float64'], ['float16', 'float16'], ['bfloat16', 'bfloat16'],
  ['int64', 'int64'], ['int32', 'int32'], ['int16', 'int16'], ['int8', 'int8'], ['uint8', 'uint8'],
  ['bool', 'bool'], ['complex32', null], ['complex64', null], ['complex128', null], ['uint16', null],
  ['uint32', null], ['uint64', null], ['float8_e4m3fn', null], ['float8_e5m2', null],
  ['float8_e4m3fnuz', null], ['float8_e5m2fnuz', null], ['qint8', null], ['quint8', null], ['qint32', null],
];

type Fn = (...args: unknown[]) => unknown;

/**
 * A fresh NameRegistry for one torch pickle. Unknown globals fall back to pickleparser's generic
 * objects, so checkpoints carrying e.g. argparse.Namespace still load (those leaves are skipped).
 */
export function torchNameRegistry(): NameRegistry {
  const r = new NameRegistry();
  const reg = (module: string, name: string, f: Fn) => r.register(module, name, f);

  const rebuildV2: Fn = (storage, offset, size, stride) => new TensorRef(storage, offset, size, stride);
  reg('torch._utils', '_rebuild_tensor', rebuildV2);
  reg('torch._utils', '_rebuild_tensor_v2', rebuildV2);
  // (storage, offset, size, stride, requires_grad, backward_hooks, dtype, metadata?)
  reg('torch._utils', '_rebuild_tensor_v3', (storage, offset, size, stride, _rg, _hooks, dtype) =>
    new TensorRef(storage, offset, size, stride, dtype));
  // nn.Parameter pickles as _rebuild_parameter(data, requires_grad, hooks[, state]): keep the data.
  reg('torch._utils', '_rebuild_parameter', (data) => data);
  reg('torch._utils', '_rebuild_parameter_with_state', (data) => data);
  // Tensor subclasses: _rebuild_from_type_v2(func, new_type, args, state) -> func(*args).
  reg('torch._tensor', '_rebuild_from_type_v2', (func, _type, args) => {
    if (typeof func !== 'function' || !Array.isArray(args)) return new UnsupportedTensor('subclass', '_rebuild_from_type_v2');
    return (func as Fn)(...(args as unknown[]));
  });
  for (const [fn, kind] of [
    ['_rebuild_qtensor', 'quantized'], ['_rebuild_sparse_tensor', 'sparse'], ['_rebuild_sparse_csr_tensor', 'sparse CSR'],
    ['_rebuild_meta_tensor_no_storage', 'meta'], ['_rebuild_wrapper_subclass', 'wrapper-subclass'],
    ['_rebuild_device_tensor_from_numpy', 'device'], ['_rebuild_xla_tensor', 'XLA'], ['_rebuild_mps_tensor', 'MPS'],
    ['_rebuild_nested_tensor', 'nested'], ['_rebuild_device_tensor_from_cpu_tensor', 'device'],
  ] as const) {
    reg('torch._utils', fn, () => new UnsupportedTensor(kind, fn));
  }

  reg('collections', 'OrderedDict', (items) => {
    const m = new Map<unknown, unknown>();
    if (Array.isArray(items)) for (const kv of items) if (Array.isArray(kv) && kv.length === 2) m.set(kv[0], kv[1]);
    return m;
  });
  reg('torch', 'Size', (dims) => dims);
  reg('torch', 'device', (name, index) => (index === undefined ? String(name) : `${String(name)}:${String(index)}`));

  for (const [name, dtype] of TYPED_STORAGES) {
    reg('torch', name, token({ kind: 'storage', name: `torch.${name}`, dtype, unsupported: dtype === null }));
  }
  for (const mod of ['torch', 'torch.storage']) {
    for (const name of ['UntypedStorage', 'TypedStorage', '_UntypedStorage']) {
      reg(mod, name, token({ kind: 'storage', name: `${mod}.${name}`, dtype: null, unsupported: false }));
    }
  }
  for (const [name, dtype] of DTYPE_NAMES) {
    reg('torch', name, token({ kind: 'dtype', name: `torch.${name}`, dtype, unsupported: dtype === null }));
  }
  return r;
}

/** Short description of an unpickled value for error messages. */
export function describePickled(v: unknown): string {
  if (v === null || v === undefined) return 'None';
  const info = tokenDType(v);
  if (info !== undefined) return info.name;
  if (typeof v === 'function' || typeof v === 'object') {
    const proto = Object.getPrototypeOf(v) as { __module__?: unknown; __name__?: unknown } | null;
    const own = v as { prototype?: { __module__?: unknown; __name__?: unknown } };
    const meta = typeof v === 'function' ? own.prototype : proto;
    if (meta !== undefined && meta !== null && typeof meta.__module__ === 'string') {
      return `${meta.__module__}.${String(meta.__name__)}${typeof v === 'function' ? '' : ' object'}`;
    }
    if (v instanceof Map) return `a dict of ${v.size} entries`;
    if (Array.isArray(v)) return `a tuple/list of ${v.length} items`;
    if (v instanceof Uint8Array) return `bytes (${v.length})`;
    if (v instanceof TensorRef) return 'a tensor';
    if (v instanceof StorageRef) return `storage '${v.key}'`;
  }
  const s = JSON.stringify(typeof v === 'bigint' ? v.toString() : v);
  return s === undefined ? String(v) : s.length > 60 ? `${s.slice(0, 60)}...` : s;
}
