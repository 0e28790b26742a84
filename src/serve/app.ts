/**
 * The HTTP server: a fastify app over a ServeEngine and an EmbeddingIndex.
 *
 * Order of checks per request: the Host header on a loopback server (DNS rebinding: 421) and the
 * Origin of a state-changing request (cross-site forgery: 403), see origin.ts -> rate limit (per client address, so token guessing is throttled
 * too) -> bearer token (when the server has one) -> the route (upload limits, sniffing, field
 * validation) -> the inference queue (dynamic batching: requests that arrive together share one forward pass). Closed by default: every route, including one added later
 * (or through `extend`), needs the token unless it declares `config: { public: true }` (the
 * liveness probe, the page and its files, the OpenAPI document). Logs hold only method, route pattern, status and latency:
 * never notes, patient fields, ids, file names or error messages of client errors.
 *
 * @example
 *   const { app } = await buildApp({ engine, index, dataRoot: '/data/brset', host: '127.0.0.1', token: null });
 *   await app.listen({ host: '127.0.0.1', port: 8080 });
 *   // or in tests: await app.inject({ method: 'GET', url: '/healthz' })
 */
import Fastify, { LogController, type FastifyInstance, type FastifyReply, type FastifyRequest, type FastifyServerOptions, type RouteOptions } from 'fastify';
import bearerAuth from '@fastify/bearer-auth';
import helmet from '@fastify/helmet';
import multipart from '@fastify/multipart';
import rateLimit from '@fastify/rate-limit';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { EmbeddingIndex } from '../index/index.js';
import { assertBindable, isLoopbackHost } from './auth.js';
import { CaseStore } from './cases.js';
import type { ServeContext, ServeLimits } from './context.js';
import type { ServeEngine } from './engine.js';
import { HttpError } from './errors.js';
import { ServeMetrics } from './metrics.js';
import { docHeader, docTransform, type RouteDoc } from './openapi.js';
import { crossOriginRefusal, hostRefusal, parseAllowedHosts } from './origin.js';
import { InferenceQueue } from './queue.js';
import { registerGrade } from './routes/grade.js';
import { registerMeta } from './routes/meta.js';
import { registerSearch } from './routes/search.js';
import { registerWeb } from './routes/web.js';

export interface ServeOptions {
  engine: ServeEngine;
  /** The cases to search; null = grading only (search answers 501). */
  index: EmbeddingIndex | null;
  /** Folder the index's image paths are relative to (the sidecar's dataPath); null = no case images. */
  dataRoot: string | null;
  /** The address the server will listen on: a non-loopback one requires a token. */
  host: string;
  /** Bearer token; when set, every API route requires it (loopback too). */
  token: string | null;
  /** More Host names a loopback server answers (--allowed-host: 'name' or 'name:port'; comma lists too). */
  allowedHosts?: readonly string[];
  /** Upload limit in bytes (default 20 MiB). */
  maxUploadBytes?: number;
  /** Decoded-pixel limit (default 40 MP; never above the model's own limit). */
  maxPixels?: number;
  /** Model jobs running at once (default 1) and requests waiting (default 64). */
  concurrency?: number;
  maxQueue?: number;
  /**
   * Dynamic batching (queue.ts): up to `maxBatch` requests of a kind (grade, image search, text
   * search) that arrive within `batchWindowMs` of the first run as one forward pass (defaults
   * DEFAULT_BATCHING); maxBatch 1 = every request alone, as an unbatched server.
   */
  maxBatch?: number;
  batchWindowMs?: number;
  /** Per-client limit (default 120/min, burst 30); null = off (benchmarks). */
  rateLimit?: RateLimitOptions | null;
  /** Indexed exams, shown by /v1/info (serve.json counts.images). */
  caseCount?: number | null;
  /** Mean pairwise cosine of the indexed embeddings, shown by /v1/info (serve.json meanPairwiseCosine). */
  embeddingSpread?: { image: number; note: number } | null;
  /** fastify's logger option (default false); e.g. { level: 'info', stream } to capture lines. */
  logger?: FastifyServerOptions['logger'];
  version?: string;
  /** More routes (an embedding application's): closed like ours unless they declare config.public. */
  extend?: (app: FastifyInstance) => void;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Answered without the bearer token and outside the rate limit. Absent = closed. */
    public?: boolean;
    /** What the route adds to its OpenAPI operation (openapi.ts). */
    openapi?: RouteDoc;
    /** @fastify/helmet's options for this route (it reads them from here): the docs page's CSP. */
    helmet?: Record<string, unknown>;
  }
}

export interface ServeApp {
  app: FastifyInstance;
  queue: InferenceQueue;
  metrics: ServeMetrics;
  /** Every registered route (HEAD ones included), as fastify's onRoute hook saw it. */
  routes: readonly RouteOptions[];
}

export const DEFAULT_LIMITS: Readonly<ServeLimits> = Object.freeze({ maxUploadBytes: 20 * 1024 * 1024, maxPixels: 40_000_000, maxNoteChars: 5000 });
/**
 * The Content-Security-Policy of every response: scripts, styles and connections from this origin
 * only (no inline script or style: the page's are files under assets/web/), images also from data:
 * and blob: URLs (the heatmap, case photos fetched with the token), no framing, no forms elsewhere.
 */
export const CSP_DIRECTIVES: Readonly<Record<string, string[]>> = Object.freeze({
  'default-src': ["'none'"], 'script-src': ["'self'"], 'style-src': ["'self'"], 'img-src': ["'self'", 'data:', 'blob:'],
  'connect-src': ["'self'"], 'form-action': ["'none'"], 'frame-ancestors': ["'none'"], 'base-uri': ["'none'"],
});
/**
 * Per-client request limit (by address), applied by @fastify/rate-limit to every non-public route:
 * at most `burst` requests in each window of burst / perMinute minutes (so `perMinute` sustained),
 * then 429 with Retry-After until the window ends.
 */
export interface RateLimitOptions {
  /** Sustained requests per minute per client (> 0). */
  perMinute: number;
  /** Requests per window (>= 1): how many a client may make at once. */
  burst: number;
}

/**
 * The docs page's policy: ours, plus the one inline style swagger-ui's bundle applies, allowed by
 * its hash (not 'unsafe-inline'); a swagger-ui that changes it fails the browser test's no-error check.
 */
const DOCS_CSP_DIRECTIVES: Readonly<Record<string, string[]>> = Object.freeze({
  ...CSP_DIRECTIVES, 'style-src': ["'self'", "'sha256-RL3ie0nH+Lzz2YNqQN83mnU0J1ot4QL7b99vMdIX99w='"],
});

export const DEFAULT_RATE_LIMIT: Readonly<RateLimitOptions> = Object.freeze({ perMinute: 120, burst: 30 });
/** Dynamic batching defaults: at most 8 requests per forward pass, the first waiting at most 5 ms for the others. */
export const DEFAULT_BATCHING: Readonly<{ maxBatch: number; batchWindowMs: number }> = Object.freeze({ maxBatch: 8, batchWindowMs: 5 });

function positiveInt(v: number, name: string): number {
  if (!Number.isInteger(v) || v < 1) throw new Error(`serve: ${name} is ${v}; expected a positive integer`);
  return v;
}

/** Builds the app (routes registered, not listening). Throws for a non-loopback host without a token. */
export async function buildApp(o: ServeOptions): Promise<ServeApp> {
  assertBindable(o.host, o.token);
  const loopbackOnly = isLoopbackHost(o.host);
  const allowedHosts = parseAllowedHosts(o.allowedHosts ?? []);
  if (o.index !== null && o.index.identity.checkpointId !== o.engine.checkpointId) {
    throw new Error(`serve: the index was built from checkpoint '${o.index.identity.checkpointId}' but the model is '${o.engine.checkpointId}': ` +
      'its vectors are in another embedding space; rebuild the index with this checkpoint');
  }
  const limits: ServeLimits = {
    maxUploadBytes: positiveInt(o.maxUploadBytes ?? DEFAULT_LIMITS.maxUploadBytes, 'maxUploadBytes'),
    maxPixels: Math.min(positiveInt(o.maxPixels ?? DEFAULT_LIMITS.maxPixels, 'maxPixels'), o.engine.served.pre.image.maxInputPixels),
    maxNoteChars: DEFAULT_LIMITS.maxNoteChars,
  };
  const metrics = new ServeMetrics();
  const queue = new InferenceQueue({
    concurrency: o.concurrency ?? 1, maxQueue: o.maxQueue ?? 64,
    maxBatch: positiveInt(o.maxBatch ?? DEFAULT_BATCHING.maxBatch, 'maxBatch'), batchWindowMs: o.batchWindowMs ?? DEFAULT_BATCHING.batchWindowMs,
    onBatch: (lane, size) => metrics.observeBatch(lane, size),
  });
  const rl = o.rateLimit === null ? null : o.rateLimit ?? DEFAULT_RATE_LIMIT;
  if (rl !== null && (!(rl.perMinute > 0) || !Number.isFinite(rl.perMinute) || !Number.isInteger(rl.burst) || rl.burst < 1)) {
    throw new Error(`serve: rate limit ${JSON.stringify(rl)}; expected perMinute > 0 and an integer burst >= 1`);
  }
  const ctx: ServeContext = {
    engine: o.engine, index: o.index, cases: o.index === null ? null : new CaseStore(o.index, o.dataRoot),
    queue, limits, authRequired: o.token !== null, caseCount: o.caseCount ?? null, embeddingSpread: o.embeddingSpread ?? null,
  };

  const app = Fastify({
    logger: o.logger ?? false,
    logController: new LogController({ disableRequestLogging: true }), // our onResponse line replaces fastify's
    bodyLimit: 64 * 1024, // JSON bodies (search queries); uploads have their own limit
    requestTimeout: 120_000,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: false } },
  });
  await app.register(multipart, { limits: { fileSize: limits.maxUploadBytes } });
  // Security headers on every response (errors, 404s and refusals included: its onRequest hook runs first).
  await app.register(helmet, {
    contentSecurityPolicy: { useDefaults: false, directives: CSP_DIRECTIVES },
    frameguard: { action: 'deny' },
    referrerPolicy: { policy: 'no-referrer' },
    hsts: false, // plain HTTP on loopback or a LAN; TLS, and HSTS with it, belong to the proxy in front
  });

  // Both plugins only decorate here (global: false, addHook: false): the gate below calls them for
  // the routes that are not public, in its own order (rate limit first, so token guessing is throttled).
  await app.register(rateLimit, { global: false, cache: 10_000 });
  if (o.token !== null) {
    await app.register(bearerAuth, {
      keys: new Set([o.token]), addHook: false, specCompliance: 'rfc6749', // rfc6749: the scheme name in any case ("bearer" too)
      verifyErrorLogLevel: 'debug', // a refused request is the client's matter: at info, the request line says 401, nothing more
    });
  }
  const limit = rl === null ? null : app.rateLimit({
    max: rl.burst, timeWindow: Math.round((rl.burst / rl.perMinute) * 60_000),
    errorResponseBuilder: (_req, c) => new HttpError(429, 'rate_limited', `too many requests from this client; retry in ${Math.ceil(c.ttl / 1000)} s`),
  });
  const verifyToken = o.token === null ? null : (req: FastifyRequest, reply: FastifyReply): Promise<void> => new Promise((ok, fail) => {
    (app.verifyBearerAuth as NonNullable<typeof app.verifyBearerAuth>)(req, reply, (err) => {
      if (err === undefined) return ok();
      reply.header('www-authenticate', 'Bearer realm="retalign"');
      fail(new HttpError(401, 'unauthorized', 'missing or wrong bearer token: send Authorization: Bearer <token from the server\'s --token-file>'));
    });
  });

  const routes: RouteOptions[] = [];
  app.addHook('onRoute', (r) => {
    routes.push(r);
  });
  // The OpenAPI document, from the routes as they register (so before them), and its browsable page
  // at /docs: public like the document itself (swagger-ui's routes are flagged in their own context).
  await app.register(swagger, { openapi: docHeader(o.version ?? '0.0.0'), transform: docTransform(o.token !== null) });
  await app.register(async (docs) => {
    docs.addHook('onRoute', (r) => {
      r.config = { ...r.config, public: true, helmet: { contentSecurityPolicy: { useDefaults: false, directives: DOCS_CSP_DIRECTIVES } } };
    });
    await docs.register(swaggerUi, { routePrefix: '/docs', uiConfig: { validatorUrl: null }, staticCSP: false });
  });

  app.addHook('onRequest', async (req, reply) => {
    // Every route, public ones too: the server's port from the connection (unknown under inject).
    const badHost = hostRefusal(req.headers.host, { loopbackOnly, allowed: allowedHosts, port: req.socket?.localPort ?? null });
    if (badHost !== null) throw new HttpError(421, 'host_not_allowed', badHost);
    const forged = crossOriginRefusal(req.method, { host: req.headers.host, origin: req.headers.origin, secFetchSite: req.headers['sec-fetch-site'] as string | undefined });
    if (forged !== null) throw new HttpError(403, 'cross_origin', forged);
    // Closed unless the route says otherwise: a route (or the 404 handler) without the flag needs the token.
    if (req.routeOptions.config?.public === true) return;
    if (limit !== null) await limit.call(app, req, reply); // throws the 429 (Retry-After set by the plugin)
    if (verifyToken !== null) await verifyToken(req, reply);
  });

  app.addHook('onSend', async (req, reply, payload) => {
    if (req.url.startsWith('/v1/') && !reply.hasHeader('cache-control')) reply.header('cache-control', 'no-store');
    return payload;
  });

  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url ?? '(unmatched)';
    const ms = reply.elapsedTime;
    metrics.observe(req.method, route, reply.statusCode, ms / 1000);
    // Only these four: no URL (ids), no body, no headers, no error text.
    req.log.info({ method: req.method, route, status: reply.statusCode, ms: Math.round(ms * 10) / 10 }, 'request');
  });

  // A client that closes its connection mid-request gets no response, so onResponse never runs: one info line, status 499.
  app.addHook('onRequestAbort', async (req) => {
    const route = req.routeOptions.url ?? '(unmatched)';
    req.log.info({ method: req.method, route, status: 499 }, 'client closed the connection');
  });

  app.setErrorHandler(async (err, req, reply) => {
    const e = err as Error & { statusCode?: number; code?: string; validation?: unknown; headers?: Record<string, string> };
    let status: number;
    let code: string;
    let message: string;
    if (e instanceof HttpError) {
      status = e.statusCode;
      code = e.code;
      message = e.message;
      reply.headers(e.headers);
    } else if (e.validation !== undefined) {
      status = 400;
      code = 'bad_request';
      message = e.message;
    } else if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
      status = e.statusCode; // fastify's own: bad JSON, wrong content type, body too large
      code = (e.code ?? 'bad_request').toLowerCase();
      message = e.message;
    } else if (e.code === 'ECONNRESET' || req.raw.socket?.destroyed === true) {
      // The client went away (closed the tab, cut the upload): nobody to answer, nothing wrong here.
      status = 499;
      code = 'client_closed_request';
      message = 'the client closed the connection before the request was read';
    } else {
      status = 500;
      code = 'internal_error';
      message = 'internal error (the server log has the stack trace)';
      // The stack without its first line: error messages may quote request values.
      req.log.error({ route: req.routeOptions.url, err: { name: e.name, code: e.code, stack: (e.stack ?? '').split('\n').slice(1).join('\n') } }, 'internal error');
    }
    return reply.code(status).type('application/json; charset=utf-8').send({ error: code, message, statusCode: status });
  });

  app.setNotFoundHandler(async (req, reply) =>
    reply.code(404).send({ error: 'not_found', message: `no route ${req.method} ${req.url.split('?')[0]?.slice(0, 100)}`, statusCode: 404 }));

  registerWeb(app, ctx);
  registerMeta(app, ctx, metrics);
  registerGrade(app, ctx);
  registerSearch(app, ctx);
  o.extend?.(app);
  await app.ready();
  return { app, queue, metrics, routes };
}
