/**
 * Engine benchmark: retalign (libtorch through the addon) against the same work in Python with
 * Debian's python3-torch and numpy (the OpenBLAS ceiling), measured in the same run.
 *   (a) fp32 matmul 1024 and 2048;
 *   (b) one training step of a pre-norm transformer block (ViT-S: width 384, 6 heads, seq 197,
 *       batch 32) with AdamW and gradient clipping.
 * Last line: `engine-step-ratio <retalign time / pytorch time>` (lower is better; target <= 1.15).
 *
 * usage: npm run bench:engine [-- --device cuda --dtype bfloat16 --iters 10]
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpus } from 'node:os';
import {
  Tensor, tidy, linear, layerNorm, AdamW, clipGradNorm, manualSeed, setNumThreads, getNumThreads, cudaSynchronize,
  torchVersion, type Device, type DType,
} from '../../src/tensor/index.js';

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? (process.argv[i + 1] as string) : dflt;
}
const device = arg('device', 'cpu') as Device;
const dtype = arg('dtype', 'float32') as DType;
const iters = Number(arg('iters', device === 'cpu' ? '6' : '20'));
const warmup = Number(arg('warmup', '2'));
const threads = Number(arg('threads', String(Math.max(1, cpus().length))));
const python = process.env.PYTHON ?? '/usr/bin/python3';

function median(fn: () => void, warm: number, n: number): number {
  for (let i = 0; i < warm; i++) fn();
  cudaSynchronize();
  const ts: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    fn();
    cudaSynchronize();
    ts.push((performance.now() - t0) / 1000);
  }
  ts.sort((a, b) => a - b);
  return ts[Math.floor(ts.length / 2)] as number;
}

function ensurePythonTorch(): void {
  const ok = spawnSync(python, ['-c', 'import torch, numpy'], { encoding: 'utf8' }).status === 0;
  if (ok) return;
  if (python !== '/usr/bin/python3') throw new Error(`${python} cannot import torch and numpy`);
  console.error('bench: installing the Python peer (Debian python3-torch, python3-numpy) ...');
  const r = spawnSync('sh', ['-c', 'apt-get update -qq && apt-get install -y -qq python3-torch python3-numpy'], { stdio: 'inherit' });
  if (r.status !== 0) throw new Error('bench: could not install python3-torch (apt-get install -y python3-torch python3-numpy)');
}

// ----- retalign side
setNumThreads(threads);
const mm: Record<number, number> = {};
for (const n of [1024, 2048]) {
  const a = Tensor.rand([n, n], dtype, device);
  const b = Tensor.rand([n, n], dtype, device);
  mm[n] = median(() => tidy(() => { a.matmul(b); }), 2, device === 'cpu' ? 5 : 10);
  a.dispose();
  b.dispose();
}

const D = 384, H = 6, T = 197, B = 32, Dh = D / H;
manualSeed(0);
const P = (shape: number[], scale = 0.02): Tensor => tidy(() => Tensor.randn(shape, 'float32', device).mul(scale).to(dtype)).requireGrad();
const Z = (n: number): Tensor => Tensor.zeros([n], dtype, device).requireGrad();
const O = (n: number): Tensor => Tensor.ones([n], dtype, device).requireGrad();
const p = {
  ln1w: O(D), ln1b: Z(D), ln2w: O(D), ln2b: Z(D), qkvw: P([3 * D, D]), qkvb: Z(3 * D), projw: P([D, D]), projb: Z(D),
  fc1w: P([4 * D, D]), fc1b: Z(4 * D), fc2w: P([D, 4 * D]), fc2b: Z(D),
};
const all = Object.values(p);
const opt = new AdamW([
  { params: [p.qkvw, p.projw, p.fc1w, p.fc2w], weightDecay: 0.05 },
  { params: [p.ln1w, p.ln1b, p.ln2w, p.ln2b, p.qkvb, p.projb, p.fc1b, p.fc2b], weightDecay: 0 },
], { lr: 1e-4 });
const x = tidy(() => Tensor.randn([B, T, D], 'float32', device).to(dtype));

function block(x: Tensor): Tensor {
  const h = layerNorm(x, [D], p.ln1w, p.ln1b, 1e-6); // (B, T, D)
  const qkv = linear(h, p.qkvw, p.qkvb).reshape([B, T, 3, H, Dh]).permute([2, 0, 3, 1, 4]); // (3, B, H, T, Dh)
  const [q, k, v] = qkv.split(1, 0).map((t) => t.squeeze(0)) as [Tensor, Tensor, Tensor]; // (B, H, T, Dh)
  const att = q.matmul(k.transpose(-2, -1)).mul(1 / Math.sqrt(Dh)).softmax(-1); // (B, H, T, T)
  const y = att.matmul(v).transpose(1, 2).reshape([B, T, D]); // (B, T, D)
  const x1 = x.add(linear(y, p.projw, p.projb));
  const h2 = layerNorm(x1, [D], p.ln2w, p.ln2b, 1e-6);
  return x1.add(linear(linear(h2, p.fc1w, p.fc1b).gelu(), p.fc2w, p.fc2b));
}
const stepTime = median(() => tidy(() => {
  const loss = block(x).to('float32').pow(2).mean();
  loss.backward();
  clipGradNorm(all, 1.0);
  opt.step();
  opt.zeroGrad();
}), warmup, iters);

// ----- Python peer, same machine, same run
ensurePythonTorch();
const here = dirname(fileURLToPath(import.meta.url));
const peerPy = [join(here, 'peer.py'), join(here, '..', '..', '..', 'bench', 'engine', 'peer.py')].find(existsSync);
if (!peerPy) throw new Error('bench: bench/engine/peer.py not found');
const r = spawnSync(python, [peerPy, String(threads), device, dtype, String(warmup), String(iters)], { encoding: 'utf8' });
if (r.status !== 0) throw new Error(`bench: python peer failed:\n${r.stderr}`);
const py = JSON.parse(r.stdout.trim().split('\n').pop() as string) as Record<string, number | string>;

const gflops = (n: number, s: number): string => ((2 * n ** 3) / s / 1e9).toFixed(1);
const rows: [string, string, string, string][] = [];
for (const n of [1024, 2048]) {
  const ours = mm[n] as number;
  const theirs = py[`torch_matmul_${n}`] as number;
  const ceil = py[`numpy_matmul_${n}`] as number | undefined;
  rows.push([`matmul ${n} ${dtype}`, `${(ours * 1e3).toFixed(2)} ms (${gflops(n, ours)} GFLOP/s)`,
    `${(theirs * 1e3).toFixed(2)} ms (${gflops(n, theirs)} GFLOP/s)`,
    ceil !== undefined ? `${(ceil * 1e3).toFixed(2)} ms (${gflops(n, ceil)} GFLOP/s)` : 'n/a']);
}
const pyStep = py['torch_block_step'] as number;
rows.push([`ViT-S block train step (B${B}, T${T}, D${D})`, `${(stepTime * 1e3).toFixed(1)} ms`, `${(pyStep * 1e3).toFixed(1)} ms`, '-']);

console.log(`engine bench: device=${device} dtype=${dtype} threads=${getNumThreads()} libtorch(addon)=${torchVersion()} python torch=${String(py['torch'])}`);
const head: [string, string, string, string] = ['work', 'retalign', 'pytorch (python)', 'numpy/OpenBLAS ceiling'];
const widths = head.map((h0, i) => Math.max(h0.length, ...rows.map((r0) => r0[i]!.length)));
const line = (cells: string[]): string => '| ' + cells.map((c, i) => c.padEnd(widths[i] as number)).join(' | ') + ' |';
console.log(line(head));
console.log('|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|');
for (const row of rows) console.log(line(row));
console.log(`engine-step-ratio ${(stepTime / pyStep).toFixed(3)}`);
