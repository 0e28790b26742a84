/**
 * Index benchmark: exact top-10 cosine search latency of the EmbeddingIndex (libtorch matmul +
 * topk through the addon, plus SQLite metadata for the hits) against brute-force NumPy (matmul +
 * argpartition, bench/index/peer.py) on the same vectors and queries, in the same run.
 *
 * For each size (default 100k and 1M rows of width 256, random unit vectors from a seeded
 * generator): build a real index folder (vectors.f32 + meta.sqlite) with add() in blocks of 10k,
 * time the first search (it loads the store), then 50 single queries and N batches of 32. NumPy
 * reads the index's own vectors.f32 (32-byte header). Each query is timed on both sides back to
 * back, alternating which goes first, so a busy machine slows both alike.
 * `--direct` skips the index for sizes >= 1M: the store tensor is built in memory and searched
 * with cosineTopk (no SQLite, no metadata lookups).
 *
 * Memory: at 1M x 256 the store is 1 GB; two copies exist (the index's tensor and NumPy's array);
 * vectors pass through JS only in 10k-row blocks.
 * Last line: `index-top10-ms-1m <median ms, one query, 1M rows>`; the line before it gives the
 * ratio to NumPy.
 *
 * usage: node --import tsx bench/index/run.ts [--sizes 100000,1000000] [--batches 10] [--direct]
 *   expected: ~1.5-2 minutes on 2 cores, half of it building the 1M index
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Tensor, getNumThreads, keep, manualSeed, setNumThreads, tidy, torchVersion } from '../../src/tensor/index.js';
import { EmbeddingIndex, cosineTopk, type NewItem } from '../../src/index/index.js';

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? (process.argv[i + 1] as string) : dflt;
}
const sizes = arg('sizes', '100000,1000000').split(',').map(Number);
const dim = 256, K = 10, nSingle = 50, batch = 32, BLOCK = 10_000;
const nBatches = Number(arg('batches', '10'));
const direct = process.argv.includes('--direct');
const threads = Math.max(1, cpus().length);
const python = process.env.PYTHON ?? '/usr/bin/python3';
const here = dirname(fileURLToPath(import.meta.url));
// From source (tsx) peer.py sits beside this file; compiled, this file runs from dist/bench/index.
const peerFound = [join(here, 'peer.py'), join(here, '..', '..', '..', 'bench', 'index', 'peer.py')].find((p) => existsSync(p));
if (peerFound === undefined) throw new Error(`bench/index: peer.py not found beside ${here} or in bench/index`);
const peerPy: string = peerFound;
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

/** The NumPy peer as a line-oriented subprocess: ask('s 3') -> parsed JSON reply. */
async function startPeer(args: string[]): Promise<{ ask: (cmd: string) => Promise<{ t: number; rows?: number[] }>; stop: () => Promise<void> }> {
  const child = spawn(python, [peerPy, ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, OPENBLAS_NUM_THREADS: String(threads), OMP_NUM_THREADS: String(threads) },
  });
  let stderr = '';
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const next = async (): Promise<string> => {
    const r = await lines.next();
    if (r.done) throw new Error(`bench/index: numpy peer exited (${python} ${peerPy}):\n${stderr}`);
    return r.value as string;
  };
  await next(); // {"ready": true}
  return {
    ask: async (cmd) => {
      child.stdin.write(`${cmd}\n`);
      return JSON.parse(await next()) as { t: number; rows?: number[] };
    },
    stop: async () => {
      child.stdin.end('q\n');
      await new Promise((res) => child.once('close', res));
    },
  };
}

interface Result { n: number; path: string; build: string; single: number[]; batch: number[]; pySingle: number[]; pyBatch: number[]; agree: number }
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
    searchOne(single(0));
    searchMany(batchOf(0)); // warm-up (the peer warms up before 'ready')
    const st: number[] = [], pt: number[] = [], bt: number[] = [], pbt: number[] = [];
    let agree = 0;
    for (let i = 0; i < nSingle; i++) {
      const ours = (): number[] => { const [rows, t] = timed(() => searchOne(single(i))); st.push(t); return rows; };
      const theirs = async (): Promise<number[]> => { const r = await peer.ask(`s ${i}`); pt.push(r.t); return r.rows ?? []; };
      let a: number[], b: number[];
      if (i % 2 === 0) { a = ours(); b = await theirs(); } else { b = await theirs(); a = ours(); }
      if (JSON.stringify(a) === JSON.stringify(b)) agree++;
    }
    for (let j = 0; j < nBatches; j++) {
      if (j % 2 === 1) pbt.push((await peer.ask(`b ${j}`)).t);
      bt.push(timed(() => searchMany(batchOf(j)))[1]);
      if (j % 2 === 0) pbt.push((await peer.ask(`b ${j}`)).t);
    }
    await peer.stop();
    close();
    results.push({ n, path: useIndex ? 'EmbeddingIndex' : 'cosineTopk (direct)', build, single: st, batch: bt, pySingle: pt, pyBatch: pbt, agree });
    rmSync(join(tmp, `ix-${n}`), { recursive: true, force: true });
    rmSync(join(tmp, `vectors-${n}.f32`), { force: true });
  }
} finally {
  rmSync(tmp, { recursive: true, force: true });
}

console.log(`index bench: width ${dim}, top-${K}, ${nSingle} single queries, ${nBatches} batches of ${batch}; threads=${getNumThreads()} ` +
  `libtorch(addon)=${torchVersion()}; numpy peer ${python}, interleaved query by query`);
const rows: string[][] = [];
for (const r of results) {
  const s = msStats(r.single), b = msStats(r.batch), ps = msStats(r.pySingle), pb = msStats(r.pyBatch);
  const n = r.n.toLocaleString('en-US');
  rows.push([n, r.path, 'single', `${s.med.toFixed(2)} / ${s.p99.toFixed(2)}`, `${ps.med.toFixed(2)} / ${ps.p99.toFixed(2)}`, (s.med / ps.med).toFixed(2), `${r.agree}/${nSingle}`]);
  rows.push([n, r.path, `batch ${batch}`, `${b.med.toFixed(1)} / ${b.p99.toFixed(1)}`, `${pb.med.toFixed(1)} / ${pb.p99.toFixed(1)}`, (b.med / pb.med).toFixed(2), '-']);
}
const head = ['rows', 'retalign path', 'queries', 'retalign ms (median / p99)', 'numpy ms (median / p99)', 'ratio', 'same top-10'];
const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)));
const line = (cells: string[]): string => '| ' + cells.map((c, i) => c.padEnd(widths[i] as number)).join(' | ') + ' |';
console.log(line(head));
console.log('|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|');
for (const r of rows) console.log(line(r));
for (const r of results) console.log(`build ${r.n}: ${r.build}`);
const big = results.find((r) => r.n === 1_000_000);
if (big) {
  const s = msStats(big.single).med;
  console.log(`index-top10-ratio-to-numpy-1m ${(s / msStats(big.pySingle).med).toFixed(3)}`);
  console.log(`index-top10-ms-1m ${s.toFixed(2)}`);
} else {
  console.log('index-top10-ms-1m n/a (1000000 not in --sizes)');
}
