/**
 * The web page: GET / (index.html) and its files under /web/ (app.js, style.css, and for grading on
 * the device ondevice.js, ondevice-worker.js), read once from <package>/assets/web/ (found from src/
 * under tsx and from dist/ when compiled); onnxruntime-web's WASM runtime under /web/ort/ (from the
 * npm package: nothing comes from a CDN); the served model exported to ONNX at /web/model.onnx with
 * its description /web/model.json (src/export/, made on the first request and kept).
 *
 * Plain files, no build step; the Content-Security-Policy (app.ts, on every response) allows only
 * this origin's scripts and styles, none inline. The worker and the runtime's files also allow
 * 'wasm-unsafe-eval' (compiling WebAssembly; still no eval of JavaScript): the page itself does not
 * need it. The page and those files are sent with Cross-Origin-Embedder-Policy require-corp (helmet's
 * Cross-Origin-Opener-Policy is same-origin already), so the page is cross-origin isolated and the
 * runtime may use two threads. The page is public (it asks for the token and sends it with its API
 * calls); the model is not (it is the served weights).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { assetPath } from '../../data/assets.js';
import { exportOnnx, type OnnxMeta } from '../../export/onnx.js';
import { ORT_FILES, ortDir, PAGE_FILES, pageHtml } from '../../export/web.js';
import { CSP_DIRECTIVES } from '../app.js';
import type { ServeContext } from '../context.js';

const ISOLATED = { crossOriginEmbedderPolicy: { policy: 'require-corp' } };

export function registerWeb(app: FastifyInstance, ctx: ServeContext): void {
  // Built here, not at load: app.ts imports this module before its own constants exist.
  const WASM = {
    ...ISOLATED,
    contentSecurityPolicy: { useDefaults: false, directives: { ...CSP_DIRECTIVES, 'script-src': ["'self'", "'wasm-unsafe-eval'"] } },
  };
  const send = (url: string, body: Buffer | string, type: string, helmet: Record<string, unknown>): void => {
    app.get(url, { config: { public: true, helmet } }, async (_req, reply) => reply
      .type(type)
      .header('cache-control', 'no-cache')
      .send(body));
  };
  send('/', pageHtml('serve'), 'text/html; charset=utf-8', ISOLATED);
  for (const [name, type] of PAGE_FILES) send(`/web/${name}`, readFileSync(assetPath('web', name)), type, name === 'ondevice-worker.js' ? WASM : ISOLATED);
  for (const [name, type] of ORT_FILES) send(`/web/ort/${name}`, readFileSync(join(ortDir(), name)), type, WASM);

  let model: { bytes: Buffer; meta: OnnxMeta } | null = null;
  const exported = (): { bytes: Buffer; meta: OnnxMeta } => {
    if (model === null) {
      const e = exportOnnx(ctx.engine.served, { temperatures: ctx.engine.temperatures });
      model = { bytes: Buffer.from(e.bytes), meta: e.meta };
    }
    return model;
  };
  app.get('/web/model.json', { config: { helmet: ISOLATED } }, async (_req, reply) => reply.header('cache-control', 'no-cache').send(exported().meta));
  app.get('/web/model.onnx', { config: { helmet: ISOLATED } }, async (_req, reply) => reply
    .type('application/octet-stream')
    .header('cache-control', 'no-cache')
    .send(exported().bytes));
}
