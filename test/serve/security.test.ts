// What the server refuses, and that it keeps serving afterwards: 401 without the token on a
// non-loopback server (and refusing to start without one), 413 for big uploads and pixel bombs,
// 415 by content sniffing, 400 with precise field messages, 422 for a corrupt JPEG, path
// traversal, 429 from the rate limit, 503 from a full queue.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { Writable } from 'node:stream';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import type { FastifyInstance } from 'fastify';
import { EmbeddingIndex } from '../../src/index/index.js';
import { buildApp, type ServeOptions } from '../../src/serve/app.js';
import { CaseStore } from '../../src/serve/cases.js';
import { ServeEngine, temperaturesFromSidecar } from '../../src/serve/engine.js';
import { HttpError } from '../../src/serve/errors.js';
import { readSidecar } from '../../src/serve/sidecar.js';
import { serveFixture, type ServeFixture } from './fixture.js';
import { imagePart, multipart, type Part } from './multipart.js';

const TOKEN = 'test-token-0123456789abcdef';
let fx: ServeFixture;
let engine: ServeEngine;
let index: EmbeddingIndex;
let dataRoot: string;
let photo: Buffer;
const apps: FastifyInstance[] = [];
const tmp = mkdtempSync(join(tmpdir(), 'retalign-serve-sec-'));

before(async () => {
  fx = await serveFixture();
  const s = readSidecar(fx.index);
  dataRoot = s.dataPath;
  engine = ServeEngine.fromCheckpoint(fx.checkpoint, temperaturesFromSidecar(s));
  index = EmbeddingIndex.open(fx.index);
  photo = readFileSync(fx.sampleImage);
});
after(async () => {
  for (const a of apps) await a.close();
  index?.close();
  rmSync(tmp, { recursive: true, force: true });
});

async function make(o: Partial<ServeOptions> = {}): Promise<FastifyInstance> {
  const { app } = await buildApp({ engine, index, dataRoot, host: '127.0.0.1', token: null, rateLimit: null, ...o });
  apps.push(app);
  return app;
}

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- test-side JSON
const post = (app: FastifyInstance, parts: Part[], url = '/v1/grade') => app.inject({ method: 'POST', url, ...multipart(parts) });
const refusal = (r: { statusCode: number; json(): unknown }, status: number, code: string, message: RegExp): void => {
  assert.equal(r.statusCode, status);
  const b = r.json() as Json;
  assert.equal(b.error, code);
  assert.equal(b.statusCode, status);
  assert.match(b.message, message);
};

test('a non-loopback server refuses to start without a token, and answers 401 without one', async () => {
  await assert.rejects(buildApp({ engine, index, dataRoot, host: '0.0.0.0', token: null }), /refusing to listen on 0\.0\.0\.0 without authentication.*--token-file/s);
  const app = await make({ host: '0.0.0.0', token: TOKEN });
  const none = await app.inject({ method: 'GET', url: '/v1/info' });
  refusal(none, 401, 'unauthorized', /missing or wrong bearer token/);
  assert.equal(none.headers['www-authenticate'], 'Bearer realm="retalign"');
  refusal(await app.inject({ method: 'GET', url: '/v1/info', headers: { authorization: `Bearer ${TOKEN}x` } }), 401, 'unauthorized', /wrong bearer token/);
  for (const authorization of [TOKEN, `Basic ${TOKEN}`, `Bearer ${TOKEN.slice(0, -1)}`, 'Bearer ', `Bearer  ${TOKEN}x`]) {
    refusal(await app.inject({ method: 'GET', url: '/v1/info', headers: { authorization } }), 401, 'unauthorized', /wrong bearer token/);
  }
  for (const authorization of [`bearer ${TOKEN}`, `BEARER ${TOKEN}`, `Bearer ${TOKEN}  `]) {
    assert.equal((await app.inject({ method: 'GET', url: '/v1/info', headers: { authorization } })).statusCode, 200, authorization);
  }
  refusal(await post(app, [imagePart(photo)]), 401, 'unauthorized', /bearer token/);
  refusal(await app.inject({ method: 'GET', url: `/v1/cases/${fx.sampleId}/image` }), 401, 'unauthorized', /bearer token/);
  refusal(await app.inject({ method: 'GET', url: '/metrics' }), 401, 'unauthorized', /bearer token/);
  assert.equal((await app.inject({ method: 'HEAD', url: `/v1/cases/${fx.sampleId}/image` })).statusCode, 401);
  assert.equal((await app.inject({ method: 'GET', url: '/v1/info', headers: { authorization: `Bearer ${TOKEN}` } })).statusCode, 200);
  // Open: liveness, the API description, the page (it asks for the token).
  assert.deepEqual((await app.inject({ method: 'GET', url: '/healthz' })).json(), { status: 'ok', authRequired: true });
  const doc = (await app.inject({ method: 'GET', url: '/openapi.json' })).json() as Json;
  assert.deepEqual(doc.paths['/v1/grade'].post.security, [{ bearer: [] }]);
  assert.ok(doc.paths['/v1/grade'].post.responses['401']);
  assert.equal((await app.inject({ method: 'GET', url: '/' })).statusCode, 200);
});

/** The routes meant to be open: liveness, the page and its files, the API description and its docs page. Nothing else. */
const PUBLIC = new Set(['GET /healthz', 'GET /', 'GET /web/app.js', 'GET /web/style.css', 'GET /openapi.json',
  'GET /web/ondevice.js', 'GET /web/ondevice-worker.js', 'GET /web/ort/ort.wasm.min.mjs', 'GET /web/ort/ort-wasm-simd-threaded.mjs', 'GET /web/ort/ort-wasm-simd-threaded.wasm']);
const isPublic = (key: string): boolean => PUBLIC.has(key) || /^GET \/docs(\/|$)/.test(key); // @fastify/swagger-ui's page, files and document

test('closed by default: every registered route but the public ones answers 401 without the token, a new one too', async () => {
  const built = await buildApp({
    engine, index, dataRoot, host: '0.0.0.0', token: TOKEN, rateLimit: null,
    // A route added without any flag, as a future route that forgets one would be.
    extend: (a) => a.get('/v1/added-later', async () => ({ secret: 'patient data' })),
  });
  apps.push(built.app);
  const seen: string[] = [];
  for (const r of built.routes) {
    const url = r.url.replace(/:[A-Za-z0-9_]+/g, fx.sampleId).replace(/\*/g, 'x');
    for (const method of Array.isArray(r.method) ? r.method : [r.method]) {
      const key = `${method === 'HEAD' ? 'GET' : method} ${r.url}`;
      seen.push(`${method} ${r.url}`);
      const none = await built.app.inject({ method: method as 'GET', url });
      const wrong = await built.app.inject({ method: method as 'GET', url, headers: { authorization: `Bearer ${TOKEN.slice(1)}x` } });
      if (isPublic(key)) {
        assert.notEqual(none.statusCode, 401, `${method} ${url} is public`);
        if (PUBLIC.has(key) || url === '/docs/json') assert.equal(none.statusCode, 200, `${method} ${url}`);
      } else {
        assert.equal(none.statusCode, 401, `${method} ${url} without the token: ${none.statusCode}`);
        assert.equal(wrong.statusCode, 401, `${method} ${url} with a wrong token: ${wrong.statusCode}`);
        if (method !== 'HEAD') refusal(none, 401, 'unauthorized', /missing or wrong bearer token/);
      }
    }
  }
  // The walk saw the API routes, their HEAD twins and the added one (not an empty table).
  for (const k of ['POST /v1/grade', 'GET /v1/cases/:id/image', 'HEAD /v1/cases/:id', 'GET /metrics', 'GET /v1/added-later', 'GET /docs/json']) assert.ok(seen.includes(k), `${k} walked`);
  assert.equal((await built.app.inject({ method: 'GET', url: '/docs' })).statusCode, 200); // the docs page opens without the token
  const ok = await built.app.inject({ method: 'GET', url: '/v1/added-later', headers: { authorization: `Bearer ${TOKEN}` } });
  assert.equal(ok.statusCode, 200);
  // An unknown path is closed too: no 404 (nor its echo of the URL) before the token.
  refusal(await built.app.inject({ method: 'GET', url: '/v1/nothing-here' }), 401, 'unauthorized', /bearer token/);
});

test('DNS rebinding: a loopback server answers only loopback Host names (and --allowed-host ones), 421 otherwise', async () => {
  const app = await make({ allowedHosts: ['retina.lan', 'localhost:9000,[::1]:9001'] });
  const get = (url: string, host: string) => app.inject({ method: 'GET', url, headers: { host } });
  // The reproduction of the issue: the note of a case, through a foreign name pointing at 127.0.0.1.
  for (const url of [`/v1/cases/${fx.sampleId}`, '/', '/healthz', '/openapi.json']) {
    const r = await get(url, 'attacker.example:8080');
    refusal(r, 421, 'host_not_allowed', /^Host "attacker\.example:8080" is not allowed: this server listens on loopback and answers only localhost, 127\.0\.0\.1 or \[::1\].*--allowed-host/);
    assert.doesNotMatch(r.body, /note/);
  }
  refusal(await get('/healthz', '127.0.0.1.attacker.example'), 421, 'host_not_allowed', /is not allowed/);
  refusal(await get('/healthz', 'localhost@attacker.example'), 421, 'host_not_allowed', /is not allowed/);
  for (const host of ['localhost', 'LOCALHOST:8080', '127.0.0.1', '127.3.2.1:80', '[::1]:8080', 'retina.lan', 'Retina.LAN:8443', 'localhost:9000', '[::1]:9001']) {
    assert.equal((await get(`/v1/cases/${fx.sampleId}`, host)).statusCode, 200, host);
  }
  // A non-loopback server (with its token) answers any name: the token guards it.
  const open = await make({ host: '0.0.0.0', token: TOKEN });
  assert.equal((await open.inject({ method: 'GET', url: '/healthz', headers: { host: 'retina.example.org' } })).statusCode, 200);

  // Listening for real: the Host's port must be the server's (or absent).
  await app.listen({ host: '127.0.0.1', port: 0 });
  const port = (app.server.address() as { port: number }).port;
  const status = (host: string): Promise<{ status: number; body: string }> => new Promise((done, fail) => {
    const r = httpRequest({ host: '127.0.0.1', port, path: '/healthz', headers: { host } }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += String(c)));
      res.on('end', () => done({ status: res.statusCode ?? 0, body }));
    });
    r.on('error', fail);
    r.end();
  });
  assert.equal((await status(`127.0.0.1:${port}`)).status, 200);
  assert.equal((await status('localhost')).status, 200);
  assert.equal((await status('localhost:9000')).status, 200); // allowed with that port
  const other = await status(`localhost:${port === 1 ? 2 : 1}`);
  assert.equal(other.status, 421);
  assert.match(JSON.parse(other.body).message, new RegExp(`\\(port ${port} or none\\)`));
  assert.equal((await status(`retina.lan:${port}`)).status, 200);
  await assert.rejects(make({ allowedHosts: ['bad host!'] }), /--allowed-host "bad host!": expected a host name or address with an optional port/);
});

test('cross-origin: a state-changing request from another Origin, or Sec-Fetch-Site cross-site, is refused with 403', async () => {
  const app = await make();
  const form = multipart([imagePart(photo), { name: 'heatmap', value: 'false' }]);
  const send = (headers: Record<string, string>) => app.inject({ method: 'POST', url: '/v1/grade', payload: form.payload, headers: { ...form.headers, host: '127.0.0.1:8080', ...headers } });
  // The issue's reproduction: a multipart POST from another origin.
  refusal(await send({ origin: 'http://attacker.example' }), 403, 'cross_origin',
    /^cross-origin POST from Origin "http:\/\/attacker\.example" to Host "127\.0\.0\.1:8080" refused: only this server's own page may send it$/);
  refusal(await send({ origin: 'http://127.0.0.1:3000' }), 403, 'cross_origin', /cross-origin POST/); // another local port
  refusal(await send({ origin: 'null' }), 403, 'cross_origin', /cross-origin POST from Origin "null"/);
  refusal(await send({ 'sec-fetch-site': 'cross-site' }), 403, 'cross_origin', /^cross-site POST refused \(Sec-Fetch-Site: cross-site\)/);
  const json = (headers: Record<string, string>) => app.inject({ method: 'POST', url: '/v1/search/text', payload: { query: 'exudates' }, headers: { host: 'localhost:8080', ...headers } });
  refusal(await json({ origin: 'https://attacker.example', 'sec-fetch-site': 'cross-site' }), 403, 'cross_origin', /cross-site POST/);
  // The page's own requests, and clients that send no Origin (curl), pass.
  assert.equal((await send({ origin: 'http://127.0.0.1:8080', 'sec-fetch-site': 'same-origin' })).statusCode, 200);
  assert.equal((await send({})).statusCode, 200);
  assert.equal((await json({ origin: 'http://LOCALHOST:8080' })).statusCode, 200);
  // Reads are not state-changing: a GET with a foreign Origin is answered (CORS keeps its body from that page).
  assert.equal((await app.inject({ method: 'GET', url: '/healthz', headers: { origin: 'http://attacker.example' } })).statusCode, 200);
});

test('security headers on every response (page, API, errors, refusals); the page has no inline script or style', async () => {
  const app = await make({ host: '0.0.0.0', token: TOKEN });
  const auth = { authorization: `Bearer ${TOKEN}` };
  const loop = await make();
  const responses = [
    ['page', await app.inject({ method: 'GET', url: '/' })],
    ['script', await app.inject({ method: 'GET', url: '/web/app.js' })],
    ['healthz', await app.inject({ method: 'GET', url: '/healthz' })],
    ['info', await app.inject({ method: 'GET', url: '/v1/info', headers: auth })],
    ['case image', await app.inject({ method: 'GET', url: `/v1/cases/${fx.sampleId}/image`, headers: auth })],
    ['401', await app.inject({ method: 'GET', url: '/v1/info' })],
    ['404', await app.inject({ method: 'GET', url: '/v1/cases/img99999', headers: auth })],
    ['400', await app.inject({ method: 'POST', url: '/v1/search/text', payload: { query: 'x', k: 0 }, headers: auth })],
    ['403', await app.inject({ method: 'POST', url: '/v1/search/text', payload: { query: 'x' }, headers: { ...auth, origin: 'http://evil.example' } })],
    ['421', await loop.inject({ method: 'GET', url: '/healthz', headers: { host: 'evil.example' } })],
  ] as const;
  for (const [what, r] of responses) {
    const csp = String(r.headers['content-security-policy'] ?? '');
    const directive = (name: string): string => csp.split(';').map((d) => d.trim()).find((d) => d.startsWith(`${name} `)) ?? '';
    assert.equal(directive('frame-ancestors'), "frame-ancestors 'none'", `${what} (${r.statusCode}): ${csp}`);
    assert.equal(directive('script-src'), "script-src 'self'", `${what}: no inline or eval'd script`);
    assert.equal(directive('style-src'), "style-src 'self'", `${what}: no inline style`);
    assert.equal(directive('default-src'), "default-src 'none'", what);
    assert.doesNotMatch(csp, /upgrade-insecure-requests/, `${what}: the server speaks plain HTTP`);
    assert.equal(r.headers['x-content-type-options'], 'nosniff', what);
    assert.equal(r.headers['referrer-policy'], 'no-referrer', what);
    assert.equal(r.headers['x-frame-options'], 'DENY', what);
  }
  assert.deepEqual(responses.map(([, r]) => r.statusCode), [200, 200, 200, 200, 200, 401, 404, 400, 403, 421]);
  // The docs page (swagger-ui): the same policy but for one inline style allowed by its hash.
  const docs = String((await app.inject({ method: 'GET', url: '/docs' })).headers['content-security-policy']);
  assert.match(docs, /(^|;) ?script-src 'self'(;|$)/);
  assert.match(docs, /(^|;) ?frame-ancestors 'none'(;|$)/);
  assert.match(docs, /(^|;) ?style-src 'self' 'sha256-[A-Za-z0-9+/=]+'(;|$)/);
  assert.doesNotMatch(docs, /unsafe-/);
  // The page works under that policy only if it holds no inline script, handler or style.
  const html = responses[0][1].body;
  assert.deepEqual([...html.matchAll(/<script\b[^>]*>/g)].map((m) => m[0]).filter((t) => !/\ssrc="\/web\//.test(t)), [], 'every script is a file');
  assert.doesNotMatch(html, /<style\b|\sstyle="|\son[a-z]+="|javascript:/i);
});

test('413: an upload over the byte limit, an image over the pixel limit', async () => {
  const app = await make({ maxUploadBytes: 4096, maxPixels: 10_000 });
  assert.ok(photo.length > 4096);
  refusal(await post(app, [imagePart(photo)]), 413, 'payload_too_large', /^image: the file is larger than the limit of 4096 bytes$/);
  const big = await sharp({ create: { width: 200, height: 150, channels: 3, background: { r: 120, g: 40, b: 20 } } }).png().toBuffer();
  assert.ok(big.length < 4096);
  refusal(await post(app, [imagePart(big, 'big.png', 'image/png')]), 413, 'too_many_pixels', /^image: 200x150 = 30000 pixels exceeds the limit of 10000 pixels$/);
  assert.equal((await app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200);
});

test('415: a text file named .jpg, a JSON body; 400: missing image, bad and unknown fields', async () => {
  const app = await make();
  refusal(await post(app, [imagePart(Buffer.from('name,age\nAna,61\n'), 'eye.jpg', 'image/jpeg')]), 415, 'unsupported_media_type',
    /^image: the uploaded bytes are text, not a JPEG, PNG, WebP or TIFF image/);
  refusal(await app.inject({ method: 'POST', url: '/v1/grade', payload: { image: 'x' } }), 415, 'unsupported_media_type', /expected a multipart\/form-data body/);
  refusal(await post(app, [imagePart(Buffer.from('%PDF-1.7\n1 0 obj\n<< /Type /Catalog >>\n'), 'eye.jpg', 'image/jpeg')]), 415, 'unsupported_media_type',
    /^image: the uploaded bytes are a file of type PDF \(application\/pdf\), not a JPEG, PNG, WebP or TIFF image/);
  const binary = await post(app, [imagePart(Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0x02, 0x01, 0x01, 0x00, 0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 0]), 'eye.jpg', 'image/jpeg')]);
  assert.equal(binary.statusCode, 415);
  assert.doesNotMatch(binary.json().message, /\b(7f|de|ad|be|ef)\b/i, 'no bytes of the file in the message');
  refusal(await post(app, [{ name: 'note', value: 'x' }]), 400, 'bad_request', /^no image: send the fundus photo as a file in the form field named image$/);
  refusal(await post(app, [imagePart(photo), { name: 'age', value: 'sixty-one' }]), 400, 'bad_field',
    /^field age \(patient_age\): "sixty-one" is not valid; expected a number of years in \[0, 120\]$/);
  refusal(await post(app, [imagePart(photo), { name: 'sex', value: 'f' }]), 400, 'bad_field', /^field sex \(patient_sex\): "f" is not valid; expected one of male, female$/);
  refusal(await post(app, [imagePart(photo), { name: 'weight', value: '80' }]), 400, 'bad_field', /^unknown field "weight"; valid fields: age, sex, diabetes/);
  refusal(await post(app, [imagePart(photo), { name: 'k', value: '51' }]), 400, 'bad_field', /^field k: "51" is not valid; expected an integer in \[0, 50\]$/);
  refusal(await post(app, [imagePart(photo), { name: 'note', value: 'a' }, { name: 'note', value: 'b' }]), 400, 'bad_field', /^field note: given twice$/);
  refusal(await post(app, [imagePart(photo), { name: 'x', value: '1' }], '/v1/search/image'), 400, 'bad_field', /^unknown field "x"; valid fields: image, k$/);
});

test('malformed multipart is the client\'s error: 400 naming what is wrong; a client that hangs up is not an internal error', async () => {
  const lines: string[] = [];
  const app = await make({ logger: { level: 'info', stream: new Writable({ write(c, _e, done) { lines.push(String(c)); done(); } }) } });
  const form = multipart([imagePart(photo), { name: 'note', value: 'x' }]);
  const noBoundary = await app.inject({ method: 'POST', url: '/v1/grade', payload: form.payload, headers: { 'content-type': 'multipart/form-data' } });
  refusal(noBoundary, 400, 'bad_multipart', /^the multipart\/form-data body has no boundary: the Content-Type header must name one \(Content-Type: multipart\/form-data; boundary=\.\.\.\)/);
  for (const cut of [30, form.payload.length - 200]) { // closing boundary cut off; cut inside the photo
    for (const url of ['/v1/grade', '/v1/search/image']) {
      const r = await app.inject({ method: 'POST', url, payload: form.payload.subarray(0, form.payload.length - cut), headers: form.headers });
      refusal(r, 400, 'bad_multipart', /^the multipart\/form-data body ends before its closing boundary \(--<boundary>--\): the upload is cut off/);
    }
  }
  // A client that sends half its upload and closes the connection.
  await app.listen({ host: '127.0.0.1', port: 0 });
  const port = (app.server.address() as { port: number }).port;
  const sock = connect(port, '127.0.0.1');
  await new Promise((r) => sock.once('connect', r));
  sock.write(`POST /v1/grade HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: ${form.headers['content-type']}\r\nContent-Length: ${form.payload.length}\r\n\r\n`);
  sock.write(form.payload.subarray(0, 300));
  await new Promise((r) => setTimeout(r, 150));
  sock.destroy();
  for (let i = 0; i < 100 && !lines.some((l) => l.includes('client closed')); i++) await new Promise((r) => setTimeout(r, 20));
  const logged = lines.map((l) => JSON.parse(l) as Json);
  assert.deepEqual(logged.filter((l) => l.level >= 50).map((l) => l.msg), [], 'no error-level line');
  assert.ok(logged.some((l) => l.msg === 'client closed the connection' && l.status === 499 && l.route === '/v1/grade'), 'one info line for the hang-up');
  assert.ok(logged.some((l) => l.msg === 'request' && l.status === 400), 'the malformed uploads are logged as 400s');
  assert.equal((await app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200);
});

test('422 for a photo smaller than the model\'s input or more elongated than 2:1, with the numbers', async () => {
  const app = await make();
  const png = (width: number, height: number) => sharp({ create: { width, height, channels: 3, background: { r: 90, g: 30, b: 10 } } }).png().toBuffer();
  const cases: [number, number, RegExp][] = [
    [1, 1, /^image: 1x1 pixels: the short side, 1 px, is below the minimum of 64 px \(the model's input size\)/],
    [63, 200, /^image: 63x200 pixels: the short side, 63 px, is below the minimum of 64 px/],
    [30000, 1, /^image: 30000x1 pixels: the short side, 1 px, is below the minimum of 64 px/],
    [300, 100, /^image: 300x100 pixels: the aspect ratio 3\.00:1 is beyond the limit of 2:1 \(fundus photos are near square\)$/],
    [100, 201, /^image: 100x201 pixels: the aspect ratio 2\.01:1 is beyond the limit of 2:1/],
  ];
  for (const [w, h, message] of cases) {
    for (const url of ['/v1/grade', '/v1/search/image']) refusal(await post(app, [imagePart(await png(w, h), 'x.png', 'image/png')], url), 422, 'bad_image_shape', message);
  }
  // At the bounds: accepted.
  assert.equal((await post(app, [imagePart(await png(64, 128), 'x.png', 'image/png'), { name: 'heatmap', value: 'false' }])).statusCode, 200);
});

test('422 for a corrupt JPEG, and the server keeps serving', async () => {
  const app = await make();
  const corrupt = Buffer.concat([photo.subarray(0, 300), Buffer.alloc(2000, 0x5a)]);
  refusal(await post(app, [imagePart(corrupt)]), 422, 'undecodable_image', /^image: the file looks like an image but cannot be decoded/);
  refusal(await post(app, [imagePart(photo.subarray(0, 3))]), 422, 'undecodable_image', /cannot be decoded/);
  assert.equal((await post(app, [imagePart(photo)])).statusCode, 200);
  assert.equal((await app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200);
});

test('path traversal: ids are validated, nothing outside the data folder is ever read', async () => {
  const app = await make();
  for (const url of ['/v1/cases/..%2F..%2Fetc%2Fpasswd', '/v1/cases/..%2F..%2Fetc%2Fpasswd/image', '/v1/cases/%2e%2e/image',
    '/v1/cases/../../etc/passwd', '/v1/cases/.hidden/image', '/v1/cases/%2Fetc%2Fpasswd/image']) {
    const r = await app.inject({ method: 'GET', url });
    assert.ok(r.statusCode === 400 || r.statusCode === 404, `${url}: ${r.statusCode}`);
    assert.doesNotMatch(r.body, /root:/);
    assert.equal(r.headers['content-type'], 'application/json; charset=utf-8', url);
  }
  refusal(await app.inject({ method: 'GET', url: '/v1/cases/..%2F..%2Fetc%2Fpasswd' }), 400, 'bad_id', /^case id "\.\.\/\.\.\/etc\/passwd" is not valid/);

  // A stored path that is a symlink out of the data folder is refused too.
  const data = join(tmp, 'data');
  const ix = EmbeddingIndex.create(join(tmp, 'ix'), { checkpointId: 'c', modelName: 'm', dim: 2, embeddingSpace: 's' });
  try {
    rmSync(data, { recursive: true, force: true });
    mkdirSync(data);
    writeFileSync(join(data, 'ok.jpg'), photo);
    symlinkSync(fx.sampleImage, join(data, 'out.jpg'));
    ix.add([
      { id: 'ok', kind: 'image', vector: new Float32Array([1, 0]), meta: { imagePath: 'ok.jpg' } },
      { id: 'out', kind: 'image', vector: new Float32Array([0, 1]), meta: { imagePath: 'out.jpg' } },
    ]);
    const cases = new CaseStore(ix, data);
    assert.equal((await cases.imageFile('ok')).type, 'jpeg');
    await assert.rejects(cases.imageFile('out'), (e: unknown) => e instanceof HttpError && e.statusCode === 404);
  } finally {
    ix.close();
  }
});

test('429 past the per-client rate limit, with Retry-After', async () => {
  const app = await make({ rateLimit: { perMinute: 6, burst: 2 } });
  assert.equal((await app.inject({ method: 'GET', url: '/v1/info' })).statusCode, 200);
  assert.equal((await app.inject({ method: 'GET', url: '/v1/info' })).statusCode, 200);
  // 2 per window of 2 / 6 minutes = 20 s.
  const r = await app.inject({ method: 'GET', url: '/v1/info' });
  refusal(r, 429, 'rate_limited', /^too many requests from this client; retry in (19|20) s$/);
  assert.match(String(r.headers['retry-after']), /^(19|20)$/);
  refusal(await app.inject({ method: 'GET', url: '/v1/nothing' }), 429, 'rate_limited', /too many requests/); // unknown paths count too
  assert.equal((await app.inject({ method: 'GET', url: '/v1/info', remoteAddress: '10.0.0.9' })).statusCode, 200); // another client
  assert.equal((await app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200); // liveness is not limited
  // Token guessing is throttled: the limit comes before the token check.
  const guarded = await make({ host: '0.0.0.0', token: TOKEN, rateLimit: { perMinute: 6, burst: 2 } });
  const guesses = [];
  for (let i = 0; i < 3; i++) guesses.push((await guarded.inject({ method: 'GET', url: '/v1/info', headers: { authorization: `Bearer guess-${i}-0123456789abcdef` } })).statusCode);
  assert.deepEqual(guesses, [401, 401, 429]);
  await assert.rejects(make({ rateLimit: { perMinute: 0, burst: 1 } }), /rate limit \{"perMinute":0,"burst":1\}; expected perMinute > 0/);
});

test('503 when the inference queue is full; served again once it drains', async () => {
  const built = await buildApp({ engine, index, dataRoot, host: '127.0.0.1', token: null, rateLimit: null, maxQueue: 0 });
  apps.push(built.app);
  let release = (): void => {};
  const busy = built.queue.run(() => new Promise<void>((r) => { release = r; }));
  await new Promise((r) => setImmediate(r)); // the job starts
  const r = await built.app.inject({ method: 'POST', url: '/v1/search/text', payload: { query: 'microaneurysms' } });
  refusal(r, 503, 'queue_full', /^the server is busy: 1 inference job\(s\) running and 0 waiting/);
  assert.equal(r.headers['retry-after'], '1');
  release();
  await busy;
  assert.equal((await built.app.inject({ method: 'POST', url: '/v1/search/text', payload: { query: 'microaneurysms' } })).statusCode, 200);
  const m = await built.app.inject({ method: 'GET', url: '/metrics' });
  assert.match(m.body, /^retalign_inference_rejected_total 1$/m);
});
