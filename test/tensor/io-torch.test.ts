// PyTorch .bin/.pt reading, checked against files written by real torch (Debian python3-torch 1.13)
// through test/fixtures/make_torch_bin.py, plus hand-made torch 2.x style (v3) pickles.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { unzipSync, zipSync } from 'fflate';
import { readTorchCheckpoint, readTorchStateDict } from '../../src/tensor/io/torch-bin.js';
import { readSafetensors, writeSafetensors } from '../../src/tensor/io/safetensors.js';
import { fromFloat32ToBf16, fromFloat32ToF16, toFloat32, type RawTensor } from '../../src/tensor/io/raw.js';

const PYTHON = '/usr/bin/python3';

interface Expected {
  dtype: string;
  shape: number[];
  values: (number | string)[];
  bits?: number[];
}
interface ExpectedFile {
  tensors: Record<string, Expected>;
  skipped?: string[];
  conversions?: { f32: (number | string)[]; f16: number[]; bf16: number[] };
}

/** Repo root: walk up from this file (test/tensor or dist/test/tensor) to the generator script. */
function generatorPath(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const p = join(dir, 'test', 'fixtures', 'make_torch_bin.py');
    if (existsSync(p)) return p;
    dir = dirname(dir);
  }
  throw new Error('cannot find test/fixtures/make_torch_bin.py above ' + fileURLToPath(import.meta.url));
}

function num(v: number | string): number {
  if (typeof v === 'number') return v;
  if (v === 'NaN') return NaN;
  if (v === 'Infinity') return Infinity;
  if (v === '-Infinity') return -Infinity;
  if (v === '-0') return -0;
  throw new Error(`bad expected value ${v}`);
}

function assertMatches(key: string, got: RawTensor | undefined, exp: Expected): void {
  assert.ok(got, `missing tensor '${key}'`);
  assert.equal(got.dtype, exp.dtype, `${key}: dtype`);
  assert.deepEqual(got.shape, exp.shape, `${key}: shape`);
  assert.equal(got.data.length, exp.values.length, `${key}: numel`);
  if (exp.bits !== undefined) {
    assert.deepEqual(Array.from(got.data as Uint16Array), exp.bits, `${key}: raw 16-bit patterns`);
    const f = toFloat32(got);
    exp.values.forEach((v, i) => assert.ok(Object.is(f[i], num(v)), `${key}[${i}]: ${f[i]} != ${v}`));
  } else if (exp.dtype === 'int64') {
    assert.deepEqual(Array.from(got.data as BigInt64Array), exp.values.map((v) => BigInt(v)), `${key}: values`);
  } else {
    const arr = Array.from(got.data as Float64Array);
    exp.values.forEach((v, i) => assert.ok(Object.is(arr[i], num(v)), `${key}[${i}]: ${arr[i]} != ${v}`));
  }
}

interface Fixtures {
  dir: string;
  expected: ExpectedFile;
  expectedV3: ExpectedFile;
}
let made: Fixtures | Error | null = null;

/**
 * Runs the generator once (memoized). A missing torch fails every test that needs it with the apt
 * package to install, rather than cancelling the file from a hook with a buried message.
 */
function fx(): Fixtures {
  if (made === null) made = makeFixtures();
  if (made instanceof Error) throw made;
  return made;
}

function makeFixtures(): Fixtures | Error {
  if (!existsSync(PYTHON)) {
    return new Error(`${PYTHON} is missing: these tests need Debian's python3 with torch (apt-get install python3 python3-torch)`);
  }
  const dir = mkdtempSync(join(tmpdir(), 'retalign-torchbin-'));
  const r = spawnSync(PYTHON, [generatorPath(), dir], { cwd: dir, encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    return new Error(
      /No module named 'torch'/.test(r.stderr ?? '')
        ? `${PYTHON} has no torch module: install Debian's python3-torch (apt-get install python3-torch)`
        : `make_torch_bin.py failed (status ${r.status}, ${r.error?.message ?? 'no spawn error'}): ${r.stderr}`,
    );
  }
  return {
    dir,
    expected: JSON.parse(readFileSync(join(dir, 'expected.json'), 'utf8')) as ExpectedFile,
    expectedV3: JSON.parse(readFileSync(join(dir, 'expected_v3.json'), 'utf8')) as ExpectedFile,
  };
}

after(() => {
  if (made !== null && !(made instanceof Error)) rmSync(made.dir, { recursive: true, force: true });
});

describe('readTorchStateDict on torch.save files', () => {
  it('matches keys (in order), dtypes, shapes and values exactly, views materialized', () => {
    const { dir, expected } = fx();
    const sd = readTorchStateDict(join(dir, 'state.bin'));
    assert.deepEqual([...sd.keys()], Object.keys(expected.tensors));
    for (const [key, exp] of Object.entries(expected.tensors)) assertMatches(key, sd.get(key), exp);
    // Spot checks by hand: transposed arange(12).reshape(3,4) and the offset slice of arange(40)*0.5.
    assert.deepEqual(Array.from(sd.get('transposed')!.data as Float32Array), [0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11]);
    assert.deepEqual(Array.from(sd.get('slice_a')!.data as Float64Array), [1, 1.5, 2, 2.5, 3]);
    assert.deepEqual(sd.get('scalar'), { dtype: 'float32', shape: [], data: new Float32Array([3.5]) });
    assert.deepEqual(sd.get('empty')!.shape, [0, 3]);
  });

  it('accepts the file bytes as well as a path', () => {
    const { dir, expected } = fx();
    const sd = readTorchStateDict(readFileSync(join(dir, 'state.bin')));
    assertMatches('cols', sd.get('cols'), expected.tensors['cols']!);
  });

  it('flattens nested dicts with "." and returns an inner dict with { prefix }', () => {
    const { dir, expected } = fx();
    const inner = readTorchStateDict(join(dir, 'state.bin'), { prefix: 'linear' });
    assert.deepEqual([...inner.keys()], ['weight', 'bias']);
    assertMatches('linear.weight', inner.get('weight'), expected.tensors['linear.weight']!);
    assert.throws(
      () => readTorchStateDict(join(dir, 'state.bin'), { prefix: 'model' }),
      /state\.bin: no tensors under prefix 'model' \(top-level names with tensors: f32, f64, .*linear/,
    );
  });

  it('lists the non-tensor leaves it skipped', () => {
    const { dir, expected } = fx();
    assert.deepEqual(readTorchCheckpoint(join(dir, 'state.bin')).skipped, expected.skipped);
  });

  it('reads torch 2.x style v3 pickles (dtype globals over untyped storages, any archive name)', () => {
    const { dir, expectedV3 } = fx();
    const sd = readTorchStateDict(join(dir, 'v3.pt'));
    assert.deepEqual([...sd.keys()], Object.keys(expectedV3.tensors));
    for (const [key, exp] of Object.entries(expectedV3.tensors)) assertMatches(key, sd.get(key), exp);
  });

  it('names the file, key and dtype of an unsupported tensor dtype', () => {
    const { dir } = fx();
    assert.throws(() => readTorchStateDict(join(dir, 'v3_complex.pt')), /v3_complex\.pt: tensor 'z': dtype torch\.complex64 is not supported/);
  });

  it('names the file, key and storage type of an unsupported torch.save storage', () => {
    const { dir } = fx();
    assert.throws(
      () => readTorchStateDict(join(dir, 'complex.bin')),
      /complex\.bin: tensor 'z': storage '1' has type torch\.ComplexFloatStorage, which is not supported/,
    );
  });

  it('says so when the file holds one tensor instead of a dict', () => {
    const { dir } = fx();
    assert.throws(() => readTorchStateDict(join(dir, 'single.pt')), /single\.pt: top-level object is a tensor, expected a dict of tensors/);
  });

  it('rejects the legacy (non-zip) format with a conversion hint', () => {
    const { dir } = fx();
    assert.throws(
      () => readTorchStateDict(join(dir, 'legacy.bin')),
      (e: Error) =>
        e.message.includes('legacy.bin: legacy (pre-zip) torch.save format is not supported') &&
        e.message.includes('_use_new_zipfile_serialization=True'),
    );
  });

  it('names the file, the tensor and the zip entry when a storage is missing or truncated', () => {
    const { dir } = fx();
    // torch.save names the archive folder after the file stem: 'state/data.pkl', 'state/data/0', ...
    const entries = unzipSync(new Uint8Array(readFileSync(join(dir, 'state.bin'))));
    const { ['state/data/0']: first, ...rest } = entries;
    assert.ok(first, `expected an entry 'state/data/0' among ${Object.keys(entries).join(', ')}`);
    const missing = join(dir, 'missing.bin');
    writeFileSync(missing, zipSync(rest, { level: 0 }));
    assert.throws(() => readTorchStateDict(missing), /missing\.bin: tensor 'f32': storage '0' is missing from the zip \(no entry 'state\/data\/0'\)/);

    const short = join(dir, 'short.bin');
    writeFileSync(short, zipSync({ ...rest, 'state/data/0': first.subarray(0, 40) }, { level: 0 }));
    assert.throws(
      () => readTorchStateDict(short),
      /short\.bin: tensor 'f32': zip entry 'state\/data\/0' has 40 bytes but the pickle declares a torch\.FloatStorage of 12 elements \(48 bytes\)/,
    );
  });

  it('rejects files that are not zips, naming the first bytes', () => {
    const { dir } = fx();
    const p = join(dir, 'junk.bin');
    writeFileSync(p, 'hello world');
    assert.throws(() => readTorchStateDict(p), /junk\.bin: not a PyTorch zip checkpoint .*first bytes: 68 65 6c 6c 6f 20 77 6f/);
  });

  it('round-trips through safetensors unchanged', () => {
    const { dir } = fx();
    const sd = readTorchStateDict(join(dir, 'state.bin'));
    const p = join(dir, 'state.safetensors');
    writeSafetensors(p, sd, { source: 'state.bin' });
    const back = readSafetensors(p);
    assert.deepEqual([...back.keys()], [...sd.keys()].sort());
    for (const [k, t] of sd) {
      const b = back.get(k)!;
      assert.equal(b.dtype, t.dtype, k);
      assert.deepEqual(b.shape, t.shape, k);
      assert.deepEqual(Buffer.from(b.data.buffer, b.data.byteOffset, b.data.byteLength), Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength), k);
    }
  });
});

describe('float16/bfloat16 conversions agree with torch', () => {
  it('rounds float32 to the same bits as torch .half() and .bfloat16() (ties, subnormals, overflow)', () => {
    const { expected } = fx();
    const c = expected.conversions!;
    const src = Float32Array.from(c.f32.map(num));
    assert.deepEqual(Array.from(fromFloat32ToF16(src)), c.f16);
    assert.deepEqual(Array.from(fromFloat32ToBf16(src)), c.bf16);
  });
});
