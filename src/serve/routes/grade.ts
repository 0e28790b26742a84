/**
 * POST /v1/grade: a fundus photo (+ optional note and patient fields) -> calibrated ICDR and SDRG
 * probabilities, the referable flag, the attention heatmap, and optionally similar cases.
 *
 * @example
 *   curl -H "Authorization: Bearer $T" -F image=@eye.jpg -F note='dot haemorrhages' -F age=61 -F k=5 \
 *     http://127.0.0.1:8080/v1/grade
 */
import type { FastifyInstance } from 'fastify';
import type { BatchLane } from '../queue.js';
import type { ServeContext } from '../context.js';
import { HttpError, badRequest } from '../errors.js';
import type { CaseStore } from '../cases.js';
import type { GradeInput, GradeOutput } from '../engine.js';
import { parseFields } from '../fields.js';
import { renderHeatmap } from '../heatmap.js';
import { GradeResponseSchema, GradeUploadDoc, type RouteDoc } from '../openapi.js';
import { readUpload } from '../upload.js';
import { clientGone, decodeImage, intField, once } from './common.js';

const DOC: RouteDoc = {
  summary: 'Grade a fundus photo on ICDR and SDRG',
  description: 'Calibrated grade probabilities on both scales, the referable-DR flag (P(ICDR >= 2) >= 0.5), an attention-rollout ' +
    'heatmap over the crop the model saw, and optionally the k most similar indexed cases. The note and patient fields are optional; ' +
    'whatever is given joins the image in the fusion.',
  requestBody: GradeUploadDoc,
  errors: {
    400: 'A bad or unknown field, a missing image.',
    413: 'The file is over the upload limit, or the image over the pixel limit.',
    415: 'The uploaded bytes are not a JPEG, PNG, WebP or TIFF image, or the body is not multipart/form-data.',
    422: 'The image cannot be decoded (corrupt or truncated), or it is smaller than the model\'s input size or more elongated than 2:1.',
    501: 'The model has no grade heads (a CLIP baseline).',
    503: 'The inference queue is full; retry shortly.',
  },
};

export const REFERABLE_THRESHOLD = 0.5;

/** One grade request as the inference queue batches it. */
interface GradeJob {
  input: GradeInput;
  heatmap: boolean;
  /** Similar cases wanted (0 = none). */
  k: number;
}

export function registerGrade(app: FastifyInstance, ctx: ServeContext): void {
  // Grade requests that arrive together run as one forward pass; each gets its own row (and its own search).
  const lane: BatchLane<GradeJob, { g: GradeOutput; similar: ReturnType<CaseStore['hits']> }> = {
    name: 'grade',
    run: (jobs) => {
      const gs = ctx.engine.gradeBatch(jobs.map((j) => j.input), { attention: jobs.map((j) => j.heatmap) });
      return gs.map((g, i) => {
        const k = (jobs[i] as GradeJob).k;
        return { g, similar: k > 0 && ctx.index !== null && ctx.cases !== null ? ctx.cases.hits(ctx.index.search(g.imageEmb, { k, kind: 'image' })) : [] };
      });
    },
  };
  app.post('/v1/grade', { schema: { response: { 200: GradeResponseSchema } }, config: { openapi: DOC } }, async (req) => {
    const up = await readUpload(req, { maxUploadBytes: ctx.limits.maxUploadBytes, requireImage: true });
    const seen = new Set<string>();
    let note: string | undefined;
    let k = 0;
    let heatmap = true;
    const pairs: [string, string][] = [];
    for (const [name, value] of up.fields) {
      if (name === 'note') {
        once(seen, name);
        if (value.length > ctx.limits.maxNoteChars) throw badRequest(`field note: ${value.length} characters; at most ${ctx.limits.maxNoteChars}`, 'bad_field');
        note = value.trim() === '' ? undefined : value;
      } else if (name === 'k') {
        once(seen, name);
        k = intField('k', value, 0, 50);
      } else if (name === 'heatmap') {
        once(seen, name);
        if (value !== 'true' && value !== 'false') throw badRequest(`field heatmap: ${JSON.stringify(value.slice(0, 20))}; expected true or false`, 'bad_field');
        heatmap = value === 'true';
      } else if (value.trim() !== '') {
        pairs.push([name, value]); // an empty form field means "not given"
      }
    }
    const fields = parseFields(pairs, ctx.engine.acceptedFields);
    if (!ctx.engine.hasGradeHeads) throw new HttpError(501, 'no_grade_heads', `the model ${ctx.engine.served.name} has no grade heads (a CLIP baseline): use the search endpoints`);
    const image = await decodeImage(ctx, up.image as Buffer);
    const { g, similar } = await ctx.queue.submit(lane, { input: { image, note, fields }, heatmap, k }, clientGone(req));
    const png = g.attention === null ? null : await renderHeatmap(image.rgb, image.size, g.attention);
    return {
      model: { name: ctx.engine.served.name, checkpointId: ctx.engine.checkpointId },
      icdr: g.icdr,
      sdrg: g.sdrg,
      referable: { probability: g.referable.probability, flag: g.referable.probability >= REFERABLE_THRESHOLD, threshold: REFERABLE_THRESHOLD },
      calibration: {
        fitted: g.temperatures.fitted, icdrTemperature: g.temperatures.icdr, sdrgTemperature: g.temperatures.sdrg, exams: g.temperatures.exams ?? null,
        note: g.temperatures.fitted ? null : g.temperatures.note ?? 'no temperatures were fitted for this model (index built without validation data)',
      },
      used: g.used,
      heatmap: png === null || g.attention === null ? null : {
        mediaType: 'image/png', base64: png.toString('base64'), rows: g.attention.rows, cols: g.attention.cols, weights: Array.from(g.attention.weights),
      },
      similar,
    };
  });
}
