/**
 * Index benchmark: exact top-10 cosine search latency of the EmbeddingIndex (libtorch matmul +
 * topk through the addon, plus SQLite metadata for the hits) against brute force in Python on the
 * same vectors and queries, in the same run (bench/index/peer.py): NumPy (matmul + argpartition)
 * and PyTorch (matmul + topk: the same libtorch kernels, what a PyTorch user writes).
 *
 * For each size (default 100k and 1M rows of width 256, random unit vectors from a seeded
 * generator): build a real index folder (vectors.f32 + meta.sqlite) with add() in blocks of 10k,
 * time the first search (it loads the store), then 50 single queries and N batches of 32. The peer
 * reads the index's own vectors.f32 (32-byte header). Each query is timed on both sides back to
 * back, alternating which goes first, so a busy machine slows both alike.
 * Agreement: for every single query, the top-10 rows of ours and of each peer are compared as sets;
 * below TOP10_BOUND of the hits in common (over all queries) fails the bench, and so do unequal
 * libtorch releases of the addon and the peer's torch. RETALIGN_BENCH_FORCE=top10 (the peer searches
 * with negated queries) or =version shows each failure.
 * `--direct` skips the index for sizes >= 1M: the store tensor is built in memory and searched
 * with cosineTopk (no SQLite, no metadata lookups).
 *
 * Memory: at 1M x 256 the store is 1 GB; two copies exist (the index's tensor and NumPy's array);
 * vectors pass through JS only in 10k-row blocks.
 * Last line: `index-top10-ms-1m <median ms, one query, 1M rows>`; the lines before it give the
 * ratios to NumPy and to PyTorch and the versions.
 *
 * usage: node --import tsx bench/index/run.ts [--sizes 100000,1000000] [--singles 50] [--batches 10] [--direct]
 *   expected: ~1.5-2 minutes on 2 cores, half of it building the 1M index
 *   quick check: npm run bench:index -- --sizes 20000 --singles 10 --batches 2
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tensor, getNumThreads, keep, manualSeed, setNumThreads, tidy, torchVersion } from '../../src/tensor/index.js';
import { EmbeddingIndex, cosineTopk, type NewItem } from '../../src/index/index.js';
import { PythonPeer, forced, intFlag, peerScript, torchVersionLine } from '../common/peer.js';

const BENCH = 'bench/index';
/** Share of top-10 hits (over all single queries) that ours and each peer must have in common. */
const TOP10_BOUND = 0.99;

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? (process.argv[i + 1] as string) : dflt;
}
const sizes = arg('sizes', '100000,1000000').split(',').map(Number);
const dim = 256, K = 10, batch = 32, BLOCK = 10_000;
const nSingle = intFlag(BENCH, 'singles', 50);
const nBatches = intFlag(BENCH, 'batches', 10);
const direct = process.argv.includes('--direct');
const threads = Math.max(1, cpus().length);
const python = process.env.PYTHON ?? '/usr/bin/python3';
const peerPy = peerScript(BENCH, import.meta.url, 'index', 'peer.py');
setNumThreads(threads);
manualSeed(0);

/** (n, d) random unit rows. */
const randomUnit = (n: number): Tensor => tidy(() => Tensor.randn([n, dim]).normalize(2, 1));
const gb = (bytes: number): string => `${(bytes / 2 ** 30).toFixed(2)} GiB`;
/** Median and nearest-rank p99 in ms (with 50 samples the p99 is the slowest). */
function msStats(s: number[]): { med: number; p99: number } {
  const a = [...s].sort((x, y) => x - y);
  return { med: (a[Math.floor(a.length / 2)] as number) * 1e3, p99: (a[Math.ceil(0.99 * a.length) - 1] as number) * 1e3 };
}
function timed<T>(fn: () => T): [T, number] {
  const t0 = performance.now();
  const r = fn();
  return [r, (performance.now() - t0) / 1e3];
}

interface PeerTimes { t: number; rows?: number[] }
type PeerReply = { numpy: PeerTimes; torch: PeerTimes };

/** The Python peer (NumPy and torch brute force over the same file). */
async function startPeer(args: string[]): Promise<PythonPeer> {
  return PythonPeer.start(BENCH, python, [peerPy, ...args, String(threads), ...(forced('top10') ? ['--negate'] : [])],
    { ...process.env, OPENBLAS_NUM_THREADS: String(threads), OMP_NUM_THREADS: String(threads) });
}

/** Hits two top-k lists have in common (as sets). */
const common = (a: number[], b: number[]): number => { const s = new Set(a); return b.filter((x) => s.has(x)).length; };

interface Agreement { common: number; exact: number }
interface Result {
  n: number; path: string; build: string; single: number[]; batch: number[];
  npSingle: number[]; npBatch: number[]; tSingle: number[]; tBatch: number[];
  numpy: Agreement; torch: Agreement;
}
let peerTorch = '';
const results: Result[] = [];
const tmp = mkdtempSync(join(tmpdir(), 'retalign-bench-index-'));
try {
  for (const n of sizes) {
    // Queries: 50 singles, then nBatches x 32; NumPy reads the same file.
    const queries = tidy(() => randomUnit(nSingle + batch * nBatches).toFloat32());
    const qPath = join(tmp, `queries-${n}.f32`);
    writeFileSync(qPath, new Uint8Array(queries.buffer));
    const single = (i: number): Float32Array => queries.subarray(i * dim, (i + 1) * dim);
    const batchOf = (b: number): Float32Array => queries.subarray((nSingle + b * batch) * dim, (nSingle + (b + 1) * batch) * dim);

    let searchOne: (q: Float32Array) => number[];
    let searchMany: (q: Float32Array) => void;
    let close: () => void;
    let vecPath: string, offset: number, build: string;
    const useIndex = !(direct && n >= 1_000_000);
    if (useIndex) {
      const dir = join(tmp, `ix-${n}`);
      const ix = EmbeddingIndex.create(dir, { checkpointId: 'bench', modelName: 'synthetic', dim, embeddingSpace: 'random-unit' });
      const [, addS] = timed(() => {
        for (let s = 0; s < n; s += BLOCK) {
          const m = Math.min(BLOCK, n - s);
          const block = tidy(() => randomUnit(m).toFloat32());
          const items: NewItem[] = [];
          for (let j = 0; j < m; j++) {
            items.push({ id: `v${s + j}`, kind: 'image', vector: block.subarray(j * dim, (j + 1) * dim),
              meta: { patientId: `p${(s + j) >> 1}`, imagePath: `img/v${s + j}.jpg`, icdr: (s + j) % 5 } });
          }
          ix.add(items);
        }
      });
      const [, loadS] = timed(() => ix.search(single(0), { k: K })); // loads the (n, d) store from vectors.f32
      build = `index add ${addS.toFixed(1)} s (${Math.round(n / addS)} rows/s with metadata), first search (load) ${loadS.toFixed(1)} s, ` +
        `node RSS ${gb(process.memoryUsage().rss)} (store ${gb(n * dim * 4)})`;
      searchOne = (q) => ix.search(q, { k: K }).map((h) => Number(h.id.slice(1)));
      searchMany = (q) => { ix.searchBatch(q, { k: K }); };
      close = () => ix.close();
      vecPath = join(dir, 'vectors.f32');
      offset = 32;
    } else {
      const [store, genS] = timed(() => keep(randomUnit(n))); // in memory only: no SQLite, no metadata lookups
      vecPath = join(tmp, `vectors-${n}.f32`);
      offset = 0;
      writeFileSync(vecPath, new Uint8Array(0));
      for (let s = 0; s < n; s += BLOCK) {
        const part = tidy(() => store.narrow(0, s, Math.min(BLOCK, n - s)).toFloat32());
        writeFileSync(vecPath, new Uint8Array(part.buffer), { flag: 'a' });
      }
      build = `direct tensor ${genS.toFixed(1)} s (no SQLite, no metadata), node RSS ${gb(process.memoryUsage().rss)} (store ${gb(n * dim * 4)})`;
      searchOne = (q) => tidy(() => cosineTopk(store, n, Tensor.from(q, [1, dim]), K).rows);
      searchMany = (q) => { tidy(() => cosineTopk(store, n, Tensor.from(q, [batch, dim]), K)); };
      close = () => store.dispose();
    }

    const peer = await startPeer([vecPath, String(offset), String(n), String(dim), qPath, String(nSingle), String(batch), String(K)]);
    if (peerTorch === '') peerTorch = torchVersionLine(BENCH, torchVersion(), String(peer.ready['torch']), `python (${python})`); // fails before timing
    searchOne(single(0));
    searchMany(batchOf(0)); // warm-up (the peer warms up before its ready line)
    const st: number[] = [], bt: number[] = [];
    const np = { s: [] as number[], b: [] as number[], agree: { common: 0, exact: 0 } };
    const th = { s: [] as number[], b: [] as number[], agree: { common: 0, exact: 0 } };
    const note = (side: typeof np, ours: number[], r: PeerTimes): void => {
      side.s.push(r.t);
      const rows = r.rows ?? [];
      side.agree.common += common(ours, rows);
      if (JSON.stringify(ours) === JSON.stringify(rows)) side.agree.exact++;
    };
    for (let i = 0; i < nSingle; i++) {
      const ours = (): number[] => { const [rows, t] = timed(() => searchOne(single(i))); st.push(t); return rows; };
      const theirs = async (): Promise<PeerReply> => (await peer.ask({ cmd: 's', i })) as unknown as PeerReply;
      let a: number[], b: PeerReply;
      if (i % 2 === 0) { a = ours(); b = await theirs(); } else { b = await theirs(); a = ours(); }
      note(np, a, b.numpy);
      note(th, a, b.torch);
    }
    for (let j = 0; j < nBatches; j++) {
      const theirs = async (): Promise<void> => {
        const r = (await peer.ask({ cmd: 'b', j })) as unknown as PeerReply;
        np.b.push(r.numpy.t);
        th.b.push(r.torch.t);
      };
      if (j % 2 === 1) await theirs();
      bt.push(timed(() => searchMany(batchOf(j)))[1]);
      if (j % 2 === 0) await theirs();
    }
    await peer.close();
    close();
    results.push({ n, path: useIndex ? 'EmbeddingIndex' : 'cosineTopk (direct)', build, single: st, batch: bt,
      npSingle: np.s, npBatch: np.b, tSingle: th.s, tBatch: th.b, numpy: np.agree, torch: th.agree });
    rmSync(join(tmp, `ix-${n}`), { recursive: true, force: true });
    rmSync(join(tmp, `vectors-${n}.f32`), { force: true });
  }
} finally {
  rmSync(tmp, { recursive: true, force: true });
}

console.log(`index bench: width ${dim}, top-${K}, ${nSingle} single queries, ${nBatches} batches of ${batch}; threads=${getNumThreads()}; ` +
  `python peer ${python} (numpy brute force; torch matmul + topk), interleaved query by query`);
const rows: string[][] = [];
const pair = (xs: number[], digits: number): string => { const m = msStats(xs); return `${m.med.toFixed(digits)} / ${m.p99.toFixed(digits)}`; };
const agreeCell = (a: Agreement): string => `${(a.common / (K * nSingle) * 100).toFixed(1)}% (${a.exact}/${nSingle} same order)`;
for (const r of results) {
  const n = r.n.toLocaleString('en-US');
  const s = msStats(r.single).med, b = msStats(r.batch).med;
  rows.push([n, r.path, 'single', pair(r.single, 2), pair(r.npSingle, 2), pair(r.tSingle, 2),
    `${(s / msStats(r.npSingle).med).toFixed(2)} / ${(s / msStats(r.tSingle).med).toFixed(2)}`, `${agreeCell(r.numpy)}; ${agreeCell(r.torch)}`]);
  rows.push([n, r.path, `batch ${batch}`, pair(r.batch, 1), pair(r.npBatch, 1), pair(r.tBatch, 1),
    `${(b / msStats(r.npBatch).med).toFixed(2)} / ${(b / msStats(r.tBatch).med).toFixed(2)}`, '-']);
}
const head = ['rows', 'retalign path', 'queries', 'retalign ms (median / p99)', 'numpy ms (median / p99)', 'torch ms (median / p99)',
  'ratio to numpy / torch', 'top-10 hits in common with numpy; torch'];
const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)));
const line = (cells: string[]): string => '| ' + cells.map((c, i) => c.padEnd(widths[i] as number)).join(' | ') + ' |';
console.log(line(head));
console.log('|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|');
for (const r of rows) console.log(line(r));
for (const r of results) console.log(`build ${r.n}: ${r.build}`);

// Same answers: the top-10 sets must agree (float rounding may swap a near-tie at rank 10).
const low: string[] = [];
for (const r of results) {
  for (const [peerName, a] of [['numpy', r.numpy], ['torch', r.torch]] as const) {
    const share = a.common / (K * nSingle);
    if (!(share >= TOP10_BOUND)) low.push(`${r.n} rows vs ${peerName}: ${a.common} of ${K * nSingle} hits in common (${(share * 100).toFixed(1)}%)`);
  }
}
console.log(`top-10 agreement bound: ${TOP10_BOUND * 100}% of hits in common with each peer${forced('top10') ? ' (peer queries negated by RETALIGN_BENCH_FORCE=top10)' : ''}`);
if (low.length > 0) {
  throw new Error(`${BENCH}: FAIL top-10 agreement below ${TOP10_BOUND * 100}%: ${low.join('; ')}; the index does not return the exact cosine top-10`);
}
console.log(peerTorch);
const big = results.find((r) => r.n === 1_000_000);
if (big) {
  const s = msStats(big.single).med;
  console.log(`index-top10-ratio-to-numpy-1m ${(s / msStats(big.npSingle).med).toFixed(3)}`);
  console.log(`index-top10-ratio-to-torch-1m ${(s / msStats(big.tSingle).med).toFixed(3)}`);
  console.log(`index-top10-ms-1m ${s.toFixed(2)}`);
} else {
  console.log(`index-top10-ms-1m n/a (1000000 not in --sizes ${sizes.join(',')})`);
}
