// The web page in a real browser (playwright-core driving Debian's Chromium) against a listening
// server on the tiny trained model: upload a photo with patient data -> grade bars on both
// scales, the heatmap and similar cases; a text search -> an image grid; every control labelled.
// Saves docs/img/web-page.png. Fails (does not skip) when Chromium is missing.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { packageRoot } from '../../src/data/assets.js';
import { startServer, type RunningServer } from '../../src/serve/server.js';
import { readSidecar } from '../../src/serve/sidecar.js';
import { serveFixture, type ServeFixture } from './fixture.js';
import { CHROMIUM, launchPage, LOADED, until } from './page.js';

let fx: ServeFixture;
let server: RunningServer;
let context: BrowserContext;
let page: Page;
const profile = mkdtempSync(join(tmpdir(), 'retalign-chromium-'));

before(async () => {
  assert.ok(existsSync(CHROMIUM), `Chromium is missing at ${CHROMIUM}: install the Debian package with \`apt-get install -y chromium\``);
  fx = await serveFixture();
  server = await startServer({ checkpoint: fx.checkpoint, index: fx.index, host: '127.0.0.1', port: 0, rateLimit: null });
  ({ context, page } = await launchPage(profile));
});
after(async () => {
  await context?.close();
  await server?.close();
  rmSync(profile, { recursive: true, force: true });
});

test('the page loads, names the model and labels every control', async () => {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  await page.goto(`${server.url}/`);
  await until(page, "document.getElementById('model-line').textContent.startsWith('Model ')");
  assert.match(await page.textContent('#model-line') ?? '', /^Model smoke\/kemt · checkpoint \w{10} · 45 cases indexed$/);
  const unlabelled = await page.evaluate<string[]>("[...document.querySelectorAll('input, select, textarea')].filter((e) => !e.hidden && e.labels.length === 0).map((e) => e.id)");
  assert.deepEqual(unlabelled, []);
  assert.equal(await page.getAttribute('#result-status', 'aria-live'), 'polite');
  assert.equal(await page.getAttribute('#search-status', 'aria-live'), 'polite');
  assert.ok(await page.isVisible('#f-age'));
  assert.deepEqual(errors, []);
});

test('upload a photo with patient data: grade bars on both scales, the heatmap, similar cases', async () => {
  await page.setInputFiles('#image', fx.sampleImage);
  await page.fill('#note', 'Scattered microaneurysms and dot haemorrhages.');
  await page.fill('#f-age', '61');
  await page.selectOption('#f-sex', 'female');
  await page.selectOption('#f-diabetes', 'yes');
  await page.keyboard.press('Tab');
  await page.click('#grade-button');
  await page.waitForSelector('#result:not([hidden])');
  assert.match(await page.textContent('#result-status') ?? '', /^Graded: ICDR \d .+, SDRG R\d .+, (not )?referable\.$/);
  assert.equal(await page.locator('#icdr-bars li').count(), 5);
  assert.equal(await page.locator('#sdrg-bars li').count(), 5);
  assert.equal(await page.locator('#icdr-bars li.top').count(), 1);
  assert.match(await page.textContent('#referable') ?? '', /^Referable DR (likely|unlikely): P\(ICDR ≥ 2\) = \d+(\.\d)?%$/);
  assert.match(await page.textContent('#confidence') ?? '', /calibrated on the validation split.*Inputs: photo \+ note \+ 3 patient field\(s\)\./);
  const heat = await page.evaluate<{ src: string; w: number }>("({ src: document.getElementById('heatmap').src.slice(0, 22), w: document.getElementById('heatmap').naturalWidth })");
  assert.deepEqual(heat, { src: 'data:image/png;base64,', w: 256 });
  await until(page, LOADED('#similar img'));
  assert.equal(await page.locator('#similar li').count(), 6);
  // the page says when the model's embeddings have collapsed (serve.json), and only then
  const spread = readSidecar(fx.index).meanPairwiseCosine as { image: number; note: number };
  assert.equal(await page.evaluate<boolean>("document.getElementById('similar-note').hidden"), !(spread.image > 0.98), `image spread ${spread.image}`);
  assert.equal(await page.evaluate<boolean>("document.getElementById('search-note').hidden"), !(spread.image > 0.98 || spread.note > 0.98));
  if (spread.image > 0.98) assert.match(await page.textContent('#similar-note') ?? '', /^This model barely tells photos apart \(mean cosine \d\.\d{3} between indexed photos\)/);
  assert.match(await page.locator('#similar li').first().textContent() ?? '', new RegExp(`^${fx.sampleId}1\\.000`));
});

test('search by text: an image grid; screenshot of the page', async () => {
  await page.fill('#query', 'new vessels at the disc with vitreous haemorrhage');
  await page.press('#query', 'Enter'); // the keyboard submits the form
  await until(page, "document.querySelectorAll('#search-results li').length === 12");
  await until(page, LOADED('#search-results img'));
  assert.equal(await page.textContent('#search-status'), '12 cases, best match first.');
  assert.equal(await page.isVisible('#error'), false);
  const out = join(packageRoot(), 'docs', 'img');
  mkdirSync(out, { recursive: true });
  await page.locator('#query').blur();
  await page.screenshot({ path: join(out, 'web-page.png'), fullPage: true });
});

test('the API docs page (@fastify/swagger-ui) renders the operations under the same CSP, without errors', async () => {
  const p = await context.newPage();
  const errors: string[] = [];
  p.on('pageerror', (e) => errors.push(e.message));
  p.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  try {
    await p.goto(`${server.url}/docs`);
    await until(p, "document.querySelectorAll('.opblock').length >= 8");
    const paths = await p.evaluate<string[]>("[...document.querySelectorAll('.opblock-summary-path')].map((e) => e.textContent.replace(/\\u200b/g, ''))");
    for (const path of ['/v1/grade', '/v1/search/text', '/v1/cases/{id}']) assert.ok(paths.includes(path), `${path} in ${paths.join(', ')}`);
    assert.deepEqual(errors, []);
  } finally {
    await p.close();
  }
});

test('with a token on the server, the page asks for it and then works', async () => {
  const token = 'browser-test-token-0123456789';
  const guarded = await startServer({ checkpoint: fx.checkpoint, index: fx.index, host: '127.0.0.1', port: 0, rateLimit: null, token });
  const p = await context.newPage();
  try {
    await p.goto(`${guarded.url}/`);
    await p.waitForSelector('#token-section:not([hidden])');
    assert.equal(await p.textContent('#model-line'), 'Enter the access token to start.');
    await p.fill('#token', 'wrong-token-wrong-token');
    await p.press('#token', 'Enter');
    await p.waitForSelector('#error:not([hidden])');
    assert.match(await p.textContent('#error') ?? '', /missing or wrong bearer token/);
    await p.fill('#token', token);
    await p.click('#token-form button');
    await p.waitForSelector('#token-section', { state: 'hidden' });
    assert.match(await p.textContent('#model-line') ?? '', /^Model smoke\/kemt/);
    await p.fill('#query', 'cotton wool spots');
    await p.click('#search-button');
    await until(p, "document.querySelectorAll('#search-results li').length === 12");
    await until(p, LOADED('#search-results img')); // case photos are fetched with the token
  } finally {
    await p.close();
    await guarded.close();
  }
});
