/**
 * The web page: GET / (index.html), GET /web/app.js, GET /web/style.css, read once from
 * <package>/assets/web/ (found from src/ under tsx and from dist/ when compiled). Plain files, no
 * build step; a strict Content-Security-Policy allows only this origin's scripts and styles. Public
 * (no token): the page itself asks for the token and sends it with its API calls.
 */
import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { assetPath } from '../../data/assets.js';

const FILES: readonly (readonly [string, string, string])[] = [
  ['/', 'index.html', 'text/html; charset=utf-8'],
  ['/web/app.js', 'app.js', 'text/javascript; charset=utf-8'],
  ['/web/style.css', 'style.css', 'text/css; charset=utf-8'],
];

export const PAGE_CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; " +
  "form-action 'none'; frame-ancestors 'none'; base-uri 'none'";

export function registerWeb(app: FastifyInstance): void {
  for (const [url, file, type] of FILES) {
    const body = readFileSync(assetPath('web', file));
    app.get(url, { config: { public: true } }, async (_req, reply) => reply
      .type(type)
      .header('content-security-policy', PAGE_CSP)
      .header('cache-control', 'no-cache')
      .send(body));
  }
}
