// Data-parallel training over c10d's Gloo on loopback: 2 processes x batch 8 train the same
// parameters as 1 process x batch 16 (global-batch contrastive losses, so the gather and its
// gradient are checked too); the sampler's shards; a rank killed mid-run makes the other exit
// non-zero naming it, the last checkpoint is intact, and resuming it on the same world size ends
// bit-identical to an uninterrupted run. Every child is bounded by a timeout.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { shardBatches, storeRole, torchrunEnv } from '../../src/train/distributed.js';
import { distInfo, initProcessGroup } from '../../src/tensor/dist.js';
import { readCheckpoint } from '../../src/train/index.js';
import type { WorkerArgs } from './dist-worker.js';

const worker = join(dirname(fileURLToPath(import.meta.url)), 'dist-worker.js');
const tmp = (): string => mkdtempSync(join(tmpdir(), 'retalign-dist-'));

function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (typeof a === 'object' && a !== null ? res(a.port) : rej(new Error('no port'))));
    });
  });
}

interface Exit { code: number | null; signal: string | null; stderr: string; ms: number }

function runRank(args: WorkerArgs, env: Record<string, string>, limitMs: number): Promise<Exit> {
  const t0 = Date.now();
  return new Promise((res) => {
    const p = spawn(process.execPath, [worker, JSON.stringify(args)], {
      env: { ...process.env, OMP_NUM_THREADS: '1', ...env }, stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => p.kill('SIGKILL'), limitMs);
    p.on('close', (code, signal) => {
      clearTimeout(timer);
      res({ code, signal, stderr, ms: Date.now() - t0 });
    });
  });
}

/** Runs `world` ranks as torchrun would (one machine); resolves when all have exited. */
async function launch(world: number, args: WorkerArgs, limitMs = 30_000): Promise<Exit[]> {
  if (world === 1) return [await runRank(args, {}, limitMs)];
  const port = await freePort();
  return Promise.all(Array.from({ length: world }, (_, r) => runRank(args, {
    WORLD_SIZE: String(world), RANK: String(r), LOCAL_RANK: String(r), LOCAL_WORLD_SIZE: String(world),
    MASTER_ADDR: '127.0.0.1', MASTER_PORT: String(port),
  }, limitMs)));
}

function params(out: string, rank = 0): Float32Array {
  const b = readFileSync(join(out, `params-rank${rank}.bin`));
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}
const ok = (exits: Exit[]): void => exits.forEach((e, r) => assert.equal(e.code, 0, `rank ${r} exited ${e.code ?? e.signal}: ${e.stderr}`));
const base: WorkerArgs = { out: '', batch: 8, steps: 5, samples: 40, checkpointEvery: 0, resume: false, timeoutMs: 10_000 };

test('the distributed sampler: disjoint shards whose union is the epoch minus the stated tail, global batch k = one-process batch k', () => {
  const order = Array.from({ length: 23 }, (_, i) => (i * 7) % 23); // a permutation of 0..22
  for (const world of [1, 2, 3]) {
    const shards = Array.from({ length: world }, (_, r) => shardBatches(order, 3, world, r));
    const all = shards.flat(2);
    const used = Math.floor(23 / (3 * world)) * 3 * world;
    assert.equal(new Set(all).size, all.length, `world ${world}: a sample in two shards`);
    assert.deepEqual([...all].sort((x, y) => x - y), order.slice(0, used).sort((x, y) => x - y), `world ${world}: union is not the epoch's first ${used}`);
    const single = shardBatches(order, 3 * world, 1, 0);
    single.forEach((b, k) => assert.deepEqual(shards.flatMap((s) => s[k] as number[]), b, `world ${world} batch ${k}`));
    assert.deepEqual(shards, Array.from({ length: world }, (_, r) => shardBatches(order, 3, world, r)), 'same order, same shards');
  }
  assert.deepEqual(shardBatches([5, 3, 0, 1, 4, 2], 2, 2, 1), [[0, 1]]);
  assert.throws(() => shardBatches(order, 2, 2, 2), /rank 2 is not in \[0, 2\)/);
});

test('torchrun environment: read, defaulted and rejected with the variable named', () => {
  assert.equal(torchrunEnv({}), null);
  assert.deepEqual(torchrunEnv({ WORLD_SIZE: '4', RANK: '3', LOCAL_RANK: '1', LOCAL_WORLD_SIZE: '2', MASTER_ADDR: 'n1', MASTER_PORT: '29400' }),
    { worldSize: 4, rank: 3, localRank: 1, localWorldSize: 2, masterAddr: 'n1', masterPort: 29400 });
  assert.throws(() => torchrunEnv({ WORLD_SIZE: '2', RANK: '2', MASTER_ADDR: 'a', MASTER_PORT: '1' }), /RANK="2" is not an integer in \[0, 1\]/);
  assert.throws(() => torchrunEnv({ WORLD_SIZE: '2', RANK: '0', MASTER_PORT: '1' }), /MASTER_ADDR is not set/);
  assert.throws(() => torchrunEnv({ WORLD_SIZE: '2', MASTER_ADDR: 'a', MASTER_PORT: '1' }), /RANK is not set/);
});

test('under torchrun its agent hosts the store and each restart keys its own rendezvous', () => {
  assert.deepEqual(storeRole(0, {}), { storeServer: true, prefix: 'retalign/attempt_0' });
  assert.deepEqual(storeRole(1, {}), { storeServer: false, prefix: 'retalign/attempt_0' });
  assert.deepEqual(storeRole(0, { TORCHELASTIC_USE_AGENT_STORE: 'True', TORCHELASTIC_RESTART_COUNT: '2' }), { storeServer: false, prefix: 'retalign/attempt_2' });
});

test('NCCL on a libtorch without it is a clear error', () => {
  const info = distInfo();
  assert.equal(info.available, true, 'this addon was built without c10d/gloo (apt-get install libgloo-dev)');
  if (info.nccl) return; // a CUDA build: scripts/gpu/ checks NCCL
  const dir = tmp();
  assert.throws(() => initProcessGroup({ backend: 'nccl', rank: 0, worldSize: 1, timeoutMs: 5000, store: 'file', path: join(dir, 'store') }),
    /backend 'nccl' is not available: this addon was built against a libtorch without NCCL/);
  rmSync(dir, { recursive: true, force: true });
});

test('2 processes x batch 8 train the same parameters as 1 process x batch 16 (global-batch contrastive loss)', async () => {
  const one = tmp();
  const two = tmp();
  ok(await launch(1, { ...base, out: one, batch: 16 }));
  // Rendezvous through a FileStore here (the crash test below uses the TCPStore).
  ok(await launch(2, { ...base, out: two, batch: 8, fileStore: join(two, 'store') }));
  const p1 = params(one);
  const p2 = params(two, 0);
  assert.deepEqual(params(two, 1), p2, 'the ranks hold different parameters');
  let maxDiff = 0;
  for (let i = 0; i < p1.length; i++) maxDiff = Math.max(maxDiff, Math.abs((p1[i] as number) - (p2[i] as number)));
  assert.ok(maxDiff < 1e-5, `max |difference| ${maxDiff}`);
  // The step's logged loss is the job's: the same as the one-process run's.
  const loss = (dir: string): number[] => readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { type: string; loss: number })
    .filter((l) => l.type === 'train').map((l) => l.loss);
  const l1 = loss(one);
  loss(two).forEach((v, i) => assert.ok(Math.abs(v - (l1[i] as number)) < 1e-4, `step ${i + 1} loss ${v} vs ${l1[i]}`));
  assert.ok(!existsSync(join(two, 'params-rank1.bin.tmp')));
  rmSync(one, { recursive: true, force: true });
  rmSync(two, { recursive: true, force: true });
});

test('a rank killed mid-run: the other exits non-zero naming it, the checkpoint is intact and resumes bit-identically', async () => {
  const whole = tmp();
  const crashed = tmp();
  // A generous collective timeout for the runs that must succeed on a loaded machine; a killed peer is
  // noticed at once (its sockets close), a hung one after timeoutMs.
  const run = { ...base, steps: 10, checkpointEvery: 2, timeoutMs: 30_000 };
  ok(await launch(2, { ...run, out: whole }));
  const exits = await launch(2, { ...run, out: crashed, killRank: 1, killAfterStep: 5, timeoutMs: 8000 }, 60_000);
  const [r0, r1] = exits as [Exit, Exit];
  assert.equal(r1.signal, 'SIGKILL');
  assert.notEqual(r0.code, 0, 'rank 0 exited 0 after its peer died');
  assert.match(r0.stderr, /rank 1 stopped answering/, r0.stderr);
  assert.ok(r0.ms - r1.ms < 8000 + 5000, `rank 0 exited ${r0.ms - r1.ms} ms after rank 1 died (timeout 8000 ms)`);
  const ck = readCheckpoint(join(crashed, 'last'));
  assert.equal(ck.state.step, 4);
  assert.equal(ck.state.dist?.worldSize, 2);
  assert.equal(ck.state.dist?.torchRng.length, 2);
  ok(await launch(2, { ...run, out: crashed, resume: true }));
  assert.deepEqual(params(crashed, 0), params(whole, 0), 'resumed run differs from the uninterrupted one');
  assert.deepEqual(params(crashed, 1), params(whole, 1));
  rmSync(whole, { recursive: true, force: true });
  rmSync(crashed, { recursive: true, force: true });
});
