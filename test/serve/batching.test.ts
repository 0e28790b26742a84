// Dynamic batching gives the answers unbatched inference gives: N different photos graded in one
// batch against the same photos graded one by one, on the tiny trained model of the fixture: the
// engine's batch calls against its single calls, and the HTTP API with batching (concurrent
// requests) against a server with --max-batch 1 (one request at a time). Probabilities, embeddings
// (directly, and through the similar-case scores) and heatmaps agree within 1e-5; mixed batches
// (note / patient fields / photo alone) included; the model runs in inference mode (no dropout)
// even when left in training mode; /metrics counts the batches.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { settledLiveTensors } from '../support/live.js';
import { EmbeddingIndex } from '../../src/index/index.js';
import { buildApp } from '../../src/serve/app.js';
import { ServeEngine, temperaturesFromSidecar, type GradeInput, type GradeOutput, type PreparedImage } from '../../src/serve/engine.js';
import { parseFields } from '../../src/serve/fields.js';
import { readSidecar } from '../../src/serve/sidecar.js';
import { serveFixture } from './fixture.js';
import { imagePart, multipart, type Part } from './multipart.js';

const N = 6;
const TOL = 1e-5;
/** Per photo: a note, patient fields, both or neither, so batches mix what reaches the fusion. */
const EXTRAS: { note?: string; fields?: [string, string][] }[] = [
  { note: 'scattered dot haemorrhages' },
  {},
  { fields: [['age', '61'], ['sex', 'female']] },
  { note: 'new vessels at the disc', fields: [['age', '48']] },
  { note: 'laser scars in the periphery' },
  { fields: [['sex', 'male']] },
];

let engine: ServeEngine;
let index: EmbeddingIndex;
let photos: Buffer[];
let prepared: PreparedImage[];
let inputs: GradeInput[];
const apps: FastifyInstance[] = [];

before(async () => {
  const fx = await serveFixture();
  const sidecar = readSidecar(fx.index);
  engine = ServeEngine.fromCheckpoint(fx.checkpoint, temperaturesFromSidecar(sidecar));
  index = EmbeddingIndex.open(fx.index, { expectCheckpointId: engine.checkpointId, readOnly: true });
  const dir = join(sidecar.dataPath, 'fundus_photos');
  photos = readdirSync(dir).filter((f) => f.endsWith('.jpg')).sort().slice(0, N).map((f) => readFileSync(join(dir, f)));
  assert.equal(photos.length, N, `the fixture has fewer than ${N} photos`);
  prepared = await Promise.all(photos.map((p, i) => engine.prepareImage(p, `photo ${i}`)));
  inputs = prepared.map((image, i) => {
    const x = EXTRAS[i % EXTRAS.length] ?? {};
    return { image, ...(x.note === undefined ? {} : { note: x.note }), ...(x.fields === undefined ? {} : { fields: parseFields(x.fields, engine.acceptedFields) }) };
  });
});
after(async () => {
  for (const a of apps) await a.close();
  index?.close();
});

const near = (a: ArrayLike<number>, b: ArrayLike<number>, what: string): void => {
  assert.equal(a.length, b.length, `${what}: ${a.length} values vs ${b.length}`);
  for (let i = 0; i < a.length; i++) {
    assert.ok(Math.abs((a[i] as number) - (b[i] as number)) <= TOL, `${what}[${i}]: batched ${a[i]} vs alone ${b[i]} (tolerance ${TOL})`);
  }
};

function sameGrade(batched: GradeOutput, alone: GradeOutput, what: string): void {
  near(batched.icdr.probabilities, alone.icdr.probabilities, `${what} icdr`);
  near(batched.sdrg.probabilities, alone.sdrg.probabilities, `${what} sdrg`);
  assert.equal(batched.icdr.grade, alone.icdr.grade, `${what} icdr grade`);
  near([batched.referable.probability], [alone.referable.probability], `${what} referable`);
  near(batched.imageEmb, alone.imageEmb, `${what} image embedding`);
  assert.deepEqual(batched.used, alone.used, `${what} used`);
  assert.equal(batched.attention === null, alone.attention === null, `${what} heatmap presence`);
  if (batched.attention !== null && alone.attention !== null) near(batched.attention.weights, alone.attention.weights, `${what} heatmap`);
}

test('engine: a batch of different photos (with and without note or fields) grades as each photo alone; heatmaps on some rows', () => {
  const attention = inputs.map((_, i) => i % 2 === 0);
  const alone = inputs.map((x, i) => engine.grade(x, { attention: attention[i] as boolean }));
  const batched = engine.gradeBatch(inputs, { attention });
  assert.equal(batched.length, N);
  batched.forEach((g, i) => sameGrade(g, alone[i] as GradeOutput, `photo ${i}`));
  // The rows differ from each other (a batch that answered every row alike would not pass the above anyway).
  assert.ok(alone.some((g) => Math.abs((g.icdr.probabilities[0] as number) - (alone[0]?.icdr.probabilities[0] as number)) > 1e-4), 'the photos all grade alike');
  // The same batch in another order answers each row the same.
  const order = [3, 0, 5, 1, 4, 2];
  const shuffled = engine.gradeBatch(order.map((i) => inputs[i] as GradeInput), { attention: order.map((i) => attention[i] as boolean) });
  shuffled.forEach((g, j) => sameGrade(g, alone[order[j] as number] as GradeOutput, `photo ${order[j]} (shuffled)`));
});

test('engine: embeddings of image and text batches equal the single ones', () => {
  const imgs = engine.embedImages(prepared);
  prepared.forEach((p, i) => near(imgs[i] as Float32Array, engine.embedImage(p), `image ${i}`));
  const texts = ['new vessels at the disc', 'hard exudates near the macula', '', 'laser scars'];
  const embs = engine.embedTexts(texts);
  texts.forEach((t, i) => near(embs[i] as Float32Array, engine.embedText(t), `text ${JSON.stringify(t)}`));
  assert.deepEqual(engine.embedTexts([]), []);
  assert.deepEqual(engine.gradeBatch([], { attention: false }), []);
});

test('engine: inference mode whatever the model was left in (the tiny model has dropout 0.1 in its text, fusion and tabular parts)', async () => {
  const x = inputs[3] as GradeInput; // note and fields: every part with dropout is used
  const ref = engine.gradeBatch([x, inputs[0] as GradeInput], { attention: false });
  const live = await settledLiveTensors();
  const model = engine.served.model;
  try {
    for (let i = 0; i < 3; i++) {
      model.train(true);
      sameGrade(engine.gradeBatch([x, inputs[0] as GradeInput], { attention: false })[0] as GradeOutput, ref[0] as GradeOutput, `training-mode call ${i}`);
      model.train(true);
      near(engine.embedTexts(['new vessels at the disc'])[0] as Float32Array, engine.embedText('new vessels at the disc'), `text in training mode ${i}`);
    }
  } finally {
    model.train(false);
  }
  assert.equal(await settledLiveTensors(), live, 'tensors left alive by batched calls');
});

/** An app over the shared engine and index; its /metrics' grade batch histogram. */
async function app(maxBatch: number, batchWindowMs: number): Promise<FastifyInstance> {
  const built = await buildApp({ engine, index, dataRoot: null, host: '127.0.0.1', token: null, rateLimit: null, maxBatch, batchWindowMs });
  apps.push(built.app);
  return built.app;
}

async function batchSizes(a: FastifyInstance, lane: string): Promise<{ count: number; sum: number; le1: number }> {
  const text = (await a.inject({ method: 'GET', url: '/metrics' })).body;
  const read = (re: RegExp): number => Number(re.exec(text)?.[1] ?? 'NaN');
  return {
    count: read(new RegExp(`^retalign_batch_size_count\\{lane="${lane}"\\} (\\d+)$`, 'm')),
    sum: read(new RegExp(`^retalign_batch_size_sum\\{lane="${lane}"\\} (\\d+)$`, 'm')),
    le1: read(new RegExp(`^retalign_batch_size_bucket\\{le="1",lane="${lane}"\\} (\\d+)$`, 'm')),
  };
}

const form = (i: number): Part[] => {
  const x = EXTRAS[i % EXTRAS.length] ?? {};
  return [
    imagePart(photos[i] as Buffer), { name: 'k', value: '4' }, { name: 'heatmap', value: i % 3 === 0 ? 'false' : 'true' },
    ...(x.note === undefined ? [] : [{ name: 'note', value: x.note }]), ...(x.fields ?? []).map(([name, value]) => ({ name, value })),
  ];
};

test('HTTP: concurrent grade and search requests are batched (/metrics retalign_batch_size) and answered as one by one with --max-batch 1', async () => {
  // A long window, so that on a loaded machine the N uploads still reach the queue inside it.
  const batched = await app(8, 2000);
  const single = await app(1, 0);
  const post = (a: FastifyInstance, i: number) => a.inject({ method: 'POST', url: '/v1/grade', ...multipart(form(i)) });
  const together = await Promise.all(photos.map((_, i) => post(batched, i)));
  const oneByOne: Awaited<ReturnType<FastifyInstance['inject']>>[] = [];
  for (let i = 0; i < N; i++) oneByOne.push(await post(single, i));
  type G = { icdr: { probabilities: number[] }; sdrg: { probabilities: number[] }; referable: { probability: number }; used: unknown;
    heatmap: { weights: number[] } | null; similar: { score: number; case: { id: string } }[] };
  for (let i = 0; i < N; i++) {
    assert.equal(together[i]?.statusCode, 200, together[i]?.body);
    assert.equal(oneByOne[i]?.statusCode, 200, oneByOne[i]?.body);
    const b = together[i]?.json() as G;
    const s = oneByOne[i]?.json() as G;
    near(b.icdr.probabilities, s.icdr.probabilities, `HTTP photo ${i} icdr`);
    near(b.sdrg.probabilities, s.sdrg.probabilities, `HTTP photo ${i} sdrg`);
    near([b.referable.probability], [s.referable.probability], `HTTP photo ${i} referable`);
    assert.deepEqual(b.used, s.used);
    assert.equal(b.heatmap === null, i % 3 === 0);
    if (b.heatmap !== null && s.heatmap !== null) near(b.heatmap.weights, s.heatmap.weights, `HTTP photo ${i} heatmap`);
    // Similar cases: the cosines of the image embedding with the indexed ones.
    assert.deepEqual(b.similar.map((h) => h.case.id), s.similar.map((h) => h.case.id), `HTTP photo ${i} similar cases`);
    near(b.similar.map((h) => h.score), s.similar.map((h) => h.score), `HTTP photo ${i} similar scores`);
  }
  const gb = await batchSizes(batched, 'grade');
  assert.equal(gb.sum, N, `grade requests counted in batches: ${gb.sum}`);
  assert.ok(gb.count < N, `${N} concurrent grade requests ran as ${gb.count} batches; expected fewer (batched)`);
  assert.deepEqual(await batchSizes(single, 'grade'), { count: N, sum: N, le1: N }, '--max-batch 1: every grade request alone');

  // Search by photo and by text, concurrently (batched) and one by one.
  type S = { results: { score: number; case: { id: string } }[] };
  const searches = (a: FastifyInstance, i: number) => [
    () => a.inject({ method: 'POST', url: '/v1/search/image', ...multipart([imagePart(photos[i] as Buffer), { name: 'k', value: '5' }]) }),
    () => a.inject({ method: 'POST', url: '/v1/search/text', payload: { query: EXTRAS[i]?.note ?? `photo ${i} hard exudates`, k: 5 } }),
  ];
  const sTogether = await Promise.all(photos.flatMap((_, i) => searches(batched, i).map((f) => f())));
  const sAlone: Awaited<ReturnType<FastifyInstance['inject']>>[] = [];
  for (let i = 0; i < N; i++) for (const f of searches(single, i)) sAlone.push(await f());
  sTogether.forEach((r, j) => {
    assert.equal(r.statusCode, 200, r.body);
    const b = r.json() as S;
    const s = sAlone[j]?.json() as S;
    assert.deepEqual(b.results.map((h) => h.case.id), s.results.map((h) => h.case.id), `search ${j}`);
    near(b.results.map((h) => h.score), s.results.map((h) => h.score), `search ${j} scores`);
  });
  for (const lane of ['search_image', 'search_text']) {
    const sb = await batchSizes(batched, lane);
    assert.equal(sb.sum, N, `${lane}: ${sb.sum} requests in batches`);
    assert.ok(sb.count < N, `${lane}: ${N} concurrent requests ran as ${sb.count} batches; expected fewer`);
  }
});
