/**
 * Reads PyTorch state dicts saved with torch.save (zip format, torch >= 1.6) in plain TypeScript.
 *
 * A file is a zip with `<archive>/data.pkl` (a pickle of the dict) and one raw little-endian entry
 * per storage, `<archive>/data/<key>`. The pickle rebuilds each tensor with
 * `torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)` (v3 adds an explicit dtype
 * such as `torch.float32` over an untyped byte storage, torch 2.x); the storage itself is a
 * persistent id ('storage', torch.FloatStorage, key, location, numel). We unpickle with
 * `pickleparser`, mapping those names to small descriptors, then copy every view (offset, sizes,
 * strides) out of its storage into a contiguous RawTensor.
 *
 * Nesting: dicts and lists inside the top-level dict are flattened with '.', e.g.
 * {'model': {'fc.weight': W}, 'epoch': 3} -> 'model.fc.weight' (non-tensor leaves such as 'epoch' are
 * skipped and listed by readTorchCheckpoint). Pass { prefix: 'model' } to get the inner dict back
 * with its own keys ('fc.weight').
 */
import { unzipSync } from 'fflate';
import { Parser } from 'pickleparser';
import { readWholeFile } from './file.js';
import { assertLittleEndianHost, dtypeSize, numelOf, viewAs, type DType, type RawTensor } from './raw.js';
import { isContiguous, materializeStrided } from './strided.js';
import { describePickled, StorageRef, TensorRef, torchNameRegistry, UnsupportedTensor, tokenDType } from './torch-names.js';

export interface TorchCheckpoint {
  /** Flattened tensor keys, in pickle (insertion) order. */
  tensors: Map<string, RawTensor>;
  /** Keys of non-tensor leaves that were left out (e.g. 'epoch', 'args'). */
  skipped: string[];
}

export interface TorchReadOptions {
  /** Keep only keys under this flattened prefix and strip it ('model' turns 'model.fc.w' into 'fc.w'). */
  prefix?: string;
}

/** Errors that already name the file, so wrappers do not prefix it twice. */
class TorchFileError extends Error {}

/** First bytes of a legacy (pre-1.6, non-zip) torch.save file: protocol 2 + LONG1 of the magic 0x1950a86a20f9469cfc6c. */
const LEGACY_MAGIC = [0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];

/**
 * Reads a PyTorch .bin/.pt state dict into flattened, contiguous tensors.
 * @example
 *   const sd = readTorchStateDict('pytorch_model.bin');
 *   sd.get('encoder.layer.0.attention.self.query.weight') // { dtype: 'float32', shape: [768, 768], data }
 *   readTorchStateDict('ckpt.pt', { prefix: 'model' })    // the inner {'model': state_dict}
 */
export function readTorchStateDict(src: string | Uint8Array, options: TorchReadOptions = {}): Map<string, RawTensor> {
  return readTorchCheckpoint(src, options).tensors;
}

/**
 * Like readTorchStateDict, and also lists the non-tensor leaves that were skipped.
 * @example readTorchCheckpoint('ckpt.pt').skipped // ['epoch', 'optimizer.param_groups']
 */
export function readTorchCheckpoint(src: string | Uint8Array, options: TorchReadOptions = {}): TorchCheckpoint {
  assertLittleEndianHost();
  const file = typeof src === 'string' ? src : '<torch buffer>';
  const bytes = typeof src === 'string' ? readWholeFile(src) : src;
  const fail = (msg: string): never => {
    throw new TorchFileError(`${file}: ${msg}`);
  };

  if (LEGACY_MAGIC.every((b, i) => bytes[i] === b)) {
    fail(
      'legacy (pre-zip) torch.save format is not supported. Re-save it in Python with ' +
        "torch.save(torch.load(path, map_location='cpu'), new_path, _use_new_zipfile_serialization=True) " +
        '(the default since torch 1.6), or convert it to safetensors.',
    );
  }
  if (!(bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04)) {
    const head = Array.from(bytes.subarray(0, 8), (b) => b.toString(16).padStart(2, '0')).join(' ');
    fail(`not a PyTorch zip checkpoint (expected a zip starting with 'PK\\x03\\x04', first bytes: ${head || 'none'})`);
  }

  // First pass: list the entries and extract only the pickle and byteorder; storages come later,
  // one at a time (see StorageEntries), so peak memory stays near file + output.
  const names: string[] = [];
  let entries: Record<string, Uint8Array>;
  try {
    entries = unzipSync(bytes, {
      filter: (f) => {
        names.push(f.name);
        return /^[^/]+\/(data\.pkl|byteorder)$/.test(f.name);
      },
    });
  } catch (e) {
    return fail(`cannot unzip: ${(e as Error).message}`);
  }
  const pkls = names.filter((n) => /^[^/]+\/data\.pkl$/.test(n));
  if (pkls.length !== 1) {
    fail(`expected exactly one '<archive>/data.pkl' entry, found ${pkls.length} (entries: ${names.slice(0, 12).join(', ')}${names.length > 12 ? ', ...' : ''})`);
  }
  const archive = pkls[0]!.slice(0, -'/data.pkl'.length);
  const order = entries[`${archive}/byteorder`];
  if (order !== undefined && new TextDecoder().decode(order).trim() !== 'little') {
    fail(`storages are stored '${new TextDecoder().decode(order).trim()}'-endian; only little-endian files are supported`);
  }

  const storages = new Map<string, StorageRef>();
  const parser = new Parser({
    nameResolver: torchNameRegistry(),
    persistentResolver: { resolve: (pid: unknown) => resolveStorage(pid, storages, fail) },
    unpicklingTypeOfDictionary: 'Map',
  });
  let root: unknown;
  try {
    root = parser.parse(entries[pkls[0]!]!);
  } catch (e) {
    if (e instanceof TorchFileError) throw e; // already names the file (raised by resolveStorage)
    return fail(`cannot unpickle ${pkls[0]}: ${(e as Error).message}`);
  }
  if (!(root instanceof Map)) {
    fail(`top-level object is ${describePickled(root)}, expected a dict of tensors (a state dict)`);
  }

  const refs = new Map<string, TensorRef>();
  const skipped: string[] = [];
  flatten(root, '', refs, skipped, new Set(), fail);

  let selected = [...refs];
  let skippedOut = skipped;
  if (options.prefix !== undefined && options.prefix !== '') {
    const p = `${options.prefix}.`;
    selected = selected.filter(([k]) => k.startsWith(p)).map(([k, r]) => [k.slice(p.length), r]);
    if (selected.length === 0) {
      const tops = [...new Set([...refs.keys()].map((k) => k.split('.')[0]))];
      const shown = tops.slice(0, 30).join(', ') + (tops.length > 30 ? ', ...' : '');
      fail(`no tensors under prefix '${options.prefix}' (top-level names with tensors: ${shown || 'none'})`);
    }
    skippedOut = skipped.filter((k) => k.startsWith(p)).map((k) => k.slice(p.length));
  }

  const store = new StorageEntries(bytes, new Set(names), fail);
  for (const [, ref] of selected) if (ref.storage instanceof StorageRef) store.expect(`${archive}/data/${ref.storage.key}`);
  const tensors = new Map<string, RawTensor>();
  for (const [key, ref] of selected) {
    tensors.set(key, materialize(ref, store, archive, `${file}: tensor '${key}'`));
  }
  return { tensors, skipped: skippedOut };
}

/**
 * Storage entries extracted on first use and dropped after their last tensor is copied. A tensor
 * that is the sole, whole, contiguous user of its storage takes the extracted bytes as they are.
 */
class StorageEntries {
  private readonly cache = new Map<string, Uint8Array>();
  private readonly users = new Map<string, number>();
  constructor(
    private readonly zip: Uint8Array,
    private readonly names: Set<string>,
    private readonly fail: (m: string) => never,
  ) {}

  expect(name: string): void {
    this.users.set(name, (this.users.get(name) ?? 0) + 1);
  }

  /** The entry's bytes (a fresh copy at byte offset 0), or undefined when the zip lacks it. */
  get(name: string): Uint8Array | undefined {
    const hit = this.cache.get(name);
    if (hit !== undefined || !this.names.has(name)) return hit;
    let out: Uint8Array | undefined;
    try {
      out = unzipSync(this.zip, { filter: (f) => f.name === name })[name];
    } catch (e) {
      this.fail(`cannot unzip '${name}': ${(e as Error).message}`);
    }
    if (out !== undefined) this.cache.set(name, out);
    return out;
  }

  /** Marks one use done; true when it was the last, so the caller may keep the bytes. */
  release(name: string): boolean {
    const left = (this.users.get(name) ?? 1) - 1;
    this.users.set(name, left);
    if (left > 0) return false;
    this.cache.delete(name);
    return true;
  }
}

/** ('storage', <storage type>, key, location, numel) -> StorageRef, one per key. */
function resolveStorage(pid: unknown, storages: Map<string, StorageRef>, fail: (m: string) => never): StorageRef {
  if (!Array.isArray(pid) || pid.length < 5 || pid[0] !== 'storage') {
    return fail(`unexpected persistent id ${describePickled(pid)} (expected ('storage', type, key, location, numel))`);
  }
  const [, type, key, location, numel] = pid as unknown[];
  if (typeof key !== 'string') return fail(`persistent id storage key must be a string, got ${describePickled(key)}`);
  const known = storages.get(key);
  if (known !== undefined) return known;
  if (typeof numel !== 'number' || !Number.isSafeInteger(numel) || numel < 0) {
    return fail(`storage '${key}' has invalid element count ${describePickled(numel)}`);
  }
  // A storage we cannot read is reported when a tensor uses it, so the error can name that tensor.
  const info = tokenDType(type);
  let problem: string | undefined;
  if (info === undefined || info.kind !== 'storage') problem = `has unknown storage type ${describePickled(type)}`;
  else if (info.unsupported) problem = `has type ${info.name}, which is not supported`;
  const ref = new StorageRef(
    key, info?.name ?? describePickled(type), info?.dtype ?? null, numel,
    typeof location === 'string' ? location : String(location), problem,
  );
  storages.set(key, ref);
  return ref;
}

/** Walks dicts (Map) and lists (Array) collecting tensors under dotted keys. */
function flatten(
  value: unknown, prefix: string, out: Map<string, TensorRef>, skipped: string[], onPath: Set<unknown>,
  fail: (m: string) => never,
): void {
  if (value instanceof TensorRef) {
    if (out.has(prefix)) fail(`two tensors flatten to the same key '${prefix}'`);
    out.set(prefix, value);
    return;
  }
  if (value instanceof UnsupportedTensor) {
    fail(`tensor '${prefix}' is a ${value.kind} tensor (${value.rebuild}), which is not supported; save a dense CPU tensor`);
  }
  const children: [string, unknown][] =
    value instanceof Map ? [...value].map(([k, v]) => [String(k), v]) : Array.isArray(value) ? value.map((v, i) => [String(i), v]) : [];
  if (children.length === 0 || onPath.has(value)) {
    if (prefix !== '') skipped.push(prefix);
    return;
  }
  onPath.add(value);
  for (const [k, v] of children) {
    const name = prefix === '' ? k : `${prefix}.${k}`;
    if (holdsTensor(v, new Set([...onPath]))) flatten(v, name, out, skipped, onPath, fail);
    else skipped.push(name);
  }
  onPath.delete(value);
}

function holdsTensor(value: unknown, onPath: Set<unknown>): boolean {
  if (value instanceof TensorRef || value instanceof UnsupportedTensor) return true;
  if (!(value instanceof Map) && !Array.isArray(value)) return false;
  if (onPath.has(value)) return false;
  onPath.add(value);
  const items = value instanceof Map ? [...value.values()] : value;
  return items.some((v) => holdsTensor(v, onPath));
}

/** Resolves dtype and storage bytes of one tensor and copies its view out contiguously. */
function materialize(ref: TensorRef, store: StorageEntries, archive: string, what: string): RawTensor {
  const storage = ref.storage;
  if (!(storage instanceof StorageRef)) {
    throw new Error(`${what}: storage argument is ${describePickled(storage)}, expected a persistent storage`);
  }
  if (storage.problem !== undefined) throw new Error(`${what}: storage '${storage.key}' ${storage.problem}`);
  let dtype: DType | null = storage.dtype;
  if (ref.dtype !== undefined) {
    const info = tokenDType(ref.dtype);
    if (info === undefined || info.kind !== 'dtype') throw new Error(`${what}: dtype argument ${describePickled(ref.dtype)} is not a torch dtype`);
    if (info.dtype === null) throw new Error(`${what}: dtype ${info.name} is not supported`);
    dtype = info.dtype;
  }
  if (dtype === null) throw new Error(`${what}: storage '${storage.key}' is untyped (${storage.typeName}) and the tensor names no dtype`);

  const entryName = `${archive}/data/${storage.key}`;
  const bytes = store.get(entryName);
  if (bytes === undefined) throw new Error(`${what}: storage '${storage.key}' is missing from the zip (no entry '${entryName}')`);
  const storageBytes = storage.numel * (storage.dtype === null ? 1 : dtypeSize(storage.dtype));
  if (bytes.length !== storageBytes) {
    throw new Error(
      `${what}: zip entry '${entryName}' has ${bytes.length} bytes but the pickle declares a ${storage.typeName} of ` +
        `${storage.numel} elements (${storageBytes} bytes)`,
    );
  }

  const size = intList(ref.size, 'size', what);
  const stride = intList(ref.stride, 'stride', what);
  const offset = ref.offset;
  if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0) {
    throw new Error(`${what}: storage offset must be an integer >= 0, got ${describePickled(offset)}`);
  }
  const numel = numelOf(size);
  const elem = dtypeSize(dtype);
  const last = store.release(entryName);
  // Sole user of the whole storage (the common case): hand over the extracted bytes, no copy.
  const whole = last && offset === 0 && numel * elem === bytes.length && isContiguous(size, stride);
  const out = whole ? bytes : materializeStrided(bytes, elem, { offset, size, stride }, what);
  return { dtype, shape: size, data: viewAs(dtype, out, 0, numel) };
}

function intList(v: unknown, name: string, what: string): number[] {
  if (!Array.isArray(v) || !v.every((d) => typeof d === 'number' && Number.isSafeInteger(d) && d >= 0)) {
    throw new Error(`${what}: ${name} must be a tuple of integers >= 0, got ${describePickled(v)}`);
  }
  return [...(v as number[])];
}
