// A 1-GPU NCCL process-group smoke test (run by scripts/gpu/dist-nccl.sh on the GPU machine, after
// the addon was built against the CUDA torch there): joins a world of 1 through a FileStore, then
// all-reduce, broadcast, all-gather (with and without gradient) and a barrier on CUDA tensors, and
// checks the values. Exits non-zero with the failing check named.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tensor } from '../../dist/src/tensor/index.js';
import { allGather, allGatherWithGrad, allReduce, barrier, broadcast, destroyProcessGroup, distInfo, initProcessGroup } from '../../dist/src/tensor/dist.js';

const info = distInfo();
console.log('distInfo', JSON.stringify(info));
if (!info.available || !info.nccl) {
  console.error('nccl-smoke: FAIL the addon was built without NCCL (see the build log: nccl.h or ProcessGroupNCCL.hpp not found)');
  process.exit(1);
}
const store = join(mkdtempSync(join(tmpdir(), 'retalign-nccl-')), 'store');
initProcessGroup({ backend: 'nccl', rank: 0, worldSize: 1, timeoutMs: 60_000, store: 'file', path: store });
const check = (what, got, want) => {
  const ok = got.length === want.length && got.every((v, i) => Math.abs(v - want[i]) < 1e-6);
  console.log(`${ok ? 'ok' : 'FAIL'} ${what}: ${Array.from(got).join(',')}`);
  if (!ok) process.exitCode = 1;
};
const t = Tensor.from([1, 2, 3], [3]).to('cuda');
allReduce([t], 'sum');
check('allReduce sum (world 1)', Array.from(t.toArray()), [1, 2, 3]);
broadcast([t], 0);
check('broadcast', Array.from(t.toArray()), [1, 2, 3]);
check('allGather', Array.from(allGather(t.reshape([3, 1])).toArray()), [1, 2, 3]);
const x = Tensor.from([1, 2], [2, 1]).to('cuda').requireGrad();
const y = allGatherWithGrad(x);
y.mul(3).sum().backward();
check('allGatherWithGrad backward', Array.from(x.grad.toArray()), [3, 3]);
barrier();
destroyProcessGroup();
console.log(process.exitCode === 1 ? 'nccl-smoke: FAIL' : 'nccl-smoke: ok');
