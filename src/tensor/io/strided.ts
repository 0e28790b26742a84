/**
 * Materializes a strided view of a flat storage into fresh contiguous row-major bytes.
 *
 * PyTorch saves a tensor as (storage, storage_offset, size, stride), all counted in elements, so a
 * transposed weight or two slices of one buffer come back as views. We copy whole elements as
 * 1/2/4-byte words (8-byte elements as two 4-byte words) so bit patterns, NaN payloads included,
 * are preserved exactly.
 */

export interface StridedView {
  /** Element offset of view[0, ..., 0] in the storage. */
  offset: number;
  size: number[];
  stride: number[];
}

/**
 * Copies `view` of `storage` (elements of `elemSize` bytes) into a new contiguous byte array.
 * `what` names the file and key in errors.
 * @example
 *   // storage [0,1,2,3,4,5] as float32, a transposed 2x3 -> 3x2 view:
 *   materializeStrided(bytes, 4, { offset: 0, size: [3, 2], stride: [1, 3] }, 'f.bin: w')
 *   // -> bytes of [0,3,1,4,2,5]
 */
export function materializeStrided(storage: Uint8Array, elemSize: number, view: StridedView, what: string): Uint8Array {
  const { offset, size, stride } = view;
  const nd = size.length;
  if (stride.length !== nd) {
    throw new Error(`${what}: size [${size.join(', ')}] and stride [${stride.join(', ')}] have different lengths`);
  }
  const storageNumel = Math.floor(storage.length / elemSize);
  let numel = 1;
  for (const d of size) numel *= d;
  if (numel === 0) return new Uint8Array(0);
  let last = offset;
  for (let d = 0; d < nd; d++) last += (size[d]! - 1) * stride[d]!;
  if (last >= storageNumel) {
    throw new Error(
      `${what}: view (offset ${offset}, size [${size.join(', ')}], stride [${stride.join(', ')}]) reaches element ${last} ` +
        `but the storage holds ${storageNumel} elements (${storage.length} bytes)`,
    );
  }

  if (isContiguous(size, stride)) {
    return storage.slice(offset * elemSize, (offset + numel) * elemSize);
  }

  // Word size and words per element: 8-byte elements move as two 32-bit words.
  const unit = Math.min(elemSize, 4);
  const k = elemSize / unit;
  const src = wordView(storage, unit);
  const out = new Uint8Array(numel * elemSize);
  const dst = wordView(out, unit);
  const idx = new Array<number>(nd).fill(0);
  let pos = offset; // storage element index of the current output element
  for (let i = 0; i < numel; i++) {
    const s = pos * k;
    const o = i * k;
    for (let j = 0; j < k; j++) dst[o + j] = src[s + j]!;
    // Odometer over the output index, innermost dimension fastest.
    for (let d = nd - 1; d >= 0; d--) {
      idx[d]!++;
      pos += stride[d]!;
      if (idx[d]! < size[d]!) break;
      pos -= stride[d]! * size[d]!;
      idx[d] = 0;
    }
  }
  return out;
}

/** Row-major contiguity; dimensions of size 1 may carry any stride. */
export function isContiguous(size: number[], stride: number[]): boolean {
  let expect = 1;
  for (let d = size.length - 1; d >= 0; d--) {
    if (size[d] !== 1 && stride[d] !== expect) return false;
    expect *= size[d]!;
  }
  return true;
}

function wordView(bytes: Uint8Array, unit: number): Uint8Array | Uint16Array | Uint32Array {
  if (unit === 1) return bytes;
  let b = bytes;
  if (b.byteOffset % unit !== 0) b = b.slice(); // typed views must be aligned: copy
  const len = Math.floor(b.byteLength / unit);
  return unit === 2 ? new Uint16Array(b.buffer, b.byteOffset, len) : new Uint32Array(b.buffer, b.byteOffset, len);
}
