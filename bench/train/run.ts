/**
 * Training benchmark: samples/s of the Kemt model (`small` preset) trained by retalign's own loop
 * (src/train/loop.ts `train()`) and by the same model and step written in plain PyTorch
 * (bench/train/peer.py, Debian's python3-torch), in one run, with each process's peak RSS.
 *
 * One step: forward (main pass + MAE visible-patch ViT pass + MLM masked-note BERT pass), the
 * objective's loss parts with default weights (seven at 1; the image-only grade parts at 0, not computed), backward, gradient-norm clipping, AdamW (decay on
 * matrices only), zero grad. Both sides use the same model config, batch shapes, thread count and
 * train settings (the loop's defaults); parameter names, shapes and decay groups are compared and
 * must be identical. Our step time is the interval between the loop's onStep calls minus the time
 * spent making the (random) batch; the peer reuses one batch.
 *
 * Fair method: the peer stays up and the sides take turns. Both warm up (--warmup steps each,
 * Python first), then --rounds rounds of Python, ours, Python, ours, ... of --steps steps each; our
 * rounds are stretches of one train() call (the loop's onStep hook waits while Python runs its
 * round). Both sides are reduced the same way: the median step of each round, then the median of
 * the round medians. The libtorch release of both sides must be equal (else the bench fails).
 * Last line: `train-step-ratio <retalign time per step / pytorch time per step>`.
 *
 * usage: node --import tsx bench/train/run.ts [--rounds 5] [--steps 3] [--warmup 2] [--threads <cores>] [--batch 32]
 *          [--device cpu|cuda] [--dtype float32|bfloat16]
 *        npm run bench:train                        (compiled: dist/bench/train/run.js)
 *        quick check: npm run bench:train -- --rounds 2 --steps 1 --warmup 1 --batch 4
 *        PYTHON=<python with torch> overrides /usr/bin/python3 (e.g. a CUDA build on the GPU machine).
 *        RETALIGN_BENCH_FORCE=version makes the version check fail (to see that it can).
 * bfloat16 (CUDA only) = autocast around forward + losses with float32 master weights, on both sides.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  Tensor, manualSeed, setNumThreads, getNumThreads, cudaIsAvailable, cudaSynchronize, torchVersion, liveTensors, type Device,
} from '../../src/tensor/index.js';
import { buildModel, loadPreset, Kemt, PROJECT_SPECIAL_IDS, type Batch } from '../../src/models/index.js';
import { Objective } from '../../src/losses/index.js';
import { resolveTrainConfig, paramGroups, train, type BatchSource, type TrainConfigInput } from '../../src/train/index.js';
import { Rng } from '../../src/data/rng.js';
import { PythonPeer, median, peerScript, torchVersionLine } from '../common/peer.js';

const PRESET = 'small';
const IMAGE = 96; // must equal the preset's image.imageSize (checked below)
const TOKENS = 96;
const VOCAB = 1500;
const TABULAR = 57;

// ----- options
function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return dflt;
  const v = process.argv[i + 1];
  if (v === undefined || v.startsWith('--')) throw new Error(`bench/train: --${name} needs a value`);
  return v;
}
function intArg(name: string, dflt: number, min: number): number {
  const s = arg(name, String(dflt));
  const v = Number(s);
  if (!Number.isInteger(v) || v < min) throw new Error(`bench/train: --${name} is '${s}'; expected an integer >= ${min}`);
  return v;
}
const rounds = intArg('rounds', 5, 1);
const steps = intArg('steps', 3, 1); // per side per round
const warmup = intArg('warmup', 2, 1); // >= 1: our first step's interval also holds train()'s setup
const threads = intArg('threads', Math.max(1, cpus().length), 1);
const batchSize = intArg('batch', 32, 2);
const device = arg('device', 'cpu') as Device;
const dtype = arg('dtype', 'float32');
const python = process.env['PYTHON'] ?? '/usr/bin/python3';
if (!/^(cpu|cuda(:\d+)?)$/.test(device)) throw new Error(`bench/train: --device is '${device}'; expected cpu or cuda (or cuda:N)`);
if (dtype !== 'float32' && dtype !== 'bfloat16') throw new Error(`bench/train: --dtype is '${dtype}'; expected float32 or bfloat16`);
if (dtype === 'bfloat16' && device === 'cpu') {
  // libtorch/PyTorch 1.13's CPU autocast runs linear in bf16 but then refuses layer_norm on a bf16
  // input with float32 weights ("expected scalar type BFloat16 but found Float"), on both sides.
  throw new Error('bench/train: --dtype bfloat16 is for --device cuda; CPU bf16 autocast in libtorch 1.13 cannot run Kemt ' +
    "(layer_norm: expected scalar type BFloat16 but found Float, in PyTorch too); use --dtype float32 on CPU");
}
if (device !== 'cpu' && !cudaIsAvailable()) {
  throw new Error(`bench/train: --device ${device}, but the retalign addon sees no CUDA (built against a CPU libtorch?); ` +
    'rebuild it against a CUDA libtorch (node native/build.mjs --force with a CUDA PyTorch or LIBTORCH=<dir>)');
}
const loadStart = loadavg();

// ----- the model, the objective and the loop's settings
const config = loadPreset(PRESET);
if (config.architecture !== 'kemt') throw new Error(`bench/train: preset ${PRESET} is '${config.architecture}', expected 'kemt'`);
if (config.image.imageSize !== IMAGE) throw new Error(`bench/train: preset ${PRESET} has image.imageSize ${config.image.imageSize}; the bench uses ${IMAGE}`);
if (TOKENS > config.text.maxPositions) throw new Error(`bench/train: ${TOKENS} tokens exceed text.maxPositions ${config.text.maxPositions}`);
const precision = dtype === 'bfloat16' ? 'bfloat16' : 'float32';
const trainInput: TrainConfigInput = { precision, progress: 'off', logEvery: 1_000_000, epochs: 1 };
const trainCfg = resolveTrainConfig(trainInput); // the loop's defaults: AdamW 0.9/0.98/1e-6, decay 0.05, clip 1, MAE 0.75, MLM 0.15
if (Object.values(trainCfg.modalityDropout).some((p) => p !== 0) || trainCfg.imageOnlyShare !== 0 || trainCfg.accumSteps !== 1) {
  throw new Error('bench/train: peer.py mirrors a step without modality dropout (nor imageOnlyShare) or gradient accumulation; ' +
    'the loop defaults changed: update peer.py');
}
const objective = new Objective(); // default weights (seven parts at 1, icdrImage/sdrgImage at 0), no smoothing, no class weights

setNumThreads(threads);
manualSeed(0);
const model = buildModel(config, { vocabSize: VOCAB, tabularDim: TABULAR });
if (!(model instanceof Kemt)) throw new Error('bench/train: buildModel did not return a Kemt');
if (device !== 'cpu') model.to(device); // float32 master weights; bf16 is autocast inside the loop

/** Random inputs of the bench's shapes: notes [CLS] ids.. [SEP] [PAD].. of L/2..L tokens; 3/4 distinct notes. */
function makeBatch(B: number): Batch {
  const rng = new Rng(1);
  const L = TOKENS;
  const { padId, clsId, sepId } = PROJECT_SPECIAL_IDS;
  const ids = new BigInt64Array(B * L).fill(BigInt(padId));
  const mask = new BigInt64Array(B * L);
  for (let i = 0; i < B; i++) {
    const n = rng.int(L / 2, L);
    ids[i * L] = BigInt(clsId);
    for (let j = 1; j < n - 1; j++) ids[i * L + j] = BigInt(rng.int(5, VOCAB - 1));
    ids[i * L + n - 1] = BigInt(sepId);
    for (let j = 0; j < n; j++) mask[i * L + j] = 1n;
  }
  const grades = (): BigInt64Array => BigInt64Array.from({ length: B }, () => BigInt(rng.int(0, 4)));
  const groups = Math.max(1, Math.ceil(0.75 * B));
  const place = (t: Tensor): Tensor => {
    if (device === 'cpu') return t;
    const moved = t.to(device);
    t.dispose();
    return moved;
  };
  return {
    images: place(Tensor.randn([B, 3, IMAGE, IMAGE])), // (B, 3, S, S)
    tokenIds: place(Tensor.from(ids, [B, L])), // (B, L)
    attentionMask: place(Tensor.from(mask, [B, L])), // (B, L)
    tabular: place(Tensor.randn([B, TABULAR])), // (B, F)
    icdr: place(Tensor.from(grades(), [B])), // (B)
    sdrg: place(Tensor.from(grades(), [B])), // (B)
    present: place(Tensor.ones([B, 3], 'bool')), // (B, 3)
    noteGroup: Int32Array.from({ length: B }, (_, i) => i % groups),
    size: B,
  };
}

interface LoopRun {
  /** Step times (s) of each round, batch making excluded. */
  rounds: number[][];
  /** CPU seconds of each step (this process, all threads: user + system), batch making excluded. */
  cpuRounds: number[][];
  firstParts: Record<string, number>;
  /** Resident memory (MiB) and live tensors after the run (the loop's checkpoint written and removed). */
  rssAfter: number;
  liveAfter: number;
}

/**
 * One train() call of `warm + nRounds * n` steps on fresh random batches (the loop disposes each).
 * Before each round of n steps the onStep hook awaits `beforeRound(k)` (the peer's round k); the
 * time spent there and in making batches is not counted.
 */
async function runLoop(warm: number, nRounds: number, n: number, beforeRound: (k: number) => Promise<void>): Promise<LoopRun> {
  const total = warm + nRounds * n;
  const out = mkdtempSync(join(tmpdir(), 'retalign-bench-train-'));
  let makeMs = 0;
  let makeCpuUs = 0;
  const cpuUs = (): number => { const u = process.cpuUsage(); return u.user + u.system; };
  const source: BatchSource = {
    batchesPerEpoch: total,
    *batchesForEpoch(_epoch, _rng, from) {
      for (let k = from; k < total; k++) {
        const t0 = performance.now();
        const c0 = cpuUs();
        const b = makeBatch(batchSize);
        makeMs += performance.now() - t0;
        makeCpuUs += cpuUs() - c0;
        yield b;
      }
    },
  };
  const times: number[][] = [];
  const cpuTimes: number[][] = [];
  let firstParts: Record<string, number> | null = null;
  let last = performance.now();
  let lastCpu = cpuUs();
  try {
    await train({
      model, objective, trainBatches: source, out, config: { ...trainInput, maxSteps: total },
      hooks: {
        onStep: async (info) => {
          cudaSynchronize();
          const now = performance.now();
          const nowCpu = cpuUs();
          if (info.step > warm) {
            times[times.length - 1]?.push((now - last - makeMs) / 1000);
            cpuTimes[cpuTimes.length - 1]?.push((nowCpu - lastCpu - makeCpuUs) / 1e6);
          }
          firstParts ??= info.parts;
          if (info.step >= warm && info.step < total && (info.step - warm) % n === 0) {
            await beforeRound(times.length);
            times.push([]);
            cpuTimes.push([]);
          }
          last = performance.now();
          lastCpu = cpuUs();
          makeMs = 0;
          makeCpuUs = 0;
        },
      },
    });
  } finally {
    rmSync(out, { recursive: true, force: true }); // the loop's final checkpoint and metrics.jsonl
  }
  if (times.length !== nRounds || times.some((t) => t.length !== n) || firstParts === null) {
    throw new Error(`bench/train: the loop ran rounds of ${times.map((t) => t.length).join(', ')} timed steps, expected ${nRounds} of ${n}`);
  }
  return { rounds: times, cpuRounds: cpuTimes, firstParts, rssAfter: process.memoryUsage().rss / 2 ** 20, liveAfter: liveTensors() };
}

/**
 * This process's peak RSS in KiB: VmHWM on Linux (as peer.py reports its own), else
 * process.resourceUsage().maxRSS. getrusage's maxrss is avoided because Linux carries a parent's
 * peak over fork+exec (npm -> node, node -> python would report at least the parent's RSS).
 */
function peakRssKiB(): number {
  try {
    const m = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync('/proc/self/status', 'utf8'));
    if (m !== null) return Number(m[1]);
  } catch {
    // not Linux: fall through
  }
  return process.resourceUsage().maxRSS;
}

// ----- the peer first (a version mismatch fails before anything is timed), then the rounds
const probe = spawnSync(python, ['-c', 'import torch'], { encoding: 'utf8' });
if (probe.status !== 0) {
  throw new Error(`bench/train: ${python} cannot import torch (${(probe.stderr || String(probe.error)).trim().split('\n').pop()}); ` +
    "install Debian's python3-torch (apt-get install -y python3-torch) or set PYTHON to a python with torch");
}
const spec = {
  config, vocab: VOCAB, tabularDim: TABULAR, tokens: TOKENS, batch: batchSize, specialIds: PROJECT_SPECIAL_IDS,
  threads, device, dtype, weights: objective.config.weights,
  train: {
    lr: trainCfg.lr, weightDecay: trainCfg.weightDecay, beta1: trainCfg.beta1, beta2: trainCfg.beta2, eps: trainCfg.eps,
    clipGradNorm: trainCfg.clipGradNorm, maeMaskRatio: trainCfg.maeMaskRatio, mlmProb: trainCfg.mlmProb, reconFraction: trainCfg.reconFraction,
  },
};
const peer = await PythonPeer.start('bench/train', python, [peerScript('bench/train', import.meta.url, 'train', 'peer.py'), JSON.stringify(spec)]);
interface PeerReady { torch: string; python: string; threads: number; params: Record<string, [number[], boolean]>; buffers: Record<string, number[]> }
const pyReady = peer.ready as unknown as PeerReady;
const versions = torchVersionLine('bench/train', torchVersion(), pyReady.torch, `python (${pyReady.python})`);

// ----- same model? names, shapes and decay groups must be identical
const grouping = paramGroups(model, trainCfg.weightDecay); // the loop's own grouping
const decayNames = new Set(grouping.decay);
// Buffers (BatchNorm running statistics: saved, not trained) are compared with the peer's named_buffers.
const named = [...model.namedParameters()];
const ourParams = new Map(named.filter(([, t]) => t.requiresGrad).map(([n, t]) => [n, { shape: t.shape, decay: decayNames.has(n), numel: t.numel }]));
const ourBuffers = new Map(named.filter(([, t]) => !t.requiresGrad).map(([n, t]) => [n, t.shape]));
const problems: string[] = [];
for (const [n, p] of ourParams) {
  const q = pyReady.params[n];
  if (q === undefined) problems.push(`${n} [${p.shape.join(', ')}]: only in retalign`);
  else if (q[0].join(',') !== p.shape.join(',')) problems.push(`${n}: [${p.shape.join(', ')}] in retalign, [${q[0].join(', ')}] in pytorch`);
  else if (q[1] !== p.decay) problems.push(`${n}: weight decay ${p.decay} in retalign, ${q[1]} in pytorch`);
}
for (const [n, q] of Object.entries(pyReady.params)) if (!ourParams.has(n)) problems.push(`${n} [${q[0].join(', ')}]: only in pytorch`);
for (const [n, shape] of ourBuffers) {
  const q = pyReady.buffers[n];
  if (q === undefined) problems.push(`buffer ${n} [${shape.join(', ')}]: only in retalign`);
  else if (q.join(',') !== shape.join(',')) problems.push(`buffer ${n}: [${shape.join(', ')}] in retalign, [${q.join(', ')}] in pytorch`);
}
for (const [n, q] of Object.entries(pyReady.buffers)) if (!ourBuffers.has(n)) problems.push(`buffer ${n} [${q.join(', ')}]: only in pytorch`);
const count = (decay: boolean | null): number => [...ourParams.values()].filter((p) => decay === null || p.decay === decay).reduce((s, p) => s + p.numel, 0);
const peerCount = Object.values(pyReady.params).reduce((s, [shape]) => s + shape.reduce((a, b) => a * b, 1), 0);
if (peerCount !== count(null)) problems.push(`parameter count: retalign ${count(null)}, pytorch ${peerCount}`);
const bufferCount = [...ourBuffers.values()].reduce((s, shape) => s + shape.reduce((a, b) => a * b, 1), 0);
if (model.numParameters() !== count(null) + bufferCount) problems.push(`retalign numParameters ${model.numParameters()} != the sum over namedParameters ${count(null) + bufferCount}`);
if (problems.length > 0) throw new Error(`bench/train: the pytorch peer is not the same model:\n  ${problems.slice(0, 30).join('\n  ')}`);

console.error(`bench/train: warm-up (${warmup} steps each side), then ${rounds} rounds of ${steps} steps: pytorch, retalign, pytorch, retalign, ...`);
const pyFirstParts = (await peer.ask({ cmd: 'warmup', steps: warmup }))['firstParts'] as Record<string, number>;
const pyRounds: number[][] = [];
const pyCpuRounds: number[][] = [];
const ours = await runLoop(warmup, rounds, steps, async (k) => {
  console.error(`bench/train: round ${k + 1}/${rounds}`);
  const r = await peer.ask({ cmd: 'round', steps });
  pyRounds.push(r['stepTimes'] as number[]);
  pyCpuRounds.push(r['cpuTimes'] as number[]);
});
const pyStats = await peer.ask({ cmd: 'stats' }) as { maxRssKiB: number; ruMaxRssKiB: number; cudaMaxAllocatedMiB: number | null };
await peer.close();
const py = { ...pyReady, ...pyStats, firstParts: pyFirstParts };
const loadEnd = loadavg();

// ----- report
// Both sides alike: the median step of each round, then the median of the round medians.
const ourTime = median(ours.rounds.map(median));
const pyTime = median(pyRounds.map(median));
// CPU time per step (each process, all its threads), reduced the same way: what the step costs in core
// time, steadier than wall time when other work shares the cores (it still counts spin-waiting threads).
const ourCpu = median(ours.cpuRounds.map(median));
const pyCpu = median(pyCpuRounds.map(median));
const ourRssKiB = peakRssKiB();
const mib = (kib: number): string => (kib / 1024).toFixed(0);
const fmt = (n: number): string => n.toLocaleString('en-US');
const ms = (s: number): string => (s * 1e3).toFixed(0);
const rows: string[][] = [
  ['retalign (train())', (batchSize / ourTime).toFixed(1), ms(ourTime), ms(ourCpu), mib(ourRssKiB), fmt(count(null))],
  ['pytorch (python)', (batchSize / pyTime).toFixed(1), ms(pyTime), ms(pyCpu), mib(py.maxRssKiB), fmt(peerCount)],
];
const head = ['side', 'samples/s', 'ms/step (median of round medians)', 'CPU ms/step (all threads)', 'peak RSS MiB', 'params'];
const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] as string).length)));
const line = (cells: string[]): string => '| ' + cells.map((c, i) => c.padEnd(widths[i] as number)).join(' | ') + ' |';
const parts = (p: Record<string, number>): string => Object.entries(p).map(([k, v]) => `${k} ${v.toFixed(3)}`).join(', ');

console.log(`train bench: preset ${PRESET} (Kemt), batch ${batchSize}, ${IMAGE}x${IMAGE} images, ${TOKENS} tokens, vocab ${VOCAB}, tabular ${TABULAR}; ` +
  `device ${device}, ${dtype}, threads ${getNumThreads()} (pytorch ${py.threads})`);
console.log(`load average (1 min) ${loadStart[0]?.toFixed(2)} at start, ` +
  `${loadEnd[0]?.toFixed(2)} at end, ${cpus().length} cores`);
console.log(`step: forward (main + MAE ${trainCfg.maeMaskRatio} visible-patch ViT pass + MLM ${trainCfg.mlmProb} masked-note BERT pass), ` +
  `${Object.values(objective.config.weights).filter((w) => w !== 0).length} loss parts, ` +
  `backward, clip ${trainCfg.clipGradNorm}, AdamW (decay ${trainCfg.weightDecay} on ${grouping.decay.length} tensors, 0 on ${grouping.noDecay.length}), zero grad; ` +
  `${warmup} warm-up steps each, then ${rounds} interleaved rounds (pytorch, retalign) of ${steps} steps; each side = median of its round medians`);
if (dtype === 'bfloat16') {
  console.log(`bfloat16: autocast around forward + losses on both sides (float32 master weights and AdamW)${device === 'cpu' ? '; on CPU only fast with bf16 instructions' : ''}`);
}
console.log(line(head));
console.log('|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|');
for (const row of rows) console.log(line(row));
console.log(`peak RSS: each process's own VmHWM (/proc/self/status), not getrusage maxrss (Linux counts the spawning node's RSS in the peer's: ${mib(py.ruMaxRssKiB)} MiB); ` +
  `retalign RSS after the run ${ours.rssAfter.toFixed(0)} MiB (live tensors ${ours.liveAfter})`);
console.log(`params equal: ${fmt(count(null))} in ${ourParams.size} tensors on both sides (decay ${fmt(count(true))}, no decay ${fmt(count(false))}); ` +
  'names, shapes and decay groups identical');
if (py.cudaMaxAllocatedMiB !== null) console.log(`pytorch peak CUDA memory allocated: ${py.cudaMaxAllocatedMiB.toFixed(0)} MiB (retalign: not exposed by the addon)`);
const perRound = (rs: number[][]): string => rs.map((r) => r.map((t) => t.toFixed(2)).join(' ')).join(' | ');
console.log(`step times s by round: pytorch ${perRound(pyRounds)}; retalign ${perRound(ours.rounds)}`);
console.log(`per-round ratios (retalign / pytorch round medians): ${ours.rounds.map((r, i) => (median(r) / median(pyRounds[i] ?? [])).toFixed(3)).join(' ')}`);
console.log(`first-step loss parts (random data and weights: same scale expected): retalign ${parts(ours.firstParts)}`);
console.log(`                                                                     pytorch  ${parts(py.firstParts)}`);
console.log(`cpu-per-step-ratio ${(ourCpu / pyCpu).toFixed(3)} (retalign / pytorch CPU time per step, both processes' threads)`);
console.log(versions);
console.log(`train-step-ratio ${(ourTime / pyTime).toFixed(3)}`);
