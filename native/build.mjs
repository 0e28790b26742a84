// Builds native/build/retalign.node against a libtorch found, in order, through:
//   1. LIBTORCH=<dir> (a libtorch distribution: <dir>/include and <dir>/lib)
//   2. a Python torch install (python3 / $PYTHON: torch's own include/ and lib/), e.g. on the GPU machine
//   3. the system (Debian's libtorch-dev: /usr/include/torch, libs on the default search path)
// Only rebuilds when the source or the chosen libtorch changed. Usage: node native/build.mjs [--force]
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync, renameSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const out = join(here, 'build', 'retalign.node');
// One translation unit per .cc file, compiled in parallel (each includes torch.h: ~30 s apiece).
const sources = readdirSync(here).filter((f) => f.endsWith('.cc')).sort().map((f) => join(here, f));
const headers = readdirSync(here).filter((f) => f.endsWith('.h')).map((f) => join(here, f));

function fromPython() {
  const candidates = [process.env.PYTHON, 'python3', '/usr/bin/python3'].filter(Boolean);
  for (const py of candidates) {
    const r = spawnSync(py, ['-c', 'import torch,os;print(os.path.dirname(torch.__file__));print(int(torch._C._GLIBCXX_USE_CXX11_ABI));print(int(torch.cuda.is_available() or torch.version.cuda is not None))'], { encoding: 'utf8' });
    if (r.status !== 0) continue;
    const [dir, abi, cuda] = r.stdout.trim().split('\n');
    if (dir && existsSync(join(dir, 'include', 'torch')) && existsSync(join(dir, 'lib')) &&
        (existsSync(join(dir, 'lib', 'libtorch.so')) || existsSync(join(dir, 'lib', 'libtorch_cpu.so')))) {
      return { root: dir, abi: Number(abi), cuda: cuda === '1', how: `python torch at ${dir} (${py})` };
    }
  }
  return null;
}

function locate() {
  if (process.env.LIBTORCH) {
    const root = resolve(process.env.LIBTORCH);
    if (!existsSync(join(root, 'include', 'torch'))) {
      throw new Error(`LIBTORCH=${root} has no include/torch: point it at a libtorch folder holding include/ and lib/`);
    }
    const cuda = existsSync(join(root, 'lib', 'libtorch_cuda.so'));
    return { root, abi: null, cuda, how: `LIBTORCH=${root}` };
  }
  const py = fromPython();
  if (py) return py;
  if (existsSync('/usr/include/torch/csrc/api/include/torch/torch.h')) {
    return { root: null, abi: null, cuda: false, how: 'system libtorch (/usr/include/torch)' };
  }
  throw new Error(
    'libtorch not found. Install it (Debian: apt-get install -y libtorch-dev libopenblas0-pthread), ' +
      'or set LIBTORCH=<dir with include/ and lib/>, or install PyTorch for python3.');
}

const lt = locate();
const nodeInclude = [join(dirname(dirname(process.execPath)), 'include', 'node'), '/usr/include/node']
  .find((d) => existsSync(join(d, 'node_api.h')));
if (!nodeInclude) throw new Error('Node headers (node_api.h) not found next to the node binary or in /usr/include/node');
const napiInclude = resolve(require('node-addon-api').include_dir.replace(/^"|"$/g, ''));

const cflags = ['-std=c++17', '-O2', '-fPIC', '-fexceptions', '-frtti', '-DNAPI_CPP_EXCEPTIONS',
  '-DNAPI_VERSION=8', '-DNODE_ADDON_API_DISABLE_DEPRECATED', '-Wno-deprecated-declarations', '-Wno-unused-parameter',
  `-I${nodeInclude}`, `-I${napiInclude}`];
const ldflags = ['-shared'];
if (lt.root) {
  cflags.push(`-I${join(lt.root, 'include')}`, `-I${join(lt.root, 'include', 'torch', 'csrc', 'api', 'include')}`);
  ldflags.push(`-L${join(lt.root, 'lib')}`, `-Wl,-rpath,${join(lt.root, 'lib')}`);
  if (lt.abi !== null) cflags.push(`-D_GLIBCXX_USE_CXX11_ABI=${lt.abi}`);
} else {
  cflags.push('-I/usr/include/torch/csrc/api/include');
}
const libs = ['-Wl,--no-as-needed', '-ltorch', '-ltorch_cpu', '-lc10'];
if (lt.cuda) libs.push('-ltorch_cuda', '-lc10_cuda');

// Distributed training (native/dist.cc) needs c10d's headers and gloo's (ProcessGroupGloo.hpp includes
// <gloo/...>: Debian's libgloo-dev; a Python torch ships them in include/). c10d's symbols live in
// libtorch_cpu (Debian 1.13: nm -DC shows c10d::TCPStore, ProcessGroupGloo, Reducer), so no extra
// library. Without the headers dist.cc compiles to functions that throw a clear error.
// The compiler's default search path (/usr/include, /usr/local/include) holds a system libgloo-dev.
const incRoots = [...(lt.root ? [join(lt.root, 'include')] : []), '/usr/include', '/usr/local/include'];
const hasHeader = (rel) => incRoots.some((d) => existsSync(join(d, rel)));
const dist = hasHeader('torch/csrc/distributed/c10d/ProcessGroupGloo.hpp') && hasHeader('gloo/algorithm.h');
if (!dist) {
  cflags.push('-DRETALIGN_NO_DIST');
  console.log('native: c10d or gloo headers not found: distributed training disabled (Debian: apt-get install libgloo-dev)');
} else if (lt.cuda && hasHeader('torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp')) {
  // ProcessGroupNCCL.hpp is guarded by USE_C10D_NCCL (a define of torch's own build); nccl.h comes from
  // the nvidia-nccl wheel next to a Python torch, or the system / CUDA toolkit. Without it: Gloo only.
  const ncclInc = [lt.root ? join(dirname(lt.root), 'nvidia', 'nccl', 'include') : null, ...incRoots, '/usr/local/cuda/include']
    .find((d) => d !== null && existsSync(join(d, 'nccl.h')));
  if (ncclInc !== undefined) cflags.push('-DRETALIGN_NCCL', '-DUSE_C10D_NCCL', `-I${ncclInc}`);
  else console.log('native: nccl.h not found: the process group has Gloo only (NCCL needs the nvidia-nccl headers)');
}

const newest = Math.max(...[...sources, ...headers, fileURLToPath(import.meta.url)].map((f) => statSync(f).mtimeMs));
const stamp = JSON.stringify({ how: lt.how, cflags, ldflags, libs, sources: sources.map((f) => f.slice(here.length + 1)) });
const stampFile = join(here, 'build', 'stamp.json');
const force = process.argv.includes('--force');
if (!force && existsSync(out) && existsSync(stampFile) && readFileSync(stampFile, 'utf8') === stamp && statSync(out).mtimeMs > newest) {
  console.log(`native: up to date (${lt.how})`);
  process.exit(0);
}
mkdirSync(join(here, 'build'), { recursive: true });
console.log(`native: compiling ${sources.length} files against ${lt.how} ...`);
const t0 = Date.now();
const cxx = process.env.CXX ?? 'g++';
const run = (args) => new Promise((resolveRun) => {
  const p = spawn(cxx, args, { stdio: 'inherit' });
  p.on('close', (code) => resolveRun(code === 0));
  p.on('error', () => resolveRun(false));
});
// Parallel compiles, at most one per core (each needs ~1 GB of memory).
const objects = sources.map((f) => join(here, 'build', f.slice(here.length + 1).replace(/\.cc$/, '.o')));
const jobs = Number(process.env.JOBS ?? Math.max(1, cpus().length));
let next = 0;
let ok = true;
await Promise.all(Array.from({ length: Math.min(jobs, sources.length) }, async () => {
  while (next < sources.length) {
    const i = next++;
    if (!(await run([...cflags, '-c', sources[i], '-o', objects[i]]))) ok = false;
  }
}));
if (!ok || !(await run([...ldflags, ...objects, '-o', out + '.tmp', ...libs]))) {
  console.error('native: compile failed (see the compiler output above)');
  process.exit(1);
}
renameSync(out + '.tmp', out);
writeFileSync(stampFile, stamp);
console.log(`native: built ${out} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
