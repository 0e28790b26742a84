/**
 * `npm run bench:dist`: data-parallel costs on this machine, in one run.
 *  1. All-reduce (sum) of 1, 16 and 64 MiB float32 over 2 local Gloo processes: our addon's c10d
 *     group (bench/distributed/rank.ts) against Python's torch.distributed (bench/distributed/peer.py, Debian's
 *     python3-torch), both long-lived, interleaved round by round (Python, ours, ours, Python, ...);
 *     each side's time is the median over all rounds of rank 0's per-call wall time.
 *  2. A training step of configs/runs/smoke.json (tiny KEMT) with the same global batch of 16:
 *     1 process x batch 16 (2 threads) against `retalign train --nproc-per-node 2` x batch 8 (1 thread
 *     each), and 1 process x 16 on 1 thread (on a loaded machine 2 OpenMP threads stall each other).
 *     On a 2-core machine this shows the data-parallel overhead (gradient all-reduce, the embedding
 *     gathers, two processes sharing two cores), not scaling.
 * Last line: `dist-allreduce-ratio <ours/pytorch>`, the geometric mean over the three sizes (target <= 1.1).
 * Flags: --rounds N (default 5), --reps N per round (default 5), --steps N training steps (default 30).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PythonPeer, intFlag, median, peerScript, torchVersionLine } from '../common/peer.js';

const BENCH = 'bench/distributed';
const rounds = intFlag(BENCH, 'rounds', 5);
const reps = intFlag(BENCH, 'reps', 5);
const steps = intFlag(BENCH, 'steps', 30, 12);
const python = process.env['PYTHON'] ?? '/usr/bin/python3';
const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..', '..');

function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (typeof a === 'object' && a !== null ? res(a.port) : rej(new Error('no port'))));
    });
  });
}

/** Two ranks of one side, joined (their ready lines come after the rendezvous, so they start together). */
async function side(cmd: string, script: string): Promise<PythonPeer[]> {
  const port = await freePort();
  return Promise.all([0, 1].map((r) => PythonPeer.start(BENCH, cmd, [script], {
    ...process.env, WORLD_SIZE: '2', RANK: String(r), LOCAL_RANK: String(r), MASTER_ADDR: '127.0.0.1', MASTER_PORT: String(port), OMP_NUM_THREADS: '1',
  })));
}

const sizes = [1, 16, 64];
// Wall times on a shared 2-core machine: the load says how much of them is other work.
const load = (): string => loadavg().map((x) => x.toFixed(2)).join(' ');
console.log(`load average at start: ${load()} (1, 5, 15 min)`);
const py = await side(python, peerScript(BENCH, import.meta.url, 'distributed', 'peer.py'));
const ours = await side(process.execPath, join(here, 'rank.js'));
console.log(torchVersionLine(BENCH, ours[0]!.ready['torch'] as string, py[0]!.ready['torch'] as string, python));
const times: Record<string, Record<number, number[]>> = { ours: {}, pytorch: {} };
for (let r = 0; r < rounds; r++) {
  const order: [string, PythonPeer[]][] = r % 2 === 0 ? [['pytorch', py], ['ours', ours]] : [['ours', ours], ['pytorch', py]];
  for (const mib of sizes) {
    for (const [name, ranks] of order) {
      const replies = await Promise.all(ranks.map((p) => p.ask({ cmd: 'allreduce', mib, reps })));
      for (const rep of replies) if (rep['check'] !== 3) throw new Error(`${BENCH}: ${name} all-reduce of ranks 1 + 2 gave ${String(rep['check'])}, not 3`);
      ((times[name] as Record<number, number[]>)[mib] ??= []).push(...(replies[0]!['ms'] as number[]));
    }
  }
}
await Promise.all([...py, ...ours].map((p) => p.close()));
let logSum = 0;
console.log('all-reduce (sum, float32) over 2 local Gloo processes, median of rank 0 per call:');
for (const mib of sizes) {
  const a = median(times['ours']![mib]!);
  const b = median(times['pytorch']![mib]!);
  logSum += Math.log(a / b);
  console.log(`  ${String(mib).padStart(2)} MiB: ours ${a.toFixed(2)} ms (${(mib / 1024 / (a / 1000)).toFixed(2)} GiB/s), ` +
    `torch.distributed ${b.toFixed(2)} ms; ratio ${(a / b).toFixed(3)}`);
}

/** Mean step time of steps 11..N from metrics.jsonl (the first 10 warm up). */
function stepSeconds(nproc: number, threads: number): number {
  const out = mkdtempSync(join(tmpdir(), 'retalign-bench-dist-'));
  try {
    const args = [join(root, 'bin', 'retalign.js'), 'train', '--config', join(root, 'configs', 'runs', 'smoke.json'), '--out', join(out, 'run'), '--no-progress',
      '--set', `train.steps=${steps}`, '--set', `train.batchSize=${16 / nproc}`, '--set', 'train.evalEvery=0', '--set', 'train.logEvery=1',
      '--set', `train.threads=${threads}`,
      ...(nproc > 1 ? ['--nproc-per-node', String(nproc), '--master-port', String(29700 + Math.floor(Math.random() * 200))] : [])];
    const r = spawnSync(process.execPath, args, { encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: String(threads) } });
    if (r.status !== 0) throw new Error(`${BENCH}: training with ${nproc} process(es) failed (${r.status}):\n${r.stderr.slice(-2000)}`);
    const lines = readFileSync(join(out, 'run', 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { type: string; step: number; elapsedSec: number })
      .filter((l) => l.type === 'train');
    const at = (s: number): number => (lines.find((l) => l.step === s) as { elapsedSec: number }).elapsedSec;
    return (at(steps) - at(10)) / (steps - 10);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}
// 1 process with both cores' threads (what a one-process run uses) and with 1 thread: on a loaded
// machine two OpenMP threads wait on each other at every parallel region, which the 1-thread run shows.
const one2 = stepSeconds(1, 2);
const one1 = stepSeconds(1, 1);
const two = stepSeconds(2, 1);
const ms = (x: number): string => `${(x * 1000).toFixed(1)} ms`;
console.log(`training step, configs/runs/smoke.json (tiny KEMT), global batch 16, mean of steps 11-${steps}: ` +
  `1 process x 16 ${ms(one2)} (2 threads), ${ms(one1)} (1 thread); 2 processes x 8 (1 thread each) ${ms(two)}; ` +
  `2 processes / 1 process: ${(two / one2).toFixed(2)} (2 threads), ${(two / one1).toFixed(2)} (1 thread) ` +
  '(2 cores: the data-parallel overhead, not scaling)');
console.log(`load average at end: ${load()}`);
console.log(`dist-allreduce-ratio ${Math.exp(logSum / sizes.length).toFixed(3)}`);
