// Grading in the browser (Debian's Chromium via playwright-core), on the tiny trained serve fixture:
// the page's own preprocessing against the server's; the "Grade on this device" switch on a served
// page with /v1/grade blocked (nothing uploaded, every request to this origin: no CDN), the same bars
// and text as the server's answer; the static folder of `retalign export web` opened with no server
// at all (its files answered from disk by the browser driver), screenshotted to docs/img/web-page-offline.png.
// Fails (does not skip) without Chromium.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { extname, join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { main } from '../../src/cli/main.js';
import { packageRoot } from '../../src/data/assets.js';
import { startServer, type RunningServer } from '../../src/serve/server.js';
import { serveFixture, type ServeFixture } from '../serve/fixture.js';
import { CHROMIUM, launchPage, LOADED, until } from '../serve/page.js';

let fx: ServeFixture;
let server: RunningServer;
let context: BrowserContext;
let page: Page;
let photos: string[];
const profile = mkdtempSync(join(tmpdir(), 'retalign-chromium-'));
const site = mkdtempSync(join(tmpdir(), 'retalign-site-'));

before(async () => {
  assert.ok(existsSync(CHROMIUM), `Chromium is missing at ${CHROMIUM}: install the Debian package with \`apt-get install -y chromium\``);
  fx = await serveFixture();
  const dir = join(fx.dataPath, 'fundus_photos');
  photos = readdirSync(dir).filter((f) => f.endsWith('.jpg')).sort().map((f) => join(dir, f));
  server = await startServer({ checkpoint: fx.checkpoint, index: fx.index, host: '127.0.0.1', port: 0, rateLimit: null });
  ({ context, page } = await launchPage(profile));
});
after(async () => {
  await context?.close();
  await server?.close();
  rmSync(profile, { recursive: true, force: true });
  rmSync(site, { recursive: true, force: true });
});

/** The five bars of a scale as numbers (percent, as shown). */
async function bars(p: Page, id: string): Promise<number[]> {
  return (await p.locator(`#${id} .pct`).allTextContents()).map((t) => Number(t.replace('%', '')));
}

/** The server's answer for a photo alone (POST /v1/grade from the test, not the page). */
async function serverGrade(file: string): Promise<{ icdr: { probabilities: number[]; grade: number }; sdrg: { probabilities: number[]; grade: number } }> {
  const form = new FormData();
  form.append('image', new Blob([readFileSync(file)], { type: 'image/jpeg' }), 'photo.jpg');
  const res = await fetch(`${server.url}/v1/grade`, { method: 'POST', body: form });
  assert.equal(res.status, 200);
  return await res.json() as never;
}

test('the page prepares a photo as the server does (crop box, normalized pixels) on 8 twin photos', async (t) => {
  await page.goto(`${server.url}/`);
  await until(page, "document.getElementById('model-line').textContent.startsWith('Model ')");
  const meta = await (await fetch(`${server.url}/web/model.json`)).json() as { preprocessing: { size: number } };
  const { ServeEngine } = await import('../../src/serve/engine.js');
  const engine = ServeEngine.fromCheckpoint(fx.checkpoint);
  let worstMean = 0;
  let worstMax = 0;
  for (const file of photos.slice(0, 8)) {
    const bytes = readFileSync(file);
    const ours = await page.evaluate<number[]>(`(async () => {
      const { preparePhoto } = await import('./web/ondevice.js');
      const blob = new Blob([Uint8Array.from(atob(${JSON.stringify(bytes.toString('base64'))}), (c) => c.charCodeAt(0))], { type: 'image/jpeg' });
      return Array.from((await preparePhoto(blob, ${JSON.stringify(meta.preprocessing)})).chw);
    })()`);
    const theirs = (await engine.prepareImage(bytes, file)).chw;
    assert.equal(ours.length, theirs.length);
    let sum = 0;
    let max = 0;
    for (let i = 0; i < ours.length; i++) {
      const d = Math.abs((ours[i] as number) - (theirs[i] as number));
      sum += d;
      max = Math.max(max, d);
    }
    worstMean = Math.max(worstMean, sum / ours.length);
    worstMax = Math.max(worstMax, max);
  }
  t.diagnostic(`page vs server preprocessing, normalized units (1/255 of a channel = ${(1 / 255 / 0.225).toFixed(4)}): worst mean |diff| ${worstMean.toFixed(4)}, worst max ${worstMax.toFixed(3)}`);
  // Different JPEG decoders (the browser's full-size decode and canvas downscale vs libjpeg-turbo's
  // DCT scaling) keep the pixels from being identical; a mean off by 0.1 alone would be 0.44.
  assert.ok(worstMean < 0.05, `mean |diff| ${worstMean} in normalized units`);
});

test('the switch grades on this device with /v1/grade blocked: same bars and text as the server, nothing uploaded, no CDN', async () => {
  const requests: string[] = [];
  const uploads: string[] = [];
  const onRequest = (r: { url(): string }): void => { requests.push(r.url()); };
  context.on('request', onRequest);
  await context.route('**/v1/grade', async (route) => { uploads.push(route.request().url()); await route.abort(); });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  try {
    await page.goto(`${server.url}/`);
    await until(page, "document.getElementById('model-line').textContent.startsWith('Model ')");
    await page.check('#on-device');
    assert.equal(await page.isDisabled('#note'), true, 'the note is disabled on the device (photo only)');
    const photo = fx.sampleImage;
    await page.setInputFiles('#image', photo);
    await page.click('#grade-button');
    await page.waitForSelector('#device-line:not([hidden])', { timeout: 60_000 });
    assert.equal(await page.isVisible('#error'), false, await page.textContent('#error') ?? '');
    assert.match(await page.textContent('#result-status') ?? '', /^Graded: ICDR \d .+, SDRG R\d .+, (not )?referable\.$/);
    assert.match(await page.textContent('#referable') ?? '', /^Referable DR (likely|unlikely): P\(ICDR ≥ 2\) = \d+(\.\d)?%$/);
    assert.match(await page.textContent('#confidence') ?? '', /calibrated on the validation split \(\d+ exams; temperatures .*Inputs: photo\.$/);
    assert.match(await page.textContent('#device-line') ?? '', /^Graded on this device by smoke\/kemt \(ONNX, WebAssembly, [12] threads?\) in \d+ ms; the photo was not uploaded\.$/);
    const heat = await page.evaluate<{ src: string; w: number }>("({ src: document.getElementById('heatmap').src.slice(0, 22), w: document.getElementById('heatmap').naturalWidth })");
    assert.deepEqual(heat, { src: 'data:image/png;base64,', w: 256 });
    assert.equal(await page.locator('#icdr-bars li').count(), 5);
    assert.equal(uploads.length, 0, `the page called ${uploads.join(', ')}`);
    assert.deepEqual(requests.filter((u) => !u.startsWith(`${server.url}/`)), [], 'every request goes to this origin');
    for (const f of ['/web/model.onnx', '/web/ort/ort.wasm.min.mjs', '/web/ort/ort-wasm-simd-threaded.wasm']) {
      assert.ok(requests.includes(`${server.url}${f}`), `${f} was loaded from this origin (${requests.join(', ')})`);
    }
    // the server's own answer for the same photo (asked by the test): the same top grades, bars within 3 points
    const s = await serverGrade(photo);
    const icdr = await bars(page, 'icdr-bars');
    const sdrg = await bars(page, 'sdrg-bars');
    const far = (a: number[], b: number[]): number => Math.max(...a.map((v, i) => Math.abs(v - 100 * (b[i] as number))));
    assert.ok(far(icdr, s.icdr.probabilities) < 3 && far(sdrg, s.sdrg.probabilities) < 3, `page ${icdr} / ${sdrg}, server ${s.icdr.probabilities} / ${s.sdrg.probabilities}`);
    assert.equal(await page.locator('#icdr-bars li.top .name').textContent(), ['0 no DR', '1 mild NPDR', '2 moderate NPDR', '3 severe NPDR', '4 PDR'][s.icdr.grade]);
    // switched off again, the page grades through the server as before
    await page.uncheck('#on-device');
    assert.equal(await page.isDisabled('#note'), false);
    assert.deepEqual(errors, []);
  } finally {
    context.off('request', onRequest);
    await context.unroute('**/v1/grade');
  }
});

test('behind a token, the page loads the served model with the token (the model is not public)', async () => {
  const token = 'export-browser-token-0123456789';
  const guarded = await startServer({ checkpoint: fx.checkpoint, index: fx.index, host: '127.0.0.1', port: 0, rateLimit: null, token });
  const p = await context.newPage();
  try {
    assert.equal((await fetch(`${guarded.url}/web/model.onnx`)).status, 401);
    await p.goto(`${guarded.url}/`);
    await p.waitForSelector('#token-section:not([hidden])');
    await p.fill('#token', token);
    await p.click('#token-form button');
    await p.waitForSelector('#token-section', { state: 'hidden' });
    await p.check('#on-device');
    await p.setInputFiles('#image', photos[1] as string);
    await p.click('#grade-button');
    await p.waitForSelector('#device-line:not([hidden])', { timeout: 60_000 });
    assert.equal(await p.isVisible('#error'), false, await p.textContent('#error') ?? '');
  } finally {
    await p.close();
    await guarded.close();
  }
});

test('the static folder of `retalign export web` grades with no server at all, from its own files only', async () => {
  await main(['export', 'web', '--checkpoint', fx.checkpoint, '--index', fx.index, '--out', site]);
  for (const f of ['index.html', 'web/app.js', 'web/model.onnx', 'web/model.json', 'web/ort/ort.wasm.min.mjs', 'web/ort/ort-wasm-simd-threaded.wasm']) {
    assert.ok(existsSync(join(site, f)), `export web wrote no ${f}`);
  }
  const origin = 'http://retalign-static.invalid';
  const types: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.mjs': 'text/javascript', '.css': 'text/css', '.wasm': 'application/wasm', '.json': 'application/json', '.onnx': 'application/octet-stream' };
  const outside: string[] = [];
  const p = await context.newPage();
  // No server: the browser driver answers the folder's files from disk, and refuses everything else.
  await p.route('**/*', async (route) => {
    const url = new URL(route.request().url());
    const file = join(site, decodeURIComponent(url.pathname));
    if (url.origin !== origin || !existsSync(file)) { outside.push(url.href); await route.abort(); return; }
    await route.fulfill({ status: 200, contentType: types[extname(file)] ?? 'application/octet-stream', body: readFileSync(file) });
  });
  try {
    await p.goto(`${origin}/index.html`);
    await until(p, "document.getElementById('model-line').textContent.endsWith('on this device only')");
    assert.equal(await p.isChecked('#on-device'), true);
    assert.equal(await p.isDisabled('#on-device'), true);
    assert.equal(await p.isVisible('#search-section'), false);
    await p.setInputFiles('#image', photos[3] as string);
    await p.click('#grade-button');
    await p.waitForSelector('#device-line:not([hidden])', { timeout: 60_000 });
    await until(p, LOADED('#heatmap'));
    assert.match(await p.textContent('#result-status') ?? '', /^Graded: ICDR \d .+, SDRG R\d .+, (not )?referable\.$/);
    assert.match(await p.textContent('#device-line') ?? '', /WebAssembly, 1 thread\)/); // no cross-origin isolation headers here
    assert.deepEqual(outside, []);
    const out = join(packageRoot(), 'docs', 'img');
    mkdirSync(out, { recursive: true });
    await p.screenshot({ path: join(out, 'web-page-offline.png'), fullPage: true });
  } finally {
    await p.close();
  }
});
