/**
 * The API's JSON schemas, used twice: by fastify (request validation, response serialization) and
 * in the OpenAPI 3.1 document that @fastify/swagger builds from the registered routes (served at
 * /openapi.json, browsable at /docs), so the document cannot drift from the server.
 *
 * Multipart bodies are not validated by fastify (the upload reader checks them); their OpenAPI
 * description travels in the route's `config.openapi.requestBody`, joined in by docTransform.
 *
 * @example
 *   await app.register(swagger, { openapi: docHeader('1.0.0'), transform: docTransform(true) });
 */
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
  required: ['model', 'checkpointId', 'gradeHeads', 'imageSize', 'embedDim', 'fields', 'index', 'limits', 'batching'],
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
    batching: {
      type: 'object',
      description: 'Dynamic batching: up to maxBatch requests of a kind that arrive within batchWindowMs of the first run as one forward pass.',
      required: ['maxBatch', 'batchWindowMs'],
      properties: { maxBatch: { type: 'integer' }, batchWindowMs: { type: 'number' } },
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

/** What @fastify/swagger's `transform` receives of a route (the parts used here). */
interface SwaggerRoute {
  schema?: unknown;
  url: string;
  route: { config?: { public?: boolean; openapi?: RouteDoc } };
}

/**
 * @fastify/swagger's per-route `transform`: the route's fastify schema (params, JSON body, 200
 * response) plus what its `config.openapi` adds that fastify does not validate (summary, the
 * multipart body, non-JSON 200s, hand-parsed query parameters, error statuses), and the bearer
 * requirement of every route that is not public. Routes without `config.openapi` (the page and its
 * files, the docs UI) are left out of the document.
 */
export function docTransform(authRequired: boolean): (r: SwaggerRoute) => { schema: Schema; url: string } {
  return ({ schema, url, route }) => {
    const doc = route.config?.openapi;
    const own = (schema ?? {}) as { body?: Schema; params?: Schema; response?: Record<number, Schema> };
    if (doc === undefined) return { schema: { ...own, hide: true }, url };
    const auth = route.config?.public !== true; // closed unless public (app.ts)
    const response: Record<string, Schema> = {
      200: doc.content200 !== undefined ? { description: 'OK', content: doc.content200 } : { description: 'OK', ...(own.response?.[200] ?? {}) },
    };
    const errors = { ...doc.errors, ...(auth && authRequired ? { 401: STD_ERRORS[401] } : {}), ...(auth ? { 429: STD_ERRORS[429] } : {}) };
    for (const [status, description] of Object.entries(errors)) response[status] = { ...ErrorSchema, description };
    const out: Schema = { summary: doc.summary, response };
    if (doc.description !== undefined) out['description'] = doc.description;
    if (own.params !== undefined) out['params'] = own.params;
    if (own.body !== undefined) out['body'] = own.body;
    if (doc.requestBody !== undefined) out['body'] = { content: doc.requestBody['content'] };
    if (doc.query !== undefined) {
      out['querystring'] = { type: 'object', properties: Object.fromEntries(doc.query.map((q) => [q.name, { ...q.schema, description: q.description }])) };
    }
    if (auth && authRequired) out['security'] = [{ bearer: [] }];
    return { schema: out, url };
  };
}

/** The document's top: OpenAPI 3.1, what the service is, the bearer scheme. */
export function docHeader(version: string): Schema {
  return {
    openapi: '3.1.0',
    info: {
      title: 'retalign',
      version,
      description: 'Diabetic-retinopathy grading (ICDR and SDRG) and case retrieval from one embedding space of fundus photo, ' +
        'clinical note and patient record. Research software: not a medical device.',
    },
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'The token from the server\'s --token-file.' } },
    },
  };
}
