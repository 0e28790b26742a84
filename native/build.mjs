// Builds native/build/retalign.node against a libtorch found, in order, through:
//   1. LIBTORCH=<dir> (a libtorch distribution: <dir>/include and <dir>/lib)
//   2. a Python torch install (python3 / $PYTHON: torch's own include/ and lib/), e.g. on the GPU machine
//   3. the system (Debian's libtorch-dev: /usr/include/torch, libs on the default search path)
// Only rebuilds when the source or the chosen libtorch changed. Usage: node native/build.mjs [--force]
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync, renameSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const out = join(here, 'build', 'retalign.node');
const src = join(here, 'retalign.cc');

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

const args = ['-std=c++17', '-O2', '-shared', '-fPIC', '-fexceptions', '-frtti', '-DNAPI_CPP_EXCEPTIONS',
  '-DNAPI_VERSION=8', '-DNODE_ADDON_API_DISABLE_DEPRECATED', '-Wno-deprecated-declarations', '-Wno-unused-parameter',
  `-I${nodeInclude}`, `-I${napiInclude}`];
if (lt.root) {
  args.push(`-I${join(lt.root, 'include')}`, `-I${join(lt.root, 'include', 'torch', 'csrc', 'api', 'include')}`);
  args.push(`-L${join(lt.root, 'lib')}`, `-Wl,-rpath,${join(lt.root, 'lib')}`);
  if (lt.abi !== null) args.push(`-D_GLIBCXX_USE_CXX11_ABI=${lt.abi}`);
} else {
  args.push('-I/usr/include/torch/csrc/api/include');
}
args.push(src, '-o', out + '.tmp', '-Wl,--no-as-needed', '-ltorch', '-ltorch_cpu', '-lc10');
if (lt.cuda) args.push('-ltorch_cuda', '-lc10_cuda');

const stamp = JSON.stringify({ how: lt.how, args });
const stampFile = join(here, 'build', 'stamp.json');
const force = process.argv.includes('--force');
if (!force && existsSync(out) && existsSync(stampFile) && readFileSync(stampFile, 'utf8') === stamp &&
    statSync(out).mtimeMs > statSync(src).mtimeMs) {
  console.log(`native: up to date (${lt.how})`);
  process.exit(0);
}
mkdirSync(join(here, 'build'), { recursive: true });
console.log(`native: compiling against ${lt.how} ...`);
const t0 = Date.now();
try {
  execFileSync(process.env.CXX ?? 'g++', args, { stdio: 'inherit' });
} catch {
  console.error('native: compile failed (see the compiler output above)');
  process.exit(1);
}
renameSync(out + '.tmp', out);
writeFileSync(stampFile, stamp);
console.log(`native: built ${out} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
