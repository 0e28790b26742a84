// The HTTP API on a tiny trained model (test/serve/fixture.ts), through fastify.inject: each
// endpoint's happy path with hand-checkable relations (calibration, cosine scores, self-retrieval),
// the OpenAPI document against the routes, memory staying flat, and logs free of request content.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Validator } from '@seriousme/openapi-schema-validator';
import { Writable } from 'node:stream';
import sharp from 'sharp';
import type { FastifyInstance } from 'fastify';
import { settledLiveTensors } from '../support/live.js';
import { EmbeddingIndex } from '../../src/index/index.js';
import { buildApp } from '../../src/serve/app.js';
import { ServeEngine, UNCALIBRATED, temperaturesFromSidecar } from '../../src/serve/engine.js';
import { readSidecar, type IndexSidecar } from '../../src/serve/sidecar.js';
import { serveFixture, type ServeFixture } from './fixture.js';
import { imagePart, multipart } from './multipart.js';

let fx: ServeFixture;
let sidecar: IndexSidecar;
let engine: ServeEngine;
let index: EmbeddingIndex;
let app: FastifyInstance;
let photo: Buffer;
const logLines: string[] = [];

before(async () => {
  fx = await serveFixture();
  sidecar = readSidecar(fx.index);
  engine = ServeEngine.fromCheckpoint(fx.checkpoint, temperaturesFromSidecar(sidecar));
  index = EmbeddingIndex.open(fx.index, { expectCheckpointId: engine.checkpointId });
  photo = readFileSync(fx.sampleImage);
  const stream = new Writable({ write(chunk, _enc, done) { logLines.push(String(chunk)); done(); } });
  ({ app } = await buildApp({
    engine, index, dataRoot: sidecar.dataPath, host: '127.0.0.1', token: null, rateLimit: null, caseCount: sidecar.counts.images,
    embeddingSpread: sidecar.meanPairwiseCosine ?? null,
    logger: { level: 'info', stream },
  }));
});
after(async () => {
  await app?.close();
  index?.close();
});

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- test-side JSON
const near = (a: number, b: number, tol = 1e-5): void => assert.ok(Math.abs(a - b) <= tol, `${a} vs ${b}`);
const grade = (parts: Parameters<typeof multipart>[0]) => app.inject({ method: 'POST', url: '/v1/grade', ...multipart(parts) });
const dot = (a: Float32Array, b: Float32Array): number => a.reduce((s, x, i) => s + x * (b[i] as number), 0);
const unit = (v: Float32Array): Float32Array => {
  const n = Math.sqrt(dot(v, v));
  return v.map((x) => x / n);
};

test('GET /healthz, /v1/info', async () => {
  const h = await app.inject({ method: 'GET', url: '/healthz' });
  assert.equal(h.statusCode, 200);
  assert.deepEqual(h.json(), { status: 'ok', authRequired: false });
  const info = (await app.inject({ method: 'GET', url: '/v1/info' })).json() as Json;
  assert.equal(info.checkpointId, engine.checkpointId);
  assert.equal(info.gradeHeads, true);
  assert.equal(info.imageSize, 64);
  const spread = sidecar.meanPairwiseCosine as { image: number; note: number };
  for (const c of [spread.image, spread.note]) assert.ok(c >= -1 && c <= 1 + 1e-6, `mean pairwise cosine ${c}`);
  assert.deepEqual(info.index, { items: 2 * sidecar.counts.images, cases: sidecar.counts.images, meanPairwiseCosine: { ...spread, collapsedAbove: 0.98 } });
  const age = (info.fields as Json[]).find((f) => f.name === 'age');
  assert.deepEqual(age, { name: 'age', field: 'patient_age', kind: 'number', help: 'age in years', min: 0, max: 120 });
  assert.ok((info.fields as Json[]).some((f) => f.name === 'sex' && f.values.join() === 'male,female'));
});

test('POST /v1/grade: calibrated probabilities, referable = P(ICDR>=2), heatmap PNG, itself as the most similar case', async () => {
  const r = await grade([imagePart(photo), { name: 'note', value: 'scattered dot haemorrhages' }, { name: 'age', value: '61' }, { name: 'sex', value: 'female' }, { name: 'k', value: '3' }]);
  assert.equal(r.statusCode, 200, r.body);
  assert.equal(r.headers['cache-control'], 'no-store');
  const g = r.json() as Json;
  for (const s of ['icdr', 'sdrg']) {
    const p = g[s].probabilities as number[];
    assert.equal(p.length, 5);
    near(p.reduce((a, b) => a + b, 0), 1);
    assert.equal(g[s].confidence, Math.max(...p));
    assert.equal(g[s].grade, p.indexOf(Math.max(...p)));
  }
  near(g.referable.probability, g.icdr.probabilities[2] + g.icdr.probabilities[3] + g.icdr.probabilities[4], 1e-12);
  assert.equal(g.referable.flag, g.referable.probability >= 0.5);
  assert.deepEqual(g.calibration, {
    fitted: true, icdrTemperature: sidecar.calibration!.icdr.temperature, sdrgTemperature: sidecar.calibration!.sdrg.temperature, exams: 10, note: null,
  });
  assert.deepEqual(g.used, { image: true, note: true, fields: ['patient_age', 'patient_sex'] });
  assert.deepEqual([g.heatmap.rows, g.heatmap.cols, g.heatmap.weights.length], [8, 8, 64]);
  near((g.heatmap.weights as number[]).reduce((a, b) => a + b, 0), 1, 1e-4);
  const meta = await sharp(Buffer.from(g.heatmap.base64, 'base64')).metadata();
  assert.deepEqual([meta.format, meta.width, meta.height], ['png', 256, 256]);
  assert.equal(g.similar.length, 3);
  assert.equal(g.similar[0].case.id, fx.sampleId);
  near(g.similar[0].score, 1, 1e-4);

  // Temperature scaling: log(p_i / p_0) under T equals the raw log-ratio divided by T.
  const raw = new ServeEngine(engine.served, { ...UNCALIBRATED });
  const img = await raw.prepareImage(photo, 'x');
  const u = raw.grade({ image: img, note: 'scattered dot haemorrhages', fields: { patient_age: 61, patient_sex: 'female' } }, { attention: false });
  const T = sidecar.calibration!.icdr.temperature;
  for (let k = 1; k < 5; k++) {
    near(Math.log(g.icdr.probabilities[k] / g.icdr.probabilities[0]), Math.log(u.icdr.probabilities[k]! / u.icdr.probabilities[0]!) / T, 1e-5);
  }
});

test('POST /v1/grade: temperatures fitted on too few validation exams are not used; the answer says uncalibrated and why', async () => {
  // An index built before the minimum existed: a fit on 2 exams, as in the issue.
  const two = { ...sidecar, calibration: { icdr: { ...sidecar.calibration!.icdr, n: 2 }, sdrg: { ...sidecar.calibration!.sdrg, n: 2 }, split: 'val' } };
  const t = temperaturesFromSidecar(two);
  assert.deepEqual(t, { ...UNCALIBRATED, note: "the index's temperatures were fitted on 2 graded validation exams; at least 30 are needed" });
  const { app: raw } = await buildApp({ engine: new ServeEngine(engine.served, t), index, dataRoot: sidecar.dataPath, host: '127.0.0.1', token: null, rateLimit: null });
  try {
    const r = await raw.inject({ method: 'POST', url: '/v1/grade', ...multipart([imagePart(photo), { name: 'heatmap', value: 'false' }]) });
    const g = r.json() as Json;
    assert.deepEqual(g.calibration, { fitted: false, icdrTemperature: 1, sdrgTemperature: 1, exams: null, note: t.note });
    // The raw softmax: the same probabilities as an engine without any temperatures.
    const u = new ServeEngine(engine.served, { ...UNCALIBRATED }).grade({ image: await engine.prepareImage(photo, 'x') }, { attention: false });
    for (let k = 0; k < 5; k++) near(g.icdr.probabilities[k], u.icdr.probabilities[k]!, 1e-6);
  } finally {
    await raw.close();
  }
});

test('POST /v1/grade: image only, heatmap off', async () => {
  const g = (await grade([imagePart(photo, 'x.png', 'application/octet-stream'), { name: 'heatmap', value: 'false' }, { name: 'age', value: '' }])).json() as Json;
  assert.deepEqual(g.used, { image: true, note: false, fields: [] });
  assert.equal(g.heatmap, null);
  assert.deepEqual(g.similar, []);
});

test('POST /v1/search/text: ranked cases whose scores are the cosines of the stored image vectors', async () => {
  const r = await app.inject({ method: 'POST', url: '/v1/search/text', payload: { query: 'new vessels at the disc', k: 5 } });
  assert.equal(r.statusCode, 200, r.body);
  const body = r.json() as Json;
  assert.equal(body.k, 5);
  assert.deepEqual(body.results.map((h: Json) => h.rank), [1, 2, 3, 4, 5]);
  const q = unit(engine.embedText('new vessels at the disc'));
  let prev = Infinity;
  for (const h of body.results as Json[]) {
    assert.ok(h.score <= prev);
    prev = h.score;
    near(h.score, dot(q, index.get(h.case.id, 'image')!.vector), 1e-5);
    assert.equal(h.case.imageUrl, `/v1/cases/${h.case.id}/image`);
    assert.equal(typeof h.case.note, 'string');
  }
  const bad = await app.inject({ method: 'POST', url: '/v1/search/text', payload: { query: 'x', k: 0 } });
  assert.equal(bad.statusCode, 400);
  assert.match(bad.json().message, /body\/k must be >= 1/);
  const extra = await app.inject({ method: 'POST', url: '/v1/search/text', payload: { query: 'x', kk: 3 } });
  assert.equal(extra.statusCode, 400);
  assert.match(extra.json().message, /must NOT have additional properties/);
});

test('POST /v1/search/image: a photo finds itself first; GET /v1/cases/:id and its image', async () => {
  const r = await app.inject({ method: 'POST', url: '/v1/search/image', ...multipart([imagePart(photo), { name: 'k', value: '4' }]) });
  assert.equal(r.statusCode, 200, r.body);
  const hits = (r.json() as Json).results as Json[];
  assert.equal(hits.length, 4);
  assert.equal(hits[0]!.case.id, fx.sampleId);
  near(hits[0]!.score, 1, 1e-4);

  const c = (await app.inject({ method: 'GET', url: `/v1/cases/${fx.sampleId}` })).json() as Json;
  const item = index.get(fx.sampleId, 'image')!;
  assert.deepEqual(c, {
    id: fx.sampleId, patientId: item.meta.patientId, icdr: item.meta.icdr, sdrg: item.meta.sdrg, referable: item.meta.icdr! >= 2,
    note: item.meta.note, imageUrl: `/v1/cases/${fx.sampleId}/image`, extras: item.meta.extras,
  });
  const img = await app.inject({ method: 'GET', url: `/v1/cases/${fx.sampleId}/image` });
  assert.equal(img.statusCode, 200);
  assert.equal(img.headers['content-type'], 'image/jpeg');
  assert.ok(img.rawPayload.equals(photo));
  const thumb = await app.inject({ method: 'GET', url: `/v1/cases/${fx.sampleId}/image?size=64` });
  const [tm, om] = [await sharp(thumb.rawPayload).metadata(), await sharp(photo).metadata()];
  const side = Math.max(om.width!, om.height!); // the thumbnail fits inside 64 x 64, keeping the aspect ratio
  assert.deepEqual([thumb.headers['content-type'], tm.format, tm.width, tm.height],
    ['image/jpeg', 'jpeg', Math.round((om.width! * 64) / side), Math.round((om.height! * 64) / side)]);
  assert.equal((await app.inject({ method: 'GET', url: '/v1/cases/img99999' })).statusCode, 404);
  assert.equal((await app.inject({ method: 'GET', url: `/v1/cases/${fx.sampleId}/image?size=5` })).statusCode, 400);
});

test('GET /openapi.json (@fastify/swagger) is a valid OpenAPI 3.1 document of exactly the API routes, with their schemas; /docs shows it', async () => {
  const doc = (await app.inject({ method: 'GET', url: '/openapi.json' })).json() as Json;
  assert.equal(doc.openapi, '3.1.0');
  const valid = await new Validator().validate(structuredClone(doc));
  assert.deepEqual([valid.valid, valid.errors], [true, undefined], 'a valid OpenAPI 3.1 document');
  assert.deepEqual((await app.inject({ method: 'GET', url: '/docs/json' })).json(), doc); // the docs page shows the same document
  const page = await app.inject({ method: 'GET', url: '/docs' });
  assert.equal(page.statusCode, 200);
  assert.match(page.body, /<div id="swagger-ui"><\/div>/);
  const ops = Object.entries(doc.paths as Json).flatMap(([p, m]) => Object.keys(m as Json).map((x) => `${x.toUpperCase()} ${p}`)).sort();
  assert.deepEqual(ops, [
    'GET /healthz', 'GET /metrics', 'GET /openapi.json', 'GET /v1/cases/{id}', 'GET /v1/cases/{id}/image', 'GET /v1/info',
    'POST /v1/grade', 'POST /v1/search/image', 'POST /v1/search/text',
  ]);
  const g = doc.paths['/v1/grade'].post;
  assert.deepEqual(g.requestBody.content['multipart/form-data'].schema.required, ['image']);
  assert.ok(g.responses['200'].content['application/json'].schema.required.includes('referable'));
  for (const s of ['400', '413', '415', '422', '503', '429']) assert.ok(g.responses[s], `grade documents ${s}`);
  assert.equal(g.security, undefined); // no token on this server
  assert.equal(doc.paths['/v1/search/text'].post.requestBody.content['application/json'].schema.properties.k.maximum, 100);
  assert.deepEqual(doc.paths['/v1/cases/{id}'].get.parameters.map((p: Json) => `${p.in}:${p.name}`), ['path:id']);
});

test('GET /metrics, GET / (the page) and its assets', async () => {
  const m = await app.inject({ method: 'GET', url: '/metrics' });
  assert.match(m.headers['content-type'] as string, /^text\/plain; version=0\.0\.4/);
  assert.match(m.body, /^retalign_http_requests_total\{method="POST",route="\/v1\/grade",status="200"\} \d+$/m);
  assert.match(m.body, /^retalign_inference_queue_depth 0$/m);
  assert.match(m.body, /^process_resident_memory_bytes \d+$/m);
  const page = await app.inject({ method: 'GET', url: '/' });
  assert.equal(page.statusCode, 200);
  assert.match(page.headers['content-security-policy'] as string, /script-src 'self'/);
  assert.match(page.body, /<label for="image">/);
  for (const a of ['/web/app.js', '/web/style.css']) assert.equal((await app.inject({ method: 'GET', url: a })).statusCode, 200);
});

test('memory stays flat: the live-tensor count is unchanged after 24 more requests', async () => {
  const form = () => [imagePart(photo), { name: 'note', value: 'cotton wool spots' }, { name: 'k', value: '2' }];
  const round = async (): Promise<void> => {
    assert.equal((await grade(form())).statusCode, 200);
    assert.equal((await app.inject({ method: 'POST', url: '/v1/search/text', payload: { query: 'hard exudates', k: 3 } })).statusCode, 200);
    assert.equal((await app.inject({ method: 'POST', url: '/v1/search/image', ...multipart([imagePart(photo)]) })).statusCode, 200);
  };
  await round(); // caches (index matrix) are filled by now
  const base = await settledLiveTensors();
  const rss0 = process.memoryUsage.rss();
  for (let i = 0; i < 8; i++) await round();
  assert.equal(await settledLiveTensors(), base);
  assert.ok(process.memoryUsage.rss() - rss0 < 200 * 1024 * 1024, 'RSS grew by more than 200 MB');
});

test('logs hold method, route, status and latency only: no notes, field values or ids', async () => {
  await grade([imagePart(photo), { name: 'note', value: 'SECRET-NOTE-TEXT' }, { name: 'comorbidities', value: 'SECRET-COMORBIDITY' }]);
  await grade([imagePart(photo), { name: 'age', value: 'SECRET-BAD-AGE' }]);
  await app.inject({ method: 'GET', url: '/v1/cases/SECRET-ID-123' });
  const all = logLines.join('');
  assert.doesNotMatch(all, /SECRET/);
  const requests = logLines.map((l) => JSON.parse(l) as Json).filter((l) => l.msg === 'request');
  assert.ok(requests.length >= 3);
  for (const l of requests) {
    const keys = Object.keys(l).filter((k) => !['level', 'time', 'pid', 'hostname', 'reqId', 'msg'].includes(k)).sort();
    assert.deepEqual(keys, ['method', 'ms', 'route', 'status']);
  }
  assert.ok(requests.some((l) => l.route === '/v1/grade' && l.status === 400));
  assert.ok(requests.some((l) => l.route === '/v1/cases/:id' && l.status === 404));
});
