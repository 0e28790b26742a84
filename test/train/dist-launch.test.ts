// The data-parallel launcher: `retalign train --nproc-per-node 2` starts two ranks of the same
// command with torchrun's variables; rank 0 alone writes metrics.jsonl and the checkpoint, which
// records the world size and both ranks' RNG states. And the argv the ranks get.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../src/cli/main.js';
import { rankArgv } from '../../src/cli/launch.js';
import { readCheckpoint } from '../../src/train/index.js';

test('the ranks get the command line without the launcher flags', () => {
  assert.deepEqual(rankArgv(['train', '--config', 'c.json', '--nproc-per-node', '2', '--nnodes=2', '--node-rank', '1', '--master-addr', 'h',
    '--master-port=29400', '--set', 'train.steps=3', '--dist-timeout', '30']), ['train', '--config', 'c.json', '--set', 'train.steps=3', '--dist-timeout', '30']);
});

test('--nnodes without --nproc-per-node is refused', async () => {
  await assert.rejects(main(['train', '--config', 'configs/runs/smoke.json', '--nnodes', '2']), /--nnodes and --node-rank need --nproc-per-node/);
});

test('retalign train --nproc-per-node 2: one run folder written by rank 0, a checkpoint of world size 2', async () => {
  const out = mkdtempSync(join(tmpdir(), 'retalign-launch-'));
  const port = await new Promise<number>((res) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => res(typeof a === 'object' && a !== null ? a.port : 0));
    });
  });
  const code = await main(['train', '--config', 'configs/runs/smoke.json', '--out', join(out, 'run'), '--no-progress',
    '--set', 'train.steps=3', '--set', 'train.batchSize=8', '--set', 'train.evalEvery=0', '--set', 'train.logEvery=1',
    '--nproc-per-node', '2', '--master-port', String(port), '--dist-timeout', '30']);
  assert.equal(process.exitCode ?? code, 0);
  const lines = readFileSync(join(out, 'run', 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { type: string; step: number; samples?: number });
  assert.equal(lines.filter((l) => l.type === 'start').length, 1, 'more than one rank wrote metrics.jsonl');
  assert.deepEqual(lines.filter((l) => l.type === 'train').map((l) => [l.step, l.samples]), [[1, 16], [2, 16], [3, 16]]);
  const ck = readCheckpoint(join(out, 'run', 'last'));
  assert.equal(ck.state.step, 3);
  assert.equal(ck.state.dist?.worldSize, 2);
  assert.equal(ck.state.dist?.torchRng.length, 2);
  assert.notEqual(ck.state.dist?.torchRng[0], ck.state.dist?.torchRng[1], 'the ranks drew the same libtorch stream');
  rmSync(out, { recursive: true, force: true });
});
