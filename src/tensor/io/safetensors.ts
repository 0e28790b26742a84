/**
 * Hugging Face safetensors, read and written in plain TypeScript.
 *
 * Layout: u64 little-endian N | N bytes of UTF-8 JSON header | byte buffer. The header maps each
 * tensor name to {dtype, shape, data_offsets: [begin, end]} (offsets relative to the buffer start),
 * plus an optional "__metadata__": {string: string}. Like the reference implementation we require
 * the tensors to tile the buffer exactly (no overlap, no gap, no trailing bytes). We write keys
 * sorted, data in key order, and pad the header with spaces to a multiple of 8 bytes so every
 * tensor starts 8-byte aligned (reads from bytes can then be zero-copy views).
 */
import { closeSync, fstatSync, openSync } from 'node:fs';
import { readExactly, writeAtomic } from './file.js';
import {
  allocFor, assertLittleEndianHost, bytesOf, checkRaw, dtypeSize, numelOf, viewAs,
  type DType, type RawTensor,
} from './raw.js';

/** safetensors dtype code <-> our DType. */
const CODE_TO_DTYPE: Record<string, DType> = {
  F32: 'float32', F64: 'float64', F16: 'float16', BF16: 'bfloat16', I64: 'int64',
  I32: 'int32', I16: 'int16', I8: 'int8', U8: 'uint8', BOOL: 'bool',
};
const DTYPE_TO_CODE: Record<DType, string> = {
  float32: 'F32', float64: 'F64', float16: 'F16', bfloat16: 'BF16', int64: 'I64',
  int32: 'I32', int16: 'I16', int8: 'I8', uint8: 'U8', bool: 'BOOL',
};
/** Valid in the format but without a RawTensor dtype: named in the error instead of "unknown". */
const KNOWN_UNSUPPORTED = ['U16', 'U32', 'U64', 'F8_E4M3', 'F8_E5M2', 'F8_E8M0', 'F4', 'F6_E2M3', 'F6_E3M2', 'C64'];

/** Same bound as the reference reader: a header larger than this is corruption, not a model. */
const MAX_HEADER_BYTES = 100_000_000;

export interface SafetensorsFile {
  tensors: Map<string, RawTensor>;
  /** The "__metadata__" entry ({} when absent). */
  metadata: Record<string, string>;
}

/**
 * Reads the tensors of a safetensors file (or its bytes), keys sorted. From a path every tensor
 * gets its own array; from bytes, tensors are views into them where aligned (copies otherwise),
 * so mutate one only if you own the input.
 * @example
 *   readSafetensors('model.safetensors').get('fc.weight')
 *   // { dtype: 'float32', shape: [10, 4], data: Float32Array(40) }
 */
export function readSafetensors(src: string | Uint8Array): Map<string, RawTensor> {
  return readSafetensorsFile(src).tensors;
}

/**
 * Like readSafetensors, plus the header's "__metadata__".
 * @example const { tensors, metadata } = readSafetensorsFile('model.safetensors'); metadata.format // 'pt'
 */
export function readSafetensorsFile(src: string | Uint8Array): SafetensorsFile {
  assertLittleEndianHost();
  if (typeof src !== 'string') return readFromBytes(src, '<safetensors buffer>');
  // From a path: read the header, then each tensor straight into its own aligned array (no
  // whole-file buffer, so files over 2 GiB work and tensors do not pin one another).
  const fd = openSync(src, 'r');
  try {
    const fail = failFor(src);
    const size = fstatSync(fd).size;
    const lenBytes = new Uint8Array(Math.min(8, size));
    readExactly(fd, lenBytes, 0, src);
    const n = headerLength(lenBytes, size, fail);
    const headerBytes = new Uint8Array(n);
    readExactly(fd, headerBytes, 8, src);
    const { entries, metadata } = parseHeader(headerBytes, size - 8 - n, fail);
    const tensors = new Map<string, RawTensor>();
    for (const e of entries) {
      const data = allocFor(e.dtype, (e.end - e.begin) / dtypeSize(e.dtype));
      readExactly(fd, bytesOf({ dtype: e.dtype, shape: e.shape, data }), 8 + n + e.begin, src);
      tensors.set(e.key, { dtype: e.dtype, shape: e.shape, data });
    }
    return { tensors, metadata };
  } finally {
    closeSync(fd);
  }
}

function readFromBytes(bytes: Uint8Array, where: string): SafetensorsFile {
  const fail = failFor(where);
  const n = headerLength(bytes, bytes.length, fail);
  const { entries, metadata } = parseHeader(bytes.subarray(8, 8 + n), bytes.length - 8 - n, fail);
  const tensors = new Map<string, RawTensor>();
  for (const e of entries) {
    const numel = (e.end - e.begin) / dtypeSize(e.dtype);
    tensors.set(e.key, { dtype: e.dtype, shape: e.shape, data: viewAs(e.dtype, bytes, 8 + n + e.begin, numel) });
  }
  return { tensors, metadata };
}

function failFor(where: string): (msg: string) => never {
  return (msg: string): never => {
    throw new Error(`${where}: ${msg}`);
  };
}

/** Header length N from the first 8 bytes, checked against the file size. */
function headerLength(first: Uint8Array, fileSize: number, fail: (m: string) => never): number {
  if (first.length < 8 || fileSize < 8) fail(`file is ${fileSize} bytes, too short for the 8-byte header length`);
  const n64 = new DataView(first.buffer, first.byteOffset, 8).getBigUint64(0, true);
  if (n64 > BigInt(MAX_HEADER_BYTES)) fail(`header length ${n64} exceeds the ${MAX_HEADER_BYTES}-byte limit (not a safetensors file?)`);
  const n = Number(n64);
  if (8 + n > fileSize) fail(`header length ${n} runs past the end of the file (${fileSize} bytes)`);
  return n;
}

interface Entry {
  key: string;
  dtype: DType;
  shape: number[];
  begin: number;
  end: number;
}

/** Parses and validates the JSON header; entries come back sorted by key. */
function parseHeader(
  headerBytes: Uint8Array, dataLen: number, fail: (m: string) => never,
): { entries: Entry[]; metadata: Record<string, string> } {
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(headerBytes));
  } catch (e) {
    fail(`header is not valid UTF-8 JSON: ${(e as Error).message}`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) {
    fail('header JSON must be an object {name: {dtype, shape, data_offsets}}');
  }

  const metadata: Record<string, string> = {};
  const entries: Entry[] = [];
  for (const [key, raw] of Object.entries(header as Record<string, unknown>)) {
    if (key === '__metadata__') {
      if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail('__metadata__ must be an object of strings');
      for (const [mk, mv] of Object.entries(raw as Record<string, unknown>)) {
        if (typeof mv !== 'string') fail(`__metadata__.${mk} must be a string, got ${JSON.stringify(mv)}`);
        metadata[mk] = mv as string;
      }
      continue;
    }
    entries.push(parseEntry(key, raw, dataLen, fail));
  }

  // Tensors must tile [0, dataLen) exactly: sort by begin and walk.
  const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let pos = 0;
  let prev: string | null = null;
  for (const e of sorted) {
    if (e.begin < pos) {
      fail(`tensor '${e.key}': data_offsets [${e.begin}, ${e.end}] overlap tensor '${prev}' (which ends at ${pos})`);
    }
    if (e.begin > pos) {
      fail(`tensor '${e.key}': data_offsets start at ${e.begin} but the previous tensor${prev === null ? '' : ` '${prev}'`} ends at ${pos} (gap of ${e.begin - pos} bytes)`);
    }
    if (e.end > pos) {
      pos = e.end;
      prev = e.key;
    }
  }
  if (pos !== dataLen) fail(`tensors cover ${pos} bytes of the ${dataLen}-byte data buffer (${dataLen - pos} trailing bytes)`);
  entries.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return { entries, metadata };
}

function parseEntry(key: string, raw: unknown, dataLen: number, fail: (msg: string) => never): Entry {
  const t = `tensor '${key}'`;
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail(`${t}: entry must be an object {dtype, shape, data_offsets}`);
  const o = raw as Record<string, unknown>;
  const code = o['dtype'];
  if (typeof code !== 'string') fail(`${t}: missing or non-string dtype`);
  const dtype = CODE_TO_DTYPE[code as string];
  if (dtype === undefined) {
    const valid = Object.keys(CODE_TO_DTYPE).join(', ');
    if (KNOWN_UNSUPPORTED.includes(code as string)) fail(`${t}: dtype ${String(code)} is valid safetensors but not supported here (supported: ${valid})`);
    fail(`${t}: unknown dtype '${String(code)}' (supported: ${valid})`);
  }
  const shape = o['shape'];
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 0)) {
    fail(`${t}: shape must be an array of integers >= 0, got ${JSON.stringify(shape)}`);
  }
  const offs = o['data_offsets'];
  if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((d) => Number.isSafeInteger(d) && (d as number) >= 0)) {
    fail(`${t}: data_offsets must be [begin, end] with integers >= 0, got ${JSON.stringify(offs)}`);
  }
  const [begin, end] = offs as [number, number];
  if (end < begin) fail(`${t}: data_offsets [${begin}, ${end}] end before they begin`);
  if (end > dataLen) fail(`${t}: data_offsets [${begin}, ${end}] run past the ${dataLen}-byte data buffer`);
  const numel = numelOf(shape as number[]);
  const want = numel * dtypeSize(dtype!);
  if (end - begin !== want) {
    fail(`${t}: data_offsets [${begin}, ${end}] span ${end - begin} bytes but shape [${(shape as number[]).join(', ')}] x ${code} needs ${want}`);
  }
  return { key, dtype: dtype!, shape: [...(shape as number[])], begin, end };
}

/**
 * Serializes tensors to safetensors bytes (keys sorted, header padded to 8 bytes).
 * @example encodeSafetensors({ w: { dtype: 'float32', shape: [2], data: new Float32Array([1, 2]) } })
 */
export function encodeSafetensors(
  tensors: Map<string, RawTensor> | Record<string, RawTensor>,
  metadata?: Record<string, string>,
): Uint8Array {
  const parts = encodeParts(tensors, metadata);
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let pos = 0;
  for (const p of parts) {
    out.set(p, pos);
    pos += p.length;
  }
  return out;
}

/** [length + padded header, then each tensor's bytes as a view]: no copy of the data. */
function encodeParts(
  tensors: Map<string, RawTensor> | Record<string, RawTensor>,
  metadata?: Record<string, string>,
): Uint8Array[] {
  assertLittleEndianHost();
  const map = tensors instanceof Map ? tensors : new Map(Object.entries(tensors));
  const keys = [...map.keys()].sort();
  const header: Record<string, unknown> = {};
  if (metadata !== undefined && Object.keys(metadata).length > 0) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new Error(`safetensors metadata '${k}' must be a string, got ${JSON.stringify(v)}`);
    }
    header['__metadata__'] = Object.fromEntries(Object.entries(metadata).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  }
  let offset = 0;
  const data: Uint8Array[] = [];
  for (const key of keys) {
    if (key === '__metadata__') throw new Error(`safetensors: '__metadata__' is reserved and cannot name a tensor`);
    const t = map.get(key)!;
    checkRaw(t, `safetensors tensor '${key}'`);
    const size = t.data.byteLength;
    header[key] = { dtype: DTYPE_TO_CODE[t.dtype], shape: t.shape, data_offsets: [offset, offset + size] };
    offset += size;
    data.push(bytesOf(t));
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const padded = json.length + ((8 - (json.length % 8)) % 8);
  const head = new Uint8Array(8 + padded).fill(0x20, 8 + json.length); // pad with spaces
  new DataView(head.buffer).setBigUint64(0, BigInt(padded), true);
  head.set(json, 8);
  return [head, ...data];
}

/**
 * Writes a safetensors file atomically (temp file beside `path`, fsync, rename), so readers never
 * see a half-written file; a failed write leaves any old file in place.
 * @example writeSafetensors('out.safetensors', new Map([['b', raw]]), { format: 'pt' })
 */
export function writeSafetensors(
  path: string,
  tensors: Map<string, RawTensor> | Record<string, RawTensor>,
  metadata?: Record<string, string>,
): void {
  writeAtomic(path, encodeParts(tensors, metadata));
}
