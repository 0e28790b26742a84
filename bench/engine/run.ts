/**
 * Engine benchmark: retalign (libtorch through the addon) against the same work in Python with
 * Debian's python3-torch and numpy (the OpenBLAS ceiling), measured in the same run.
 *   (a) fp32 matmul 1024 and 2048;
 *   (b) one training step of a pre-norm transformer block (ViT-S: width 384, 6 heads, seq 197,
 *       batch 32) with AdamW and gradient clipping.
 *
 * Fair method: the Python peer (bench/engine/peer.py) stays up, and the sides take turns: both warm
 * up (--warmup steps each, Python first), then --rounds rounds of Python, ours, Python, ours, ...;
 * in each round each side runs --iters block steps and --mm-reps matmuls per size. Both sides are
 * reduced the same way: the median within a round, then the median of the round medians. The
 * libtorch release of both sides must be equal (else the bench fails). Each side's minor page faults
 * per block step are printed too: on this machine faulting in fresh pages was ~40% of a step's CPU
 * time under glibc's allocator, and the addon caches large CPU blocks (native/allocator.cc) where
 * python3-torch does not, so that line says how much of a difference is the allocator.
 * Last line: `engine-step-ratio <retalign step / pytorch step>` (lower is better).
 *
 * usage: npm run bench:engine [-- --rounds 5 --iters 3 --warmup 2 --mm-reps 3 --threads N --device cuda --dtype bfloat16]
 *   quick check: npm run bench:engine -- --rounds 2 --iters 1 --warmup 1 --mm-reps 1
 *   RETALIGN_BENCH_FORCE=version makes the version check fail (to see that it can).
 */
import { spawnSync } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import {
  Tensor, tidy, linear, layerNorm, AdamW, clipGradNorm, manualSeed, setNumThreads, getNumThreads, cudaSynchronize,
  torchVersion, cpuAllocator, type Device, type DType,
} from '../../src/tensor/index.js';
import { PythonPeer, intFlag, median, peerScript, torchVersionLine } from '../common/peer.js';

const BENCH = 'bench/engine';
function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? (process.argv[i + 1] as string) : dflt;
}
const device = arg('device', 'cpu') as Device;
const dtype = arg('dtype', 'float32') as DType;
const onCpu = device === 'cpu';
const rounds = intFlag(BENCH, 'rounds', 5);
const iters = intFlag(BENCH, 'iters', onCpu ? 3 : 20); // block steps per side per round
const warmup = intFlag(BENCH, 'warmup', 2, 0);
const mmReps = intFlag(BENCH, 'mm-reps', onCpu ? 3 : 10);
const threads = intFlag(BENCH, 'threads', Math.max(1, cpus().length));
const python = process.env.PYTHON ?? '/usr/bin/python3';
const SIZES = [1024, 2048] as const;

/** Wall seconds of each of n calls (CUDA work waited for). */
function times(fn: () => void, n: number): number[] {
  const ts: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    fn();
    cudaSynchronize();
    ts.push((performance.now() - t0) / 1000);
  }
  return ts;
}

function ensurePythonTorch(): void {
  const ok = spawnSync(python, ['-c', 'import torch, numpy'], { encoding: 'utf8' }).status === 0;
  if (ok) return;
  if (python !== '/usr/bin/python3') throw new Error(`${BENCH}: ${python} cannot import torch and numpy`);
  console.error(`${BENCH}: installing the Python peer (Debian python3-torch, python3-numpy) ...`);
  const r = spawnSync('sh', ['-c', 'apt-get update -qq && apt-get install -y -qq python3-torch python3-numpy'], { stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`${BENCH}: could not install python3-torch (apt-get install -y python3-torch python3-numpy)`);
}

// ----- the Python peer first: a version mismatch fails before anything is timed
ensurePythonTorch();
const peer = await PythonPeer.start(BENCH, python, [peerScript(BENCH, import.meta.url, 'engine', 'peer.py'), String(threads), device, dtype]);
const versions = torchVersionLine(BENCH, torchVersion(), String(peer.ready['torch']), `python (${python})`);

// ----- retalign side
setNumThreads(threads);
const mats = SIZES.map((n) => [n, Tensor.rand([n, n], dtype, device), Tensor.rand([n, n], dtype, device)] as const);
const matmuls = (reps: number): Record<number, number[]> =>
  Object.fromEntries(mats.map(([n, a, b]) => [n, times(() => tidy(() => { a.matmul(b); }), reps)]));

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
const trainStep = (): void => tidy(() => {
  const loss = block(x).to('float32').pow(2).mean();
  loss.backward();
  clipGradNorm(all, 1.0);
  opt.step();
  opt.zeroGrad();
});

// ----- interleaved: warm-up (Python, ours), then rounds of Python, ours
const load0 = loadavg()[0] ?? NaN;
console.error(`${BENCH}: warm-up (${warmup} steps, ${mmReps} matmuls per size, each side), then ${rounds} rounds of ${iters} steps: python, ours, python, ours, ...`);
await peer.ask({ cmd: 'warmup', steps: warmup, mm_reps: mmReps });
matmuls(mmReps);
times(trainStep, warmup);
interface Round { step: number[]; matmul: Record<number, number[]>; numpy: Record<number, number[]>; faults: number }
const py: Round[] = [];
const ours: Round[] = [];
for (let r = 0; r < rounds; r++) {
  const got = await peer.ask({ cmd: 'round', steps: iters, mm_reps: mmReps });
  py.push({ step: got['step'] as number[], matmul: got['matmul'] as Record<number, number[]>, numpy: got['numpy'] as Record<number, number[]>,
    faults: Number(got['faults_per_step']) });
  const mm = matmuls(mmReps);
  const f0 = process.resourceUsage().minorPageFault;
  const step = times(trainStep, iters);
  ours.push({ step, matmul: mm, numpy: {}, faults: (process.resourceUsage().minorPageFault - f0) / iters });
}
await peer.close();
const load1 = loadavg()[0] ?? NaN;

/** Both sides alike: the median within each round, then the median of those. */
const reduce = (rs: Round[], pick: (r: Round) => number[] | undefined): number => median(rs.map((r) => median(pick(r) ?? [NaN])));
const stepTime = reduce(ours, (r) => r.step);
const pyStep = reduce(py, (r) => r.step);

const gflops = (n: number, s: number): string => ((2 * n ** 3) / s / 1e9).toFixed(1);
const cell = (n: number, s: number): string => (Number.isFinite(s) ? `${(s * 1e3).toFixed(2)} ms (${gflops(n, s)} GFLOP/s)` : 'n/a');
const rows: [string, string, string, string][] = [];
for (const n of SIZES) {
  rows.push([`matmul ${n} ${dtype}`, cell(n, reduce(ours, (r) => r.matmul[n])), cell(n, reduce(py, (r) => r.matmul[n])),
    onCpu ? cell(n, reduce(py, (r) => r.numpy[n])) : 'n/a']);
}
rows.push([`ViT-S block train step (B${B}, T${T}, D${D})`, `${(stepTime * 1e3).toFixed(1)} ms`, `${(pyStep * 1e3).toFixed(1)} ms`, '-']);

console.log(`engine bench: device=${device} dtype=${dtype} threads=${getNumThreads()} (python ${String(peer.ready['threads'])}); ` +
  `${warmup} warm-up steps, then ${rounds} interleaved rounds (python, ours) of ${iters} steps and ${mmReps} matmuls per size; ` +
  `each side = median of its round medians; load average (1 min) ${load0.toFixed(2)} at start, ${load1.toFixed(2)} at end, ${cpus().length} cores`);
const head: [string, string, string, string] = ['work', 'retalign', 'pytorch (python)', 'numpy/OpenBLAS ceiling'];
const widths = head.map((h0, i) => Math.max(h0.length, ...rows.map((r0) => r0[i]!.length)));
const line = (cells: string[]): string => '| ' + cells.map((c, i) => c.padEnd(widths[i] as number)).join(' | ') + ' |';
console.log(line(head));
console.log('|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|');
for (const row of rows) console.log(line(row));
const ms = (rs: Round[]): string => rs.map((r) => (median(r.step) * 1e3).toFixed(0)).join(' ');
console.log(`block step ms, median per round: python ${ms(py)} | retalign ${ms(ours)}; ` +
  `per-round ratios ${ours.map((r, i) => (median(r.step) / median(py[i]!.step)).toFixed(3)).join(' ')}`);
// Page faults per step show the allocators at work: a block whose buffers come from fresh pages pays
// the kernel to fault and zero them (libtorch's default, glibc; the addon caches large blocks).
const allocator = cpuAllocator();
console.log(`minor page faults per block step, median of rounds: python ${median(py.map((r) => r.faults)).toFixed(0)} | ` +
  `retalign ${median(ours.map((r) => r.faults)).toFixed(0)} (retalign's CPU allocator: ${allocator.caching ? `caching, ${allocator.hits} hits, ${allocator.misses} misses` : "libtorch's default (RETALIGN_CPU_CACHE_MB=0)"})`);
console.log(versions);
console.log(`engine-step-ratio ${(stepTime / pyStep).toFixed(3)}`);
