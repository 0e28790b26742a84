// The addon's caching CPU allocator (native/allocator.cc): a freed large buffer is handed out again
// for the next request of its size, small ones go to glibc, and results are bit-identical to
// libtorch's default allocator (RETALIGN_CPU_CACHE_MB=0, in a child process).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { AdamW, Tensor, cpuAllocator, linear, manualSeed, tidy } from '../../src/tensor/index.js';

/** A few seeded AdamW steps of a small MLP with 512 KiB activations; the final loss and weights as float64 bits. */
function seededRun(): string {
  manualSeed(3);
  const w1 = tidy(() => Tensor.randn([256, 128]).mul(0.05)).requireGrad();
  const w2 = tidy(() => Tensor.randn([16, 256]).mul(0.05)).requireGrad();
  const x = Tensor.randn([512, 128]); // 256 KiB; the hidden layer (512, 256) is 512 KiB: cached sizes
  const opt = new AdamW([{ params: [w1, w2], weightDecay: 0.01 }], { lr: 1e-2 });
  let loss = 0;
  for (let i = 0; i < 4; i++) {
    loss = tidy(() => {
      const l = linear(linear(x, w1).gelu(), w2).pow(2).mean();
      l.backward();
      return l.item();
    });
    opt.step();
    opt.zeroGrad();
  }
  const bits = [loss, ...(w1.toArray() as Float32Array).slice(0, 64), ...(w2.toArray() as Float32Array).slice(0, 64)];
  [w1, w2, x].forEach((t) => t.dispose());
  return Buffer.from(Float64Array.from(bits).buffer).toString('hex');
}

if (process.argv.includes('--child')) {
  process.stdout.write(JSON.stringify({ caching: cpuAllocator().caching, run: seededRun() }));
} else {
  test('allocator: a freed large buffer is reused for the next tensor of its size; small ones are not cached', () => {
    const a0 = cpuAllocator();
    assert.equal(a0.caching, true, 'the caching allocator is installed by default');
    const big = [1024, 1024]; // 4 MiB
    Tensor.zeros(big).dispose(); // now at least one 4 MiB block is cached
    const a1 = cpuAllocator();
    const t = Tensor.zeros(big);
    const a2 = cpuAllocator();
    assert.equal(a2.hits, (a1.hits as number) + 1, 'the second 4 MiB tensor comes from the cache');
    assert.equal(a2.misses, a1.misses);
    assert.equal(a2.liveBytes, (a1.liveBytes as number) + 4 * 1024 * 1024);
    t.dispose();
    assert.equal(cpuAllocator().liveBytes, a1.liveBytes, 'disposing gives the block back');
    assert.ok((cpuAllocator().cachedBytes as number) >= 4 * 1024 * 1024);
    const before = cpuAllocator();
    Tensor.zeros([100]).dispose(); // 400 bytes: glibc's
    assert.deepEqual([cpuAllocator().hits, cpuAllocator().misses], [before.hits, before.misses]);
  });

  test('allocator: shapes that change from phase to phase do not stack up in the cache: live + cached stays within twice the peak', () => {
    const MiB = 1024 * 1024;
    // Three phases, each 16 live blocks of 4 MiB-ish sizes that no other phase uses, then freed.
    const phase = (k: number): void => {
      const ts = Array.from({ length: 16 }, (_, i) => Tensor.zeros([(4 * MiB + (k * 16 + i + 1) * 8192) / 4]));
      const s = cpuAllocator();
      assert.ok((s.liveBytes as number) + (s.cachedBytes as number) <= 2 * (s.peakLiveBytes as number),
        `phase ${k}: live ${s.liveBytes} + cached ${s.cachedBytes} > 2 x peak ${s.peakLiveBytes}`);
      ts.forEach((t) => t.dispose());
    };
    const before = cpuAllocator();
    for (let k = 0; k < 3; k++) phase(k);
    const after = cpuAllocator();
    assert.ok((after.released as number) > (before.released as number), 'stale blocks were given back');
    assert.ok((after.cachedBytes as number) <= 2 * (after.peakLiveBytes as number));
  });

  test('allocator: seeded training steps give the same bits with the cache and with libtorch\'s default allocator', () => {
    const here = seededRun();
    const child = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--child'], {
      encoding: 'utf8', env: { ...process.env, RETALIGN_CPU_CACHE_MB: '0' },
    });
    assert.equal(child.status, 0, child.stderr);
    const got = JSON.parse(child.stdout) as { caching: boolean; run: string };
    assert.equal(got.caching, false, 'RETALIGN_CPU_CACHE_MB=0 leaves libtorch\'s allocator');
    assert.equal(got.run, here);
  });
}
