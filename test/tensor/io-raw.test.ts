// RawTensor helpers: 16-bit float conversions (hand-computed and exhaustive), widening/narrowing,
// checks, unaligned views, and strided materialization.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  bf16ToFloat32, checkRaw, f16BitsToNumber, f16ToFloat32, fromFloat32, fromFloat32ToBf16, fromFloat32ToF16,
  numelOf, toFloat32, viewAs,
} from '../../src/tensor/io/raw.js';
import { materializeStrided } from '../../src/tensor/io/strided.js';

const f32 = (...v: number[]) => new Float32Array(v);

describe('float16', () => {
  it('decodes hand-picked bit patterns', () => {
    assert.equal(f16BitsToNumber(0x3c00), 1);
    assert.equal(f16BitsToNumber(0xc000), -2);
    assert.equal(f16BitsToNumber(0x7bff), 65504);
    assert.equal(f16BitsToNumber(0x0001), 2 ** -24);
    assert.equal(f16BitsToNumber(0x0400), 2 ** -14);
    assert.ok(Object.is(f16BitsToNumber(0x8000), -0));
    assert.equal(f16BitsToNumber(0xfc00), -Infinity);
    assert.ok(Number.isNaN(f16BitsToNumber(0x7e00)));
  });

  it('rounds to nearest even at ties, in subnormals and at overflow', () => {
    const got = fromFloat32ToF16(f32(
      1 + 2 ** -11, // tie between 1 (even) and 1+2^-10 -> 1
      1 + 3 * 2 ** -11, // tie between 1+2^-10 (odd) and 1+2^-9 -> 1+2^-9
      65519, // below the tie -> 65504
      65520, // tie with 65536 (even, overflows) -> inf
      2 ** -25, // tie between 0 and 2^-24 -> 0
      3 * 2 ** -25, // tie between 2^-24 (odd) and 2^-23 -> 2^-23
      1023.5 * 2 ** -24, // largest-subnormal tie carries into the smallest normal
      -1e-10, // underflow keeps the sign
    ));
    assert.deepEqual(Array.from(got), [0x3c00, 0x3c02, 0x7bff, 0x7c00, 0x0000, 0x0002, 0x0400, 0x8000]);
  });

  it('round-trips all 65536 patterns through float32 (NaNs stay NaN)', () => {
    const all = new Uint16Array(65536).map((_, i) => i);
    const back = fromFloat32ToF16(f16ToFloat32(all));
    for (let h = 0; h < 65536; h++) {
      const isNaN = (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0;
      if (isNaN) assert.ok((back[h]! & 0x7c00) === 0x7c00 && (back[h]! & 0x3ff) !== 0, `NaN ${h}`);
      else assert.equal(back[h], h, `pattern 0x${h.toString(16)}`);
    }
  });
});

describe('bfloat16', () => {
  it('rounds to nearest even and keeps NaN quiet', () => {
    const got = fromFloat32ToBf16(f32(1, 1 + 2 ** -8, 1 + 3 * 2 ** -8, -2, 3.4028234663852886e38, NaN, -0));
    assert.deepEqual(Array.from(got), [0x3f80, 0x3f80, 0x3f82, 0xc000, 0x7f80, 0x7fc0, 0x8000]);
  });

  it('round-trips all 65536 patterns through float32 (NaNs stay NaN)', () => {
    const all = new Uint16Array(65536).map((_, i) => i);
    const wide = bf16ToFloat32(all);
    assert.equal(wide[0x3f80], 1);
    const back = fromFloat32ToBf16(wide);
    for (let h = 0; h < 65536; h++) {
      if ((h & 0x7f80) === 0x7f80 && (h & 0x7f) !== 0) assert.ok(Number.isNaN(wide[h]) && (back[h]! & 0x7f) !== 0);
      else assert.equal(back[h], h);
    }
  });
});

describe('toFloat32 / fromFloat32', () => {
  it('widens every dtype', () => {
    assert.deepEqual(toFloat32({ dtype: 'int64', shape: [2], data: new BigInt64Array([-3n, 2n ** 40n]) }), f32(-3, 2 ** 40));
    assert.deepEqual(toFloat32({ dtype: 'bool', shape: [2], data: new Uint8Array([1, 0]) }), f32(1, 0));
    assert.deepEqual(toFloat32({ dtype: 'float64', shape: [1], data: new Float64Array([0.1]) }), f32(0.1));
    assert.deepEqual(toFloat32({ dtype: 'int8', shape: [1], data: new Int8Array([-128]) }), f32(-128));
    assert.deepEqual(toFloat32({ dtype: 'float16', shape: [1], data: new Uint16Array([0x3555]) }), f32(0.333251953125));
    const src = f32(1, 2);
    const copy = toFloat32({ dtype: 'float32', shape: [2], data: src });
    copy[0] = 9;
    assert.equal(src[0], 1, 'always a fresh array');
  });

  it('narrows with truncation for integers and rejects out-of-range values', () => {
    assert.deepEqual(fromFloat32(f32(-1.7, 2.9, 0), [3], 'int32').data, new Int32Array([-1, 2, 0]));
    assert.deepEqual(fromFloat32(f32(255, 0.5), [2], 'uint8').data, new Uint8Array([255, 0]));
    assert.deepEqual(fromFloat32(f32(-5, 0, 0.25), [3], 'bool').data, new Uint8Array([1, 0, 1]));
    assert.deepEqual(fromFloat32(f32(-(2 ** 40)), [1], 'int64').data, new BigInt64Array([-(2n ** 40n)]));
    assert.deepEqual(fromFloat32(f32(1, 2), [2], 'bfloat16').data, new Uint16Array([0x3f80, 0x4000]));
    assert.throws(() => fromFloat32(f32(128), [1], 'int8'), /value 128 does not fit in int8 \[-128, 128\)/);
    assert.throws(() => fromFloat32(f32(-1), [1], 'uint8'), /value -1 does not fit in uint8/);
    assert.throws(() => fromFloat32(f32(1, 2), [3], 'float32'), /shape \[3\] has 3 elements but 2 values/);
  });
});

describe('checks and views', () => {
  it('numelOf and checkRaw name what is wrong', () => {
    assert.equal(numelOf([]), 1);
    assert.equal(numelOf([2, 0, 5]), 0);
    assert.throws(() => numelOf([2, 1.5]), /sizes must be integers >= 0, got 1.5/);
    assert.throws(() => checkRaw({ dtype: 'int64', shape: [1], data: new Int32Array(1) }, 'f: k'), /^Error: f: k: dtype int64 needs a BigInt64Array, got Int32Array$/);
    assert.throws(() => checkRaw({ dtype: 'float32', shape: [-1], data: new Float32Array(0) }, 'f: k'), /f: k: invalid shape/);
  });

  it('viewAs copies when the address is unaligned, views when aligned', () => {
    const bytes = new Uint8Array(12);
    new DataView(bytes.buffer).setFloat32(1, 2.5, true);
    new DataView(bytes.buffer).setFloat32(8, -1, true);
    const unaligned = viewAs('float32', bytes, 1, 1) as Float32Array;
    assert.deepEqual(unaligned, f32(2.5));
    assert.notEqual(unaligned.buffer, bytes.buffer);
    const aligned = viewAs('float32', bytes, 8, 1);
    assert.deepEqual(aligned, f32(-1));
    assert.equal(aligned.buffer, bytes.buffer);
  });
});

describe('materializeStrided', () => {
  const asBytes = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

  it('transposes, slices with offsets, steps and broadcasts (stride 0)', () => {
    const st = asBytes(f32(0, 1, 2, 3, 4, 5));
    const t = (offset: number, size: number[], stride: number[]) =>
      Array.from(new Float32Array(materializeStrided(st, 4, { offset, size, stride }, 'x').buffer));
    assert.deepEqual(t(0, [3, 2], [1, 3]), [0, 3, 1, 4, 2, 5]); // (2,3).t()
    assert.deepEqual(t(1, [2, 2], [3, 1]), [1, 2, 4, 5]); // (2,3)[:, 1:]
    assert.deepEqual(t(1, [3], [2]), [1, 3, 5]);
    assert.deepEqual(t(2, [2, 3], [0, 1]), [2, 3, 4, 2, 3, 4]);
    assert.deepEqual(t(4, [], []), [4]);
    assert.deepEqual(t(0, [0, 7], [7, 1]), []);
  });

  it('moves 8-byte elements whole, from an unaligned storage', () => {
    const host = new Uint8Array(8 * 4 + 1);
    const st = host.subarray(1);
    const dv = new DataView(st.buffer, st.byteOffset);
    [-1n, 2n ** 62n, 3n, -(2n ** 63n)].forEach((v, i) => dv.setBigInt64(i * 8, v, true));
    const out = materializeStrided(st, 8, { offset: 0, size: [2, 2], stride: [1, 2] }, 'x');
    assert.deepEqual(Array.from(new BigInt64Array(out.buffer)), [-1n, 3n, 2n ** 62n, -(2n ** 63n)]);
  });

  it('rejects views that leave the storage or disagree in rank', () => {
    const st = new Uint8Array(16);
    assert.throws(
      () => materializeStrided(st, 4, { offset: 1, size: [2, 2], stride: [2, 1] }, 'f.bin: w'),
      /f\.bin: w: view \(offset 1, size \[2, 2\], stride \[2, 1\]\) reaches element 4 but the storage holds 4 elements \(16 bytes\)/,
    );
    assert.throws(() => materializeStrided(st, 4, { offset: 0, size: [2], stride: [1, 1] }, 'f.bin: w'), /different lengths/);
  });
});
