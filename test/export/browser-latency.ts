/**
 * README tool (not a test): grading latency of the demo-sized model (the `small` preset at 96 px, as
 * configs/runs/demo-kemt.json; untrained: latency does not depend on the weights) in the browser and on
 * the server, on the same 20 synthetic 512 px photos, photo only, heatmap included, one at a time.
 *   browser: Debian's Chromium, the page's "Grade on this device" path (preparation in the page,
 *            onnxruntime-web's WASM backend, 2 threads: the page is cross-origin isolated when served);
 *   server:  POST /v1/grade to the same process (libtorch, 2 threads), wall time at the client.
 * Two warm-up grades each, then p50/p90 over 20.
 *
 * usage: node dist/test/export/browser-latency.js [--threads 2]
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { manualSeed, setNumThreads, getNumThreads } from '../../src/tensor/index.js';
import { buildModel, loadPreset } from '../../src/models/index.js';
import { Tokenizer } from '../../src/data/tokenizer/tokenizer.js';
import { buildVocab } from '../../src/data/tokenizer/builder.js';
import { resolveImageConfig } from '../../src/data/images/config.js';
import { resolveNoteOptions } from '../../src/data/notes/builder.js';
import { ServeEngine } from '../../src/serve/engine.js';
import { buildApp } from '../../src/serve/app.js';
import { main } from '../../src/cli/main.js';
import { launchPage } from '../serve/page.js';

const i = process.argv.indexOf('--threads');
const threads = i >= 0 ? Number(process.argv[i + 1]) : 2;
const N = 20;
const WARM = 2;
const pct = (xs: number[], q: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))] as number;

setNumThreads(threads);
manualSeed(0);
const preset = loadPreset('small');
const notes = ['No diabetic retinopathy.', 'Dot and blot haemorrhages with hard exudates.', 'New vessels at the disc.'];
const tokenizer = new Tokenizer(buildVocab(notes, { size: 200, lowercase: true, minFrequency: 1 }), { lowercase: true, maxLength: 64 });
const model = buildModel(preset, { vocabSize: tokenizer.vocabSize, tabularDim: 1, specialIds: tokenizer });
const pre = {
  tokenizer: tokenizer.toJSON(), tabular: null, maxTokens: 64,
  image: resolveImageConfig({ size: preset.image.imageSize }),
  notes: { ...resolveNoteOptions({}), templateHoldout: false },
};
const engine = new ServeEngine({ model, pre, checkpointId: 'latency-small-untrained', name: 'latency/small' });
const dir = mkdtempSync(join(tmpdir(), 'retalign-latency-'));
await main(['synth', '--out', join(dir, 'twin'), '--patients', String(N / 2 + WARM + 2), '--size', '512', '--seed', '5']);
const photos = readdirSync(join(dir, 'twin', 'fundus_photos')).filter((f) => f.endsWith('.jpg')).sort().slice(0, N + WARM)
  .map((f) => readFileSync(join(dir, 'twin', 'fundus_photos', f)));
if (photos.length < N + WARM) throw new Error(`synth wrote ${photos.length} photos; ${N + WARM} are needed`);
const { app } = await buildApp({ engine, index: null, dataRoot: null, host: '127.0.0.1', token: null, rateLimit: null, maxQueue: 64, concurrency: 1, maxBatch: 1, batchWindowMs: 0 });
await app.listen({ host: '127.0.0.1', port: 0 });
const addr = app.server.address();
const url = `http://127.0.0.1:${typeof addr === 'object' && addr !== null ? addr.port : 0}`;
const load0 = loadavg()[0] as number;

// server: one client, one request at a time
const server: number[] = [];
for (const [k, bytes] of photos.entries()) {
  const form = new FormData();
  form.append('image', new Blob([bytes], { type: 'image/jpeg' }), 'photo.jpg');
  const t0 = performance.now();
  const res = await fetch(`${url}/v1/grade`, { method: 'POST', body: form });
  if (res.status !== 200) throw new Error(`server: ${res.status} ${await res.text()}`);
  await res.json();
  if (k >= WARM) server.push(performance.now() - t0);
}

// browser: the page's on-device path
const profile = mkdtempSync(join(tmpdir(), 'retalign-chromium-'));
const { context, page } = await launchPage(profile);
let browser: { total: number[]; model: number[]; threads: number; isolated: boolean };
try {
  await page.goto(`${url}/`);
  browser = await page.evaluate(`(async () => {
    const { loadOnDevice } = await import('./web/ondevice.js');
    const d = await loadOnDevice(new URL('/web/', location.href), '');
    const photos = ${JSON.stringify(photos.map((b) => b.toString('base64')))};
    const total = [], model = [];
    for (const [k, b64] of photos.entries()) {
      const blob = new Blob([Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))], { type: 'image/jpeg' });
      const t0 = performance.now();
      const r = await d.grade(blob);
      if (k >= ${WARM}) { total.push(performance.now() - t0); model.push(r.onDevice.ms); }
    }
    d.close();
    return { total, model, threads: d.threads, isolated: self.crossOriginIsolated };
  })()`);
} finally {
  await context.close();
  await app.close();
  rmSync(profile, { recursive: true, force: true });
  rmSync(dir, { recursive: true, force: true });
}
const f = (x: number): string => x.toFixed(0);
console.log(`small preset (untrained), ${preset.image.imageSize} px input, ${N} synthetic 512 px photos, photo only + heatmap; load average ${load0.toFixed(2)} at the start`);
console.log(`browser (Chromium, onnxruntime-web WASM, ${browser.threads} threads, cross-origin isolated ${browser.isolated}): grade p50 ${f(pct(browser.total, 0.5))} ms, p90 ${f(pct(browser.total, 0.9))} ms; model run alone p50 ${f(pct(browser.model, 0.5))} ms`);
console.log(`server (libtorch, ${getNumThreads()} threads, POST /v1/grade, 1 client): p50 ${f(pct(server, 0.5))} ms, p90 ${f(pct(server, 0.9))} ms`);
console.log(`browser-grade-p50-ms ${f(pct(browser.total, 0.5))} server-grade-p50-ms ${f(pct(server, 0.5))}`);
