/**
 * The web page: GET / (index.html), GET /web/app.js, GET /web/style.css, read once from
 * <package>/assets/web/ (found from src/ under tsx and from dist/ when compiled). Plain files, no
 * build step; the Content-Security-Policy (app.ts, on every response) allows only this origin's
 * scripts and styles, none inline. Public (no token): the page asks for the token and sends it
 * with its API calls.
 */
import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { assetPath } from '../../data/assets.js';

const FILES: readonly (readonly [string, string, string])[] = [
  ['/', 'index.html', 'text/html; charset=utf-8'],
  ['/web/app.js', 'app.js', 'text/javascript; charset=utf-8'],
  ['/web/style.css', 'style.css', 'text/css; charset=utf-8'],
];

export function registerWeb(app: FastifyInstance): void {
  for (const [url, file, type] of FILES) {
    const body = readFileSync(assetPath('web', file));
    app.get(url, { config: { public: true } }, async (_req, reply) => reply
      .type(type)
      .header('cache-control', 'no-cache')
      .send(body));
  }
}
