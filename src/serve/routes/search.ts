/**
 * Retrieval and cases: POST /v1/search/text, POST /v1/search/image, GET /v1/cases/:id,
 * GET /v1/cases/:id/image. Searches rank the indexed case images by cosine similarity to the
 * query's embedding (text tower for text, image tower for a photo).
 *
 * @example
 *   curl -H "Authorization: Bearer $T" -H 'content-type: application/json' \
 *     -d '{"query":"new vessels at the disc","k":8}' http://127.0.0.1:8080/v1/search/text
 */
import type { FastifyInstance } from 'fastify';
import sharp from 'sharp';
import type { CaseStore } from '../cases.js';
import type { ServeContext } from '../context.js';
import type { PreparedImage } from '../engine.js';
import type { BatchLane } from '../queue.js';
import { HttpError, badRequest } from '../errors.js';
import { CaseSchema, ImageSearchUploadDoc, SearchResponseSchema, SearchTextBodySchema, type RouteDoc } from '../openapi.js';
import { IMAGE_MIME } from '../sniff.js';
import { readUpload } from '../upload.js';
import { clientGone, decodeImage, intField, once } from './common.js';
import type { EmbeddingIndex } from '../../index/index.js';

const BUSY = { 503: 'The inference queue is full; retry shortly.', 501: 'The server was started without an index.' };
const ID_PARAMS = { type: 'object', required: ['id'], properties: { id: { type: 'string', description: 'Case (exam image) id: [A-Za-z0-9._-], 1-200 characters.' } } };

function needIndex(ctx: ServeContext): { index: EmbeddingIndex; cases: CaseStore } {
  if (ctx.index === null || ctx.cases === null) throw new HttpError(501, 'no_index', 'this server was started without an index (retalign serve --index DIR)');
  return { index: ctx.index, cases: ctx.cases };
}

/** A search request as the inference queue batches it: the query and how many cases. */
interface SearchJob<Q> {
  query: Q;
  k: number;
  index: EmbeddingIndex;
}

type Hits = ReturnType<EmbeddingIndex['search']>;

export function registerSearch(app: FastifyInstance, ctx: ServeContext): void {
  // Queries that arrive together are embedded in one forward pass, then searched one by one.
  const searchAll = (jobs: readonly SearchJob<unknown>[], vectors: Float32Array[]): Hits[] =>
    vectors.map((v, i) => {
      const j = jobs[i] as SearchJob<unknown>;
      return j.index.search(v, { k: j.k, kind: 'image' });
    });
  const textLane: BatchLane<SearchJob<string>, Hits> = {
    name: 'search_text', run: (jobs) => searchAll(jobs, ctx.engine.embedTexts(jobs.map((j) => j.query))),
  };
  const imageLane: BatchLane<SearchJob<PreparedImage>, Hits> = {
    name: 'search_image', run: (jobs) => searchAll(jobs, ctx.engine.embedImages(jobs.map((j) => j.query))),
  };

  app.post('/v1/search/text', {
    schema: { body: SearchTextBodySchema, response: { 200: SearchResponseSchema } },
    config: { openapi: { summary: 'Find cases whose images match a text query', errors: { 400: 'The body does not match the schema.', ...BUSY } } satisfies RouteDoc },
  }, async (req) => {
    const { index, cases } = needIndex(ctx);
    const body = req.body as { query: string; k?: number };
    if (body.query.trim() === '') throw badRequest('query: empty; expected some text', 'bad_field');
    const k = body.k ?? 10;
    const hits = await ctx.queue.submit(textLane, { query: body.query, k, index }, clientGone(req));
    return { k, results: cases.hits(hits) };
  });

  app.post('/v1/search/image', {
    schema: { response: { 200: SearchResponseSchema } },
    config: {
      openapi: {
        summary: 'Find cases similar to a fundus photo', requestBody: ImageSearchUploadDoc,
        errors: { 400: 'A bad or unknown field, a missing image.', 413: 'Over the upload or pixel limit.', 415: 'Not an image.', 422: 'The image cannot be decoded.', ...BUSY },
      } satisfies RouteDoc,
    },
  }, async (req) => {
    const { index, cases } = needIndex(ctx);
    const up = await readUpload(req, { maxUploadBytes: ctx.limits.maxUploadBytes, requireImage: true });
    let k = 10;
    const seen = new Set<string>();
    for (const [name, value] of up.fields) {
      if (name !== 'k') throw badRequest(`unknown field ${JSON.stringify(name.slice(0, 40))}; valid fields: image, k`, 'bad_field');
      once(seen, name);
      k = intField('k', value, 1, 100);
    }
    const image = await decodeImage(ctx, up.image as Buffer);
    const hits = await ctx.queue.submit(imageLane, { query: image, k, index }, clientGone(req));
    return { k, results: cases.hits(hits) };
  });

  app.get('/v1/cases/:id', {
    schema: { params: ID_PARAMS, response: { 200: CaseSchema } },
    config: { openapi: { summary: 'One indexed case: grades, note, metadata', errors: { 400: 'The id is not a valid case id.', 404: 'No such case.', 501: BUSY[501] } } satisfies RouteDoc },
  }, async (req) => needIndex(ctx).cases.get((req.params as { id: string }).id));

  app.get('/v1/cases/:id/image', {
    schema: { params: ID_PARAMS },
    config: {
      openapi: {
        summary: "A case's fundus photo (or a JPEG thumbnail with ?size=N)",
        query: [{ name: 'size', description: 'Longest side of a JPEG thumbnail, 32..1024 (default: the original file).', schema: { type: 'integer', minimum: 32, maximum: 1024 } }],
        content200: Object.fromEntries(Object.values(IMAGE_MIME).map((m) => [m, { schema: { type: 'string', format: 'binary' } }])),
        errors: { 400: 'The id or size is not valid.', 404: 'No such case, or it has no image.', 501: BUSY[501] },
      } satisfies RouteDoc,
    },
  }, async (req, reply) => {
    const { cases } = needIndex(ctx);
    const q = req.query as Record<string, unknown>;
    const unknown = Object.keys(q).filter((k) => k !== 'size');
    if (unknown.length > 0) throw badRequest(`unknown query parameter ${unknown[0]}; valid: size`);
    const size = q['size'] === undefined ? null : intField('size', String(q['size']), 32, 1024);
    const file = await cases.imageFile((req.params as { id: string }).id);
    reply.header('cache-control', 'private, max-age=3600');
    if (size === null) return reply.type(IMAGE_MIME[file.type]).send(file.bytes);
    const thumb = await sharp(file.bytes, { limitInputPixels: ctx.limits.maxPixels })
      .rotate()
      .resize(size, size, { fit: 'inside', withoutEnlargement: true })
      .jpeg({ quality: 85 })
      .toBuffer()
      .catch(() => {
        throw new HttpError(404, 'not_found', 'the image of this case cannot be decoded');
      });
    return reply.type('image/jpeg').send(thumb);
  });
}
