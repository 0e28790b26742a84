/**
 * README tool (not a test): the web page served with a `make demo` model, screenshotted in Debian's
 * Chromium after grading a referable photo from the honest test split and a text search.
 *
 * usage: node dist/test/serve/demo-screenshot.js [--demo runs/demo] [--out docs/img/web-page-demo.png]
 * Needs a finished demo (`make demo`): it indexes <demo>/data/synth-brset-balanced-* with
 * <demo>/demo-kemt-honest into <demo>/index-kemt-honest (once), then serves both on 127.0.0.1.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { readDataset } from '../../src/data/readers/index.js';
import { buildIndex } from '../../src/serve/build-index.js';
import { startServer } from '../../src/serve/server.js';
import { launchPage, LOADED, until } from './page.js';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? (process.argv[i + 1] as string) : fallback;
}

const demo = resolve(arg('demo', 'runs/demo'));
const out = resolve(arg('out', 'docs/img/web-page-demo.png'));
const checkpoint = join(demo, 'demo-kemt-honest');
if (!existsSync(checkpoint)) throw new Error(`no ${checkpoint}: run \`make demo\` first (or pass --demo DIR)`);
const twin = readdirSync(join(demo, 'data')).find((d) => d.startsWith('synth-brset-balanced-'));
if (twin === undefined) throw new Error(`no balanced twin under ${join(demo, 'data')}`);
const data = join(demo, 'data', twin);
const index = join(demo, 'index-kemt-honest');
if (!existsSync(join(index, 'serve.json'))) await buildIndex({ checkpoint, data, out: index });

// A severe (ICDR 3) photo of the honest test split: the model never trained on it.
const split = JSON.parse(readFileSync(join(demo, 'split-honest.json'), 'utf8')) as { assignment: Record<string, string> };
const { records } = await readDataset(data);
const photo = records.find((r) => split.assignment[r.imageId] === 'test' && r.labels.icdr === 3);
if (photo === undefined) throw new Error('no ICDR 3 photo in the honest test split');

const server = await startServer({ checkpoint, index, host: '127.0.0.1', port: 0, rateLimit: null });
const profile = mkdtempSync(join(tmpdir(), 'retalign-chromium-'));
const { context, page } = await launchPage(profile);
try {
  await page.goto(`${server.url}/`);
  await until(page, "document.getElementById('model-line').textContent.startsWith('Model ')");
  await page.setInputFiles('#image', photo.imagePath);
  await page.fill('#note', 'Multiple blot haemorrhages in all four quadrants, venous beading.');
  await page.fill('#f-age', '63');
  await page.selectOption('#f-sex', 'male');
  await page.selectOption('#f-diabetes', 'yes');
  await page.click('#grade-button');
  await page.waitForSelector('#result:not([hidden])');
  await until(page, LOADED('#similar img'));
  await page.fill('#query', 'new vessels at the disc with preretinal haemorrhage');
  await page.press('#query', 'Enter');
  await until(page, "document.querySelectorAll('#search-results li').length > 0");
  await until(page, LOADED('#search-results img'));
  await page.locator('#query').blur();
  mkdirSync(dirname(out), { recursive: true });
  await page.screenshot({ path: out, fullPage: true });
  console.log(`${out}: graded ${photo.imageId} (true ICDR 3); ${await page.textContent('#result-status')}`);
} finally {
  await context.close();
  await server.close();
  rmSync(profile, { recursive: true, force: true });
}
