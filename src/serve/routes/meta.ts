/** GET /healthz, GET /v1/info, GET /metrics, GET /openapi.json (the docs page is app.ts's, from @fastify/swagger-ui). */
import type { FastifyInstance } from 'fastify';
import { liveTensors } from '../../tensor/index.js';
import type { ServeContext } from '../context.js';
import { FIELD_DEFS } from '../fields.js';
import type { ServeMetrics } from '../metrics.js';
import { COLLAPSED_COSINE } from '../sidecar.js';
import { HealthSchema, InfoSchema, type RouteDoc } from '../openapi.js';

export function registerMeta(app: FastifyInstance, ctx: ServeContext, metrics: ServeMetrics): void {
  app.get('/healthz', {
    schema: { response: { 200: HealthSchema } },
    config: { public: true, openapi: { summary: 'Liveness: the server answers', errors: {} } satisfies RouteDoc },
  }, async () => ({ status: 'ok', authRequired: ctx.authRequired }));

  app.get('/v1/info', {
    schema: { response: { 200: InfoSchema } },
    config: { openapi: { summary: 'The model, the patient fields it reads, the index, the limits, the batching', errors: {} } satisfies RouteDoc },
  }, async () => {
    const accepted = ctx.engine.acceptedFields;
    return {
      model: ctx.engine.served.name,
      checkpointId: ctx.engine.checkpointId,
      gradeHeads: ctx.engine.hasGradeHeads,
      imageSize: ctx.engine.imageSize,
      embedDim: ctx.engine.embedDim,
      fields: FIELD_DEFS.filter((d) => accepted?.has(d.name)).map((d) => ({
        name: d.aliases[0] ?? d.name, field: d.name, kind: d.kind, help: d.help,
        ...(d.kind === 'choice' ? { values: [...d.values] } : {}),
        ...(d.kind === 'number' ? { min: d.min, max: d.max } : {}),
      })),
      index: ctx.index === null ? null : {
        items: ctx.index.size, cases: ctx.caseCount,
        meanPairwiseCosine: ctx.embeddingSpread === null ? null : { ...ctx.embeddingSpread, collapsedAbove: COLLAPSED_COSINE },
      },
      limits: { ...ctx.limits },
      batching: { maxBatch: ctx.queue.maxBatch, batchWindowMs: ctx.queue.batchWindowMs },
    };
  });

  app.get('/metrics', {
    config: {
      openapi: {
        summary: 'Prometheus metrics: request counts, latency histogram, queue depth, live tensors, process and Node.js metrics', errors: {},
        content200: { 'text/plain; version=0.0.4': { schema: { type: 'string' } } },
      } satisfies RouteDoc,
    },
  }, async (_req, reply) => {
    const text = await metrics.render({ queueDepth: ctx.queue.depth, running: ctx.queue.running, rejected: ctx.queue.rejected, dropped: ctx.queue.dropped, liveTensors: liveTensors() });
    return reply.type(metrics.contentType).send(text);
  });

  // Built by @fastify/swagger (app.ts) from every route's schema and config.openapi.
  app.get('/openapi.json', {
    // Public: it describes the API (no data), and a client needs it to learn that a token is required.
    config: { public: true, openapi: { summary: 'This document', errors: {}, content200: { 'application/json': { schema: { type: 'object' } } } } satisfies RouteDoc },
  }, async () => app.swagger());
}
