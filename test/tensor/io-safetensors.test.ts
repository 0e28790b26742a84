// safetensors: round trips for every dtype, a hand-assembled file, and precise errors on corruption.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeSafetensors, readSafetensors, readSafetensorsFile, writeSafetensors } from '../../src/tensor/io/safetensors.js';
import type { RawTensor } from '../../src/tensor/io/raw.js';

const dir = mkdtempSync(join(tmpdir(), 'retalign-safetensors-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** One tensor per dtype, with edge values (NaN, -0, extremes), odd sizes so offsets are unaligned. */
function everyDtype(): Record<string, RawTensor> {
  return {
    f32: { dtype: 'float32', shape: [2, 3], data: new Float32Array([1.5, -0, NaN, Infinity, -3.25e-39, 3.4028234663852886e38]) },
    f64: { dtype: 'float64', shape: [3], data: new Float64Array([Math.PI, -1e-310, 2 ** 60]) },
    f16: { dtype: 'float16', shape: [3], data: new Uint16Array([0x3c00, 0x8001, 0x7e01]) },
    bf16: { dtype: 'bfloat16', shape: [1, 3], data: new Uint16Array([0x3f80, 0xff80, 0x0001]) },
    i64: { dtype: 'int64', shape: [2], data: new BigInt64Array([-(2n ** 63n), 2n ** 63n - 1n]) },
    i32: { dtype: 'int32', shape: [1], data: new Int32Array([-123456789]) },
    i16: { dtype: 'int16', shape: [3], data: new Int16Array([-32768, 0, 32767]) },
    i8: { dtype: 'int8', shape: [5], data: new Int8Array([-128, -1, 0, 1, 127]) },
    u8: { dtype: 'uint8', shape: [1, 1, 3], data: new Uint8Array([0, 128, 255]) },
    bool: { dtype: 'bool', shape: [3], data: new Uint8Array([1, 0, 1]) },
    scalar: { dtype: 'float32', shape: [], data: new Float32Array([7]) },
    empty: { dtype: 'float32', shape: [0, 4], data: new Float32Array(0) },
  };
}

function bytesOfData(t: RawTensor): Buffer {
  return Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
}

/** Assembles a file by hand: u64 LE header length, header text as given (no padding), data. */
function handBuilt(header: string, data: number[]): Uint8Array {
  const h = new TextEncoder().encode(header);
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(h.length), true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
}

describe('safetensors round trip', () => {
  it('writes and reads back every dtype bit-exactly, with metadata, keys sorted', () => {
    const src = everyDtype();
    const p = join(dir, 'all.safetensors');
    writeSafetensors(p, src, { format: 'pt', note: 'made-up' });
    const { tensors, metadata } = readSafetensorsFile(p);
    assert.deepEqual(metadata, { format: 'pt', note: 'made-up' });
    assert.deepEqual([...tensors.keys()], Object.keys(src).sort());
    for (const [k, t] of Object.entries(src)) {
      const b = tensors.get(k)!;
      assert.equal(b.dtype, t.dtype, k);
      assert.deepEqual(b.shape, t.shape, k);
      assert.equal(b.data.constructor, t.data.constructor, k);
      assert.deepEqual(bytesOfData(b), bytesOfData(t), k);
    }
    assert.deepEqual(readdirSync(dir).filter((f) => f.startsWith('all.')), ['all.safetensors'], 'no temp file left');
  });

  it('lays out the header as the format says: padded to 8 bytes, sorted keys, offsets from the buffer start', () => {
    const bytes = encodeSafetensors(new Map<string, RawTensor>([
      ['b', { dtype: 'int16', shape: [2], data: new Int16Array([7, -8]) }],
      ['a', { dtype: 'float32', shape: [1], data: new Float32Array([1]) }],
    ]));
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    assert.equal(n % 8, 0);
    const text = new TextDecoder().decode(bytes.subarray(8, 8 + n));
    assert.equal(
      text.trimEnd(),
      '{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"I16","shape":[2],"data_offsets":[4,8]}}',
    );
    assert.match(text, /^[^ ]* *$/);
    assert.deepEqual(Array.from(bytes.subarray(8 + n)), [0x00, 0x00, 0x80, 0x3f, 0x07, 0x00, 0xf8, 0xff]);
  });

  it('overwrites an existing file atomically (rename) and rejects bad tensors before writing', () => {
    const p = join(dir, 'over.safetensors');
    writeSafetensors(p, { x: { dtype: 'uint8', shape: [1], data: new Uint8Array([1]) } });
    writeSafetensors(p, new Map([['y', { dtype: 'uint8', shape: [2], data: new Uint8Array([2, 3]) } as RawTensor]]));
    assert.deepEqual([...readSafetensors(p).keys()], ['y']);
    assert.throws(
      () => writeSafetensors(p, { h: { dtype: 'float16', shape: [2], data: new Float32Array(2) } }),
      /safetensors tensor 'h': dtype float16 needs a Uint16Array, got Float32Array/,
    );
    assert.throws(
      () => writeSafetensors(p, { w: { dtype: 'float32', shape: [2, 2], data: new Float32Array(3) } }),
      /safetensors tensor 'w': shape \[2, 2\] has 4 elements but data has 3/,
    );
    assert.deepEqual([...readSafetensors(p).keys()], ['y'], 'failed writes leave the old file');
    assert.deepEqual(readdirSync(dir).filter((f) => f.startsWith('over.')), ['over.safetensors']);
  });
});

describe('reading hand-built files', () => {
  it('reads a file with an unpadded header (unaligned data: copied, not viewed) and metadata', () => {
    // A 135-byte header puts the data buffer at byte 143: odd, so F32 views would be unaligned.
    const header =
      '{"b":{"dtype":"I16","shape":[2],"data_offsets":[8,12]},' +
      '"__metadata__":{"k":"v"},"a":{"dtype":"F32","shape":[2,1],"data_offsets":[0,8]}}';
    assert.equal((8 + header.length) % 2, 1);
    const f32 = new Uint8Array(new Float32Array([1.5, -2]).buffer);
    const bytes = handBuilt(header, [...f32, 7, 0, 0xf8, 0xff]);
    const { tensors, metadata } = readSafetensorsFile(bytes);
    assert.deepEqual(metadata, { k: 'v' });
    assert.deepEqual(tensors.get('a'), { dtype: 'float32', shape: [2, 1], data: new Float32Array([1.5, -2]) });
    assert.deepEqual(tensors.get('b'), { dtype: 'int16', shape: [2], data: new Int16Array([7, -8]) });
  });

  it('reads from a Buffer that sits at an odd offset of its ArrayBuffer', () => {
    const good = encodeSafetensors(everyDtype());
    const host = Buffer.alloc(good.length + 3);
    host.set(good, 3);
    const t = readSafetensors(host.subarray(3));
    assert.deepEqual(Array.from(t.get('i64')!.data as BigInt64Array), [-(2n ** 63n), 2n ** 63n - 1n]);
    assert.deepEqual(Array.from(t.get('f64')!.data as Float64Array), [Math.PI, -1e-310, 2 ** 60]);
  });

  it('reads a file written to disk by path, naming it in errors', () => {
    const p = join(dir, 'bad.safetensors');
    const header = '{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}';
    writeFileSync(p, handBuilt(header, [0, 0, 0, 0]));
    assert.equal(readFileSync(p).length, 8 + header.length + 4);
    assert.throws(
      () => readSafetensors(p),
      (e: Error) => e.message === `${p}: tensor 'x': data_offsets [0, 4] span 4 bytes but shape [2] x F32 needs 8`,
    );
  });
});

describe('corrupted safetensors give precise errors', () => {
  const B = '<safetensors buffer>';
  const cases: [string, Uint8Array, RegExp][] = [
    ['too short', new Uint8Array(5), /file is 5 bytes, too short/],
    ['header past end', handBuilt('{}', []).map((b, i) => (i === 0 ? 99 : b)), /header length 99 runs past the end of the file \(10 bytes\)/],
    ['absurd header length', (() => { const b = new Uint8Array(16); b[7] = 1; return b; })(), /header length 72057594037927936 exceeds/],
    ['invalid JSON', handBuilt('{"a":', []), /header is not valid UTF-8 JSON/],
    ['header is an array', handBuilt('[1,2]', []), /header JSON must be an object/],
    ['unknown dtype', handBuilt('{"w":{"dtype":"F33","shape":[1],"data_offsets":[0,4]}}', [0, 0, 0, 0]), /tensor 'w': unknown dtype 'F33' \(supported: F32, F64, F16, BF16, I64, I32, I16, I8, U8, BOOL\)/],
    ['valid but unsupported dtype', handBuilt('{"w":{"dtype":"U16","shape":[1],"data_offsets":[0,2]}}', [0, 0]), /tensor 'w': dtype U16 is valid safetensors but not supported here/],
    ['negative size', handBuilt('{"w":{"dtype":"U8","shape":[-1],"data_offsets":[0,0]}}', []), /tensor 'w': shape must be an array of integers >= 0, got \[-1\]/],
    ['bad offsets', handBuilt('{"w":{"dtype":"U8","shape":[1],"data_offsets":[0]}}', [0]), /tensor 'w': data_offsets must be \[begin, end\]/],
    ['end before begin', handBuilt('{"w":{"dtype":"U8","shape":[0],"data_offsets":[1,0]}}', [0]), /tensor 'w': data_offsets \[1, 0\] end before they begin/],
    ['out of range', handBuilt('{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}', [0, 0, 0, 0]), /tensor 'w': data_offsets \[0, 8\] run past the 4-byte data buffer/],
    ['size mismatch', handBuilt('{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}', [0, 0, 0, 0]), /tensor 'w': data_offsets \[0, 4\] span 4 bytes but shape \[2\] x F32 needs 8/],
    ['overlap', handBuilt('{"a":{"dtype":"I16","shape":[2],"data_offsets":[0,4]},"b":{"dtype":"I16","shape":[2],"data_offsets":[2,6]}}', [0, 0, 0, 0, 0, 0]), /tensor 'b': data_offsets \[2, 6\] overlap tensor 'a' \(which ends at 4\)/],
    ['gap', handBuilt('{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"b":{"dtype":"U8","shape":[1],"data_offsets":[2,3]}}', [0, 0, 0]), /tensor 'b': data_offsets start at 2 but the previous tensor 'a' ends at 1 \(gap of 1 bytes\)/],
    ['trailing bytes', handBuilt('{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}', [0, 9, 9]), /tensors cover 1 bytes of the 3-byte data buffer \(2 trailing bytes\)/],
    ['non-string metadata', handBuilt('{"__metadata__":{"epoch":3}}', []), /__metadata__\.epoch must be a string, got 3/],
  ];
  for (const [name, bytes, re] of cases) {
    it(name, () => {
      const check = (where: string) => (e: Error) =>
        (e.message.startsWith(`${where}: `) && re.test(e.message)) || assert.fail(`unexpected message: ${e.message}`);
      assert.throws(() => readSafetensors(bytes), check(B));
      // The same bytes from disk go through the file-descriptor reader: same message, file named.
      const p = join(dir, `corrupt-${name.replace(/\W+/g, '-')}.safetensors`);
      writeFileSync(p, bytes);
      assert.throws(() => readSafetensors(p), check(p));
    });
  }
});
