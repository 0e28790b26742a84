// One rank of bench/distributed's own side: the addon's c10d Gloo group, answering the same JSON lines as
// bench/distributed/peer.py ({"cmd": "allreduce", "mib": M, "reps": R} -> per-rep wall ms), one per line.
import { createInterface } from 'node:readline';
import { Tensor, torchVersion, setNumThreads } from '../../src/tensor/index.js';
import { allReduce, barrier, initProcessGroup } from '../../src/tensor/dist.js';
import { torchrunEnv } from '../../src/train/distributed.js';

const env = torchrunEnv(process.env);
if (env === null) throw new Error('bench/distributed rank: WORLD_SIZE is not set');
setNumThreads(1);
initProcessGroup({ backend: 'gloo', rank: env.rank, worldSize: env.worldSize, timeoutMs: 60_000, store: 'tcp', host: env.masterAddr, port: env.masterPort });
process.stdout.write(`${JSON.stringify({ torch: torchVersion(), rank: env.rank })}\n`);
for await (const line of createInterface({ input: process.stdin })) {
  if (line.trim() === '') continue;
  const cmd = JSON.parse(line) as { cmd: string; mib: number; reps: number };
  try {
    if (cmd.cmd !== 'allreduce') throw new Error(`unknown command ${cmd.cmd}`);
    const t = Tensor.ones([(cmd.mib * 2 ** 20) / 4]);
    barrier();
    const ms: number[] = [];
    for (let i = 0; i < cmd.reps; i++) {
      const t0 = performance.now();
      allReduce([t]);
      ms.push(performance.now() - t0);
    }
    const c = Tensor.full([4], env.rank + 1);
    allReduce([c]);
    process.stdout.write(`${JSON.stringify({ ms, check: c.toArray()[0] })}\n`);
    t.dispose();
    c.dispose();
  } catch (e) {
    process.stdout.write(`${JSON.stringify({ error: (e as Error).message })}\n`);
  }
}
process.exit(0);
