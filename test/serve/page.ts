/**
 * Driving the web page in Debian's Chromium with playwright-core: shared by the browser test and the
 * README screenshot tool (demo-screenshot.ts).
 */
import { chromium, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync'];

/** In-page expression (a string: this project compiles without the DOM library): every image under sel has loaded. */
export const LOADED = (sel: string): string => `[...document.querySelectorAll('${sel}')].every((i) => i.naturalWidth > 0)`;

/**
 * Waits until an in-page condition holds. page.waitForFunction would eval the string inside the
 * page, which the page's CSP (no 'unsafe-eval') forbids; a CDP evaluate of a polling promise is fine.
 */
export async function until(page: Page, cond: string): Promise<void> {
  await page.evaluate(`new Promise((resolve, reject) => {
    const t0 = Date.now();
    const t = setInterval(() => {
      if (${cond}) { clearInterval(t); resolve(true); }
      else if (Date.now() - t0 > 30000) { clearInterval(t); reject(new Error('timed out waiting for: ' + ${JSON.stringify(cond)})); }
    }, 50);
  })`);
}

/** Headless Chromium with a fresh profile folder, 1180 px wide; its first page. */
export async function launchPage(profile: string): Promise<{ context: BrowserContext; page: Page }> {
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM, headless: true, args: FLAGS, viewport: { width: 1180, height: 900 }, deviceScaleFactor: 1, timeout: 60_000,
  });
  const page = context.pages()[0] ?? await context.newPage();
  page.setDefaultTimeout(30_000);
  return { context, page };
}
