/**
 * Plain, engine-free tensors as read from / written to files (safetensors, PyTorch .bin/.pt).
 *
 * A RawTensor is contiguous, row-major, little-endian host memory. It knows nothing about the
 * libtorch addon: the engine copies from `data` when it builds its own tensors. float16 and
 * bfloat16 have no JS typed array, so they travel as their raw 16-bit patterns in a Uint16Array;
 * `toFloat32` widens any dtype for arithmetic, `fromFloat32` narrows back with round-to-nearest-even.
 */
import { endianness } from 'node:os';

export type DType =
  | 'float32'
  | 'float64'
  | 'float16'
  | 'bfloat16'
  | 'int64'
  | 'int32'
  | 'int16'
  | 'int8'
  | 'uint8'
  | 'bool';

export type RawData =
  | Float32Array
  | Float64Array
  | BigInt64Array
  | Int32Array
  | Int16Array
  | Int8Array
  | Uint8Array
  | Uint16Array;

export interface RawTensor {
  dtype: DType;
  /** Sizes per dimension; [] is a 0-d scalar (numel 1); any 0 makes an empty tensor. */
  shape: number[];
  /** numel(shape) elements, row-major. float16/bfloat16: raw bits; bool: 0/1 bytes. */
  data: RawData;
}

export const DTYPES: readonly DType[] = [
  'float32', 'float64', 'float16', 'bfloat16', 'int64', 'int32', 'int16', 'int8', 'uint8', 'bool',
];

/** Bytes per element, e.g. dtypeSize('bfloat16') === 2. */
export function dtypeSize(dtype: DType): number {
  switch (dtype) {
    case 'float64': case 'int64': return 8;
    case 'float32': case 'int32': return 4;
    case 'float16': case 'bfloat16': case 'int16': return 2;
    case 'int8': case 'uint8': case 'bool': return 1;
  }
}

/** Name of the typed array that holds `dtype` (used in error messages). */
export function arrayNameFor(dtype: DType): string {
  switch (dtype) {
    case 'float32': return 'Float32Array';
    case 'float64': return 'Float64Array';
    case 'float16': case 'bfloat16': return 'Uint16Array';
    case 'int64': return 'BigInt64Array';
    case 'int32': return 'Int32Array';
    case 'int16': return 'Int16Array';
    case 'int8': return 'Int8Array';
    case 'uint8': case 'bool': return 'Uint8Array';
  }
}

export function isDType(x: unknown): x is DType {
  return typeof x === 'string' && (DTYPES as readonly string[]).includes(x);
}

/** Number of elements: product of the sizes (1 for a scalar). Throws on a bad size. */
export function numelOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 0) {
      throw new Error(`invalid shape [${shape.join(', ')}]: sizes must be integers >= 0, got ${d}`);
    }
    n *= d;
  }
  return n;
}

/** Fails fast on big-endian hosts: every reader/writer here reinterprets bytes as LE typed arrays. */
export function assertLittleEndianHost(): void {
  if (endianness() !== 'LE') {
    throw new Error('tensor file I/O assumes a little-endian host; this machine is big-endian');
  }
}

/**
 * Typed-array view of `length` elements of `dtype` over `bytes[byteOffset...]`; copies into a fresh,
 * aligned buffer when the absolute address is not a multiple of the element size (typed arrays
 * refuse unaligned views).
 */
export function viewAs(dtype: DType, bytes: Uint8Array, byteOffset: number, length: number): RawData {
  const size = dtypeSize(dtype);
  let buf = bytes.buffer as ArrayBuffer;
  let off = bytes.byteOffset + byteOffset;
  if (off % size !== 0) {
    const copy = new Uint8Array(length * size);
    copy.set(bytes.subarray(byteOffset, byteOffset + length * size));
    buf = copy.buffer;
    off = 0;
  }
  switch (dtype) {
    case 'float32': return new Float32Array(buf, off, length);
    case 'float64': return new Float64Array(buf, off, length);
    case 'float16': case 'bfloat16': return new Uint16Array(buf, off, length);
    case 'int64': return new BigInt64Array(buf, off, length);
    case 'int32': return new Int32Array(buf, off, length);
    case 'int16': return new Int16Array(buf, off, length);
    case 'int8': return new Int8Array(buf, off, length);
    case 'uint8': case 'bool': return new Uint8Array(buf, off, length);
  }
}

/** Zero-filled array of the right kind for `dtype`. */
export function allocFor(dtype: DType, length: number): RawData {
  return viewAs(dtype, new Uint8Array(length * dtypeSize(dtype)), 0, length);
}

/** True when `data` is the array kind that carries `dtype` (e.g. Uint16Array for bfloat16). */
export function dataMatchesDType(dtype: DType, data: RawData): boolean {
  switch (dtype) {
    case 'float32': return data instanceof Float32Array;
    case 'float64': return data instanceof Float64Array;
    case 'float16': case 'bfloat16': return data instanceof Uint16Array;
    case 'int64': return data instanceof BigInt64Array;
    case 'int32': return data instanceof Int32Array;
    case 'int16': return data instanceof Int16Array;
    case 'int8': return data instanceof Int8Array;
    case 'uint8': case 'bool': return data instanceof Uint8Array; // a Node Buffer is one too
  }
}

/**
 * Checks a RawTensor's invariants; `what` names it in the error (file and key).
 * @example checkRaw({ dtype: 'float32', shape: [2], data: new Float32Array(2) }, 'w.safetensors: fc.weight')
 */
export function checkRaw(t: RawTensor, what: string): void {
  if (!isDType(t.dtype)) throw new Error(`${what}: unknown dtype '${String(t.dtype)}' (valid: ${DTYPES.join(', ')})`);
  let n: number;
  try {
    n = numelOf(t.shape);
  } catch (e) {
    throw new Error(`${what}: ${(e as Error).message}`);
  }
  if (!dataMatchesDType(t.dtype, t.data)) {
    throw new Error(`${what}: dtype ${t.dtype} needs a ${arrayNameFor(t.dtype)}, got ${t.data.constructor.name}`);
  }
  if (t.data.length !== n) {
    throw new Error(`${what}: shape [${t.shape.join(', ')}] has ${n} elements but data has ${t.data.length}`);
  }
}

/** Raw bytes of a tensor's data (a view, no copy). */
export function bytesOf(t: RawTensor): Uint8Array {
  return new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
}

// ---- 16-bit float conversions -------------------------------------------------------------------

let f16Table: Float32Array | null = null;

/** Value of one IEEE binary16 bit pattern, exact (every f16 is representable in f32). */
export function f16BitsToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return sign * m * 2 ** -24;
  if (e === 31) return m !== 0 ? NaN : sign * Infinity;
  return sign * (1 + m / 1024) * 2 ** (e - 15);
}

/** float32 bit pattern -> binary16 bit pattern, round-to-nearest-even, overflow to inf, NaN kept. */
function f32BitsToF16Bits(x: number): number {
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  const mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x200 | (mant >>> 13) : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    // Subnormal f16 (or zero): shift the implicit-1 mantissa right by 13 + (1 - e) bits.
    if (e < -10) return sign;
    const full = mant | 0x800000;
    const shift = 14 - e;
    const half = 2 ** (shift - 1);
    let m = Math.floor(full / 2 ** shift);
    const rem = full - m * 2 ** shift;
    if (rem > half || (rem === half && (m & 1) === 1)) m++;
    return sign | m; // a carry into bit 10 correctly yields the smallest normal
  }
  let out = sign | (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (out & 1) === 1)) out++; // carry may reach inf: correct
  return out;
}

/** float32 values -> bfloat16 bit patterns (round-to-nearest-even; NaN stays a quiet NaN). */
export function fromFloat32ToBf16(src: Float32Array): Uint16Array {
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  const out = new Uint16Array(src.length);
  for (let i = 0; i < src.length; i++) {
    const b = bits[i]!;
    if ((b & 0x7fffffff) > 0x7f800000) {
      out[i] = (b >>> 16) | 0x40;
    } else {
      out[i] = ((b + 0x7fff + ((b >>> 16) & 1)) >>> 16) & 0xffff;
    }
  }
  return out;
}

/** float32 values -> float16 bit patterns (round-to-nearest-even, overflow to +-inf). */
export function fromFloat32ToF16(src: Float32Array): Uint16Array {
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  const out = new Uint16Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = f32BitsToF16Bits(bits[i]!);
  return out;
}

/** bfloat16 bit patterns -> float32 (exact: bf16 is the top half of an f32). */
export function bf16ToFloat32(src: Uint16Array): Float32Array {
  const out = new Float32Array(src.length);
  const bits = new Uint32Array(out.buffer);
  for (let i = 0; i < src.length; i++) bits[i] = src[i]! << 16;
  return out;
}

/** float16 bit patterns -> float32 (exact), through a lazily built 65536-entry table. */
export function f16ToFloat32(src: Uint16Array): Float32Array {
  if (f16Table === null) {
    f16Table = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) f16Table[h] = f16BitsToNumber(h);
  }
  const out = new Float32Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = f16Table[src[i]!]!;
  return out;
}

/**
 * Widens any RawTensor to a fresh Float32Array (f64 rounds, int64 beyond 2^24 rounds, bool -> 0/1).
 * @example toFloat32({ dtype: 'bfloat16', shape: [1], data: new Uint16Array([0x3f80]) }) // [1]
 */
export function toFloat32(t: RawTensor): Float32Array {
  switch (t.dtype) {
    case 'float16': return f16ToFloat32(t.data as Uint16Array);
    case 'bfloat16': return bf16ToFloat32(t.data as Uint16Array);
    case 'int64': {
      const src = t.data as BigInt64Array;
      const out = new Float32Array(src.length);
      for (let i = 0; i < src.length; i++) out[i] = Number(src[i]!);
      return out;
    }
    default:
      return Float32Array.from(t.data as Float32Array);
  }
}

/**
 * Builds a RawTensor of `dtype` from float32 values: floats round to nearest even, integer dtypes
 * truncate toward zero (a value out of the dtype's range throws), bool is x != 0.
 * @example fromFloat32(new Float32Array([1, 2]), [2], 'bfloat16').data // Uint16Array [0x3f80, 0x4000]
 */
export function fromFloat32(values: Float32Array, shape: number[], dtype: DType): RawTensor {
  const n = numelOf(shape);
  if (values.length !== n) {
    throw new Error(`fromFloat32: shape [${shape.join(', ')}] has ${n} elements but ${values.length} values were given`);
  }
  switch (dtype) {
    case 'float32': return { dtype, shape: [...shape], data: Float32Array.from(values) };
    case 'float64': return { dtype, shape: [...shape], data: Float64Array.from(values) };
    case 'float16': return { dtype, shape: [...shape], data: fromFloat32ToF16(values) };
    case 'bfloat16': return { dtype, shape: [...shape], data: fromFloat32ToBf16(values) };
    case 'bool': return { dtype, shape: [...shape], data: Uint8Array.from(values, (v) => (v !== 0 ? 1 : 0)) };
    case 'int64': {
      const out = new BigInt64Array(n);
      for (let i = 0; i < n; i++) out[i] = BigInt(intOf(values[i]!, dtype, -(2 ** 63), 2 ** 63));
      return { dtype, shape: [...shape], data: out };
    }
    default: {
      const bits = dtypeSize(dtype) * 8;
      const [lo, hi] = dtype === 'uint8' ? [0, 256] : [-(2 ** (bits - 1)), 2 ** (bits - 1)];
      const out = allocFor(dtype, n) as Int32Array | Int16Array | Int8Array | Uint8Array;
      for (let i = 0; i < n; i++) out[i] = intOf(values[i]!, dtype, lo, hi);
      return { dtype, shape: [...shape], data: out };
    }
  }
}

function intOf(v: number, dtype: DType, lo: number, hi: number): number {
  const t = Math.trunc(v);
  if (!Number.isFinite(t) || t < lo || t >= hi) {
    throw new Error(`fromFloat32: value ${v} does not fit in ${dtype} [${lo}, ${hi})`);
  }
  return t;
}
