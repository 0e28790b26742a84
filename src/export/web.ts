/**
 * The web page's files, and the static folder that grades in the browser with no retalign server:
 * the page (assets/web/), the exported model (web/model.onnx with its description web/model.json)
 * and onnxruntime-web's WASM runtime (web/ort/, copied from the npm package: the page never loads
 * anything from another origin). `retalign serve` serves the same files under the same paths.
 *
 * @example
 *   writeWebFolder('/tmp/site', exportOnnx(sourceOf(loadRun('runs/demo'))));
 *   // /tmp/site/index.html, /tmp/site/web/{app.js, ..., model.onnx, model.json, ort/...}
 */
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { assetPath } from '../data/assets.js';
import type { OnnxMeta } from './onnx.js';

/** The page's own files under web/: name and media type. */
export const PAGE_FILES: readonly (readonly [string, string])[] = [
  ['app.js', 'text/javascript; charset=utf-8'],
  ['style.css', 'text/css; charset=utf-8'],
  ['ondevice.js', 'text/javascript; charset=utf-8'],
  ['ondevice-worker.js', 'text/javascript; charset=utf-8'],
];

/** onnxruntime-web's WASM-only build and its runtime (threaded SIMD, which also runs on one thread). */
export const ORT_FILES: readonly (readonly [string, string])[] = [
  ['ort.wasm.min.mjs', 'text/javascript; charset=utf-8'],
  ['ort-wasm-simd-threaded.mjs', 'text/javascript; charset=utf-8'],
  ['ort-wasm-simd-threaded.wasm', 'application/wasm'],
];

/** The folder of onnxruntime-web's browser files (its dist/), found through Node's resolver. */
export function ortDir(): string {
  return dirname(createRequire(import.meta.url).resolve('onnxruntime-web'));
}

/** The marker that tells the page it was opened from a static folder (no API: on-device grading only). */
export const STATIC_MARKER = '<meta name="retalign-static" content="1">';

/** index.html; `static` adds the marker and makes the page's links relative (the folder may sit under any path). */
export function pageHtml(mode: 'serve' | 'static'): string {
  const html = readFileSync(assetPath('web', 'index.html'), 'utf8');
  if (mode === 'serve') return html;
  if (!html.includes('</head>')) throw new Error(`${assetPath('web', 'index.html')}: no </head> to put the static marker before`);
  return html.replace('</head>', `  ${STATIC_MARKER}\n</head>`).replaceAll('="/web/', '="web/');
}

/** Writes the static folder; returns the files written (relative to `out`). */
export function writeWebFolder(out: string, model: { bytes: Uint8Array; meta: OnnxMeta }): string[] {
  const web = join(out, 'web');
  mkdirSync(join(web, 'ort'), { recursive: true });
  const written: string[] = [];
  const put = (rel: string, data: string | Uint8Array): void => {
    writeFileSync(join(out, rel), data);
    written.push(rel);
  };
  put('index.html', pageHtml('static'));
  for (const [name] of PAGE_FILES) {
    copyFileSync(assetPath('web', name), join(web, name));
    written.push(`web/${name}`);
  }
  for (const [name] of ORT_FILES) {
    copyFileSync(join(ortDir(), name), join(web, 'ort', name));
    written.push(`web/ort/${name}`);
  }
  put('web/model.onnx', model.bytes);
  put('web/model.json', `${JSON.stringify(model.meta, null, 2)}\n`);
  return written;
}
