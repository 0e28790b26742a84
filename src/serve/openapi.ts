/**
 * The API's JSON schemas, used twice: by fastify (request validation, response serialization) and
 * in the OpenAPI 3.1 document served at /openapi.json, which is generated from the routes as they
 * are registered (onRoute), so the document cannot drift from the server.
 *
 * Multipart bodies are not validated by fastify (the upload reader checks them); their OpenAPI
 * description travels in the route's `config.openapi.requestBody`.
 *
 * @example
 *   app.addHook('onRoute', (r) => routes.push(r));   // then: openApiDocument(routes, info)
 */
import type { RouteOptions } from 'fastify';
import { NUM_GRADES } from '../data/grades.js';

type Schema = Record<string, unknown>;

const nullable = (s: Schema): Schema => ({ ...s, type: [s['type'] as string, 'null'] });
const grade = { type: 'integer', minimum: 0, maximum: NUM_GRADES - 1 } as const;

export const ErrorSchema: Schema = {
  type: 'object',
  required: ['error', 'message', 'statusCode'],
  properties: {
    error: { type: 'string', description: "Stable code, e.g. 'bad_field', 'payload_too_large', 'unauthorized'." },
    message: { type: 'string', description: 'What was wrong: the field, the value and what was expected.' },
    statusCode: { type: 'integer' },
  },
};

export const CaseSchema: Schema = {
  type: 'object',
  required: ['id', 'patientId', 'icdr', 'sdrg', 'referable', 'note', 'imageUrl', 'extras'],
  properties: {
    id: { type: 'string', description: 'The exam imageId.' },
    patientId: nullable({ type: 'string' }),
    icdr: nullable({ ...grade, description: 'Graded ICDR 0..4.' }),
    sdrg: nullable({ ...grade, description: 'Graded SDRG 0..4.' }),
    referable: nullable({ type: 'boolean', description: 'ICDR >= 2.' }),
    note: nullable({ type: 'string', description: "The case's clinical note." }),
    imageUrl: nullable({ type: 'string', description: 'GET it (with the bearer token) for the photo; add ?size=N (32..1024) for a JPEG thumbnail.' }),
    extras: { type: 'object', additionalProperties: true, description: 'eye, split, ...' },
  },
};

export const SearchHitSchema: Schema = {
  type: 'object',
  required: ['rank', 'score', 'case'],
  properties: {
    rank: { type: 'integer', minimum: 1 },
    score: { type: 'number', description: 'Cosine similarity in [-1, 1] between the query and the case image embeddings.' },
    case: CaseSchema,
  },
};

export const SearchResponseSchema: Schema = {
  type: 'object',
  required: ['k', 'results'],
  properties: { k: { type: 'integer' }, results: { type: 'array', items: SearchHitSchema } },
};

export const SearchTextBodySchema: Schema = {
  type: 'object',
  required: ['query'],
  additionalProperties: false,
  properties: {
    query: { type: 'string', minLength: 1, maxLength: 2000, description: 'Free text, e.g. "neovascularisation at the disc".' },
    k: { type: 'integer', minimum: 1, maximum: 100, default: 10, description: 'Number of cases (1..100).' },
  },
};

const ScaleSchema: Schema = {
  type: 'object',
  required: ['probabilities', 'grade', 'confidence'],
  properties: {
    probabilities: { type: 'array', items: { type: 'number' }, minItems: NUM_GRADES, maxItems: NUM_GRADES, description: 'P(grade = 0..4), calibrated when calibration.fitted.' },
    grade: { ...grade, description: 'The most probable grade.' },
    confidence: { type: 'number', description: "Calibrated probability of that grade (softmax(logits / T), T fitted on the run's validation split)." },
  },
};

export const GradeResponseSchema: Schema = {
  type: 'object',
  required: ['model', 'icdr', 'sdrg', 'referable', 'calibration', 'used', 'heatmap', 'similar'],
  properties: {
    model: { type: 'object', required: ['name', 'checkpointId'], properties: { name: { type: 'string' }, checkpointId: { type: 'string' } } },
    icdr: ScaleSchema,
    sdrg: ScaleSchema,
    referable: {
      type: 'object',
      required: ['probability', 'flag', 'threshold'],
      properties: {
        probability: { type: 'number', description: 'Calibrated P(ICDR >= 2).' },
        flag: { type: 'boolean', description: 'probability >= threshold.' },
        threshold: { type: 'number' },
      },
    },
    calibration: {
      type: 'object',
      required: ['fitted', 'icdrTemperature', 'sdrgTemperature', 'exams', 'note'],
      properties: {
        fitted: {
          type: 'boolean',
          description: 'False: no temperatures, or ones fitted on fewer validation exams than the minimum (30 unless the index says otherwise); ' +
            'probabilities are then the raw softmax.',
        },
        icdrTemperature: { type: 'number' },
        sdrgTemperature: { type: 'number' },
        exams: nullable({ type: 'integer', description: 'Graded validation exams the temperatures were fitted on, when fitted.' }),
        note: nullable({ type: 'string', description: 'Why the probabilities are uncalibrated, when they are.' }),
      },
    },
    used: {
      type: 'object',
      required: ['image', 'note', 'fields'],
      properties: { image: { type: 'boolean' }, note: { type: 'boolean' }, fields: { type: 'array', items: { type: 'string' } } },
    },
    heatmap: nullable({
      type: 'object',
      required: ['mediaType', 'base64', 'rows', 'cols', 'weights'],
      properties: {
        mediaType: { type: 'string', const: 'image/png' },
        base64: { type: 'string', description: 'PNG: attention rollout of the image tower over the crop the model saw.' },
        rows: { type: 'integer' },
        cols: { type: 'integer' },
        weights: { type: 'array', items: { type: 'number' }, description: 'rows x cols rollout weights, row-major, summing to 1.' },
      },
    }),
    similar: { type: 'array', items: SearchHitSchema, description: 'The k most similar indexed cases by image embedding (k form field; 0 = none).' },
  },
};

export const HealthSchema: Schema = {
  type: 'object',
  required: ['status', 'authRequired'],
  properties: { status: { type: 'string', const: 'ok' }, authRequired: { type: 'boolean' } },
};

export const InfoSchema: Schema = {
  type: 'object',
  required: ['model', 'checkpointId', 'gradeHeads', 'imageSize', 'embedDim', 'fields', 'index', 'limits'],
  properties: {
    model: { type: 'string' },
    checkpointId: { type: 'string' },
    gradeHeads: { type: 'boolean', description: 'False for a CLIP baseline: /v1/grade answers 501.' },
    imageSize: { type: 'integer' },
    embedDim: { type: 'integer' },
    fields: {
      type: 'array',
      description: 'Patient fields this model reads (form field names for /v1/grade).',
      items: {
        type: 'object',
        required: ['name', 'field', 'kind', 'help'],
        properties: {
          name: { type: 'string', description: 'Short form name (e.g. age).' },
          field: { type: 'string', description: 'BRSET column name (e.g. patient_age); also accepted.' },
          kind: { type: 'string', enum: ['number', 'boolean', 'choice', 'text'] },
          help: { type: 'string' },
          values: { type: 'array', items: { type: 'string' } },
          min: { type: 'number' },
          max: { type: 'number' },
        },
      },
    },
    index: nullable({
      type: 'object',
      required: ['items', 'cases'],
      properties: {
        items: { type: 'integer', description: 'Indexed items (case images and their notes).' },
        cases: nullable({ type: 'integer', description: 'Indexed exams (from serve.json), when known.' }),
        meanPairwiseCosine: nullable({
          type: 'object',
          description: 'Mean pairwise cosine of the indexed image and note embeddings (from serve.json), when known. ' +
            'Near 1 the model barely tells cases apart and similarity rankings are close to arbitrary.',
          required: ['image', 'note', 'collapsedAbove'],
          properties: {
            image: { type: 'number' }, note: { type: 'number' },
            collapsedAbove: { type: 'number', description: 'Above this value the index build warned that the embeddings have collapsed.' },
          },
        }),
      },
    }),
    limits: {
      type: 'object',
      required: ['maxUploadBytes', 'maxPixels', 'maxNoteChars'],
      properties: { maxUploadBytes: { type: 'integer' }, maxPixels: { type: 'integer' }, maxNoteChars: { type: 'integer' } },
    },
  },
};

/** A required multipart/form-data request body with an `image` part, for the document only. */
function multipartDoc(properties: Record<string, unknown>, additionalProperties?: Schema): Schema {
  const schema: Schema = { type: 'object', required: ['image'], properties };
  if (additionalProperties !== undefined) schema['additionalProperties'] = additionalProperties;
  return { required: true, content: { 'multipart/form-data': { schema } } };
}

export const GradeUploadDoc: Schema = multipartDoc({
  image: { type: 'string', format: 'binary', description: 'Fundus photo (JPEG, PNG, WebP or TIFF, detected from its bytes).' },
  note: { type: 'string', description: 'Optional clinical note (at most 5000 characters).' },
  k: { type: 'integer', minimum: 0, maximum: 50, default: 0, description: 'Also return this many similar indexed cases.' },
  heatmap: { type: 'string', enum: ['true', 'false'], default: 'true', description: 'Include the attention heatmap.' },
}, { type: 'string', description: 'Patient fields by name (see GET /v1/info), e.g. age=61, sex=female, insulin=yes.' });

export const ImageSearchUploadDoc: Schema = multipartDoc({
  image: { type: 'string', format: 'binary', description: 'Fundus photo (JPEG, PNG, WebP or TIFF).' },
  k: { type: 'integer', minimum: 1, maximum: 100, default: 10 },
});

/** What a route adds to its OpenAPI operation beyond its fastify schema (in `config.openapi`). */
export interface RouteDoc {
  summary: string;
  description?: string;
  requestBody?: Schema;
  /** Non-JSON 200 responses, e.g. { 'image/jpeg': {...} }. */
  content200?: Record<string, Schema>;
  /** Error statuses the route can answer, with their meaning. */
  errors: Record<number, string>;
  /** Query parameters (fastify's querystring is not used: they are parsed by hand). */
  query?: { name: string; description: string; schema: Schema }[];
}

const STD_ERRORS: Record<number, string> = {
  401: 'Missing or wrong bearer token.',
  429: 'Rate limit: too many requests from this client (see Retry-After).',
};

/** The OpenAPI 3.1 document of the registered routes that carry `config.openapi`. */
export function openApiDocument(routes: readonly RouteOptions[], info: { version: string; authRequired: boolean }): Schema {
  const paths: Record<string, Record<string, Schema>> = {};
  for (const r of routes) {
    const doc = r.config?.openapi;
    if (doc === undefined) continue;
    const auth = r.config?.public !== true; // closed unless the route says it is public (app.ts)
    const path = r.url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
    const schema = (r.schema ?? {}) as { body?: Schema; params?: Schema; response?: Record<number, Schema> };
    const params = Object.entries(((schema.params?.['properties']) ?? {}) as Record<string, Schema>).map(([name, s]) => ({ name, in: 'path', required: true, schema: s }));
    const query = (doc.query ?? []).map((q) => ({ name: q.name, in: 'query', required: false, description: q.description, schema: q.schema }));
    const responses: Record<string, Schema> = {};
    const ok = schema.response?.[200];
    responses['200'] = doc.content200
      ? { description: 'OK', content: doc.content200 }
      : { description: 'OK', content: { 'application/json': { schema: ok ?? {} } } };
    const errors = { ...doc.errors, ...(auth && info.authRequired ? { 401: STD_ERRORS[401] } : {}), ...(auth ? { 429: STD_ERRORS[429] } : {}) };
    for (const [status, description] of Object.entries(errors)) {
      responses[status] = { description, content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } };
    }
    const methods = Array.isArray(r.method) ? r.method : [r.method];
    for (const m of methods) {
      if (m === 'HEAD') continue;
      const op: Schema = { summary: doc.summary, responses };
      if (doc.description) op['description'] = doc.description;
      if (params.length + query.length > 0) op['parameters'] = [...params, ...query];
      if (schema.body) op['requestBody'] = { required: true, content: { 'application/json': { schema: schema.body } } };
      if (doc.requestBody) op['requestBody'] = doc.requestBody;
      if (auth && info.authRequired) op['security'] = [{ bearer: [] }];
      (paths[path] ??= {})[m.toLowerCase()] = op;
    }
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'retalign',
      version: info.version,
      description: 'Diabetic-retinopathy grading (ICDR and SDRG) and case retrieval from one embedding space of fundus photo, ' +
        'clinical note and patient record. Research software: not a medical device.',
    },
    paths,
    components: {
      schemas: { Error: ErrorSchema, Case: CaseSchema },
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'The token from the server\'s --token-file.' } },
    },
  };
}
