// Serve building blocks without a model: field parsing, magic-byte sniffing,
// the inference queue, Prometheus text, the heatmap grid, auth rules, CLI formatting.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeField, fieldArgs, fieldDef, parseFields } from '../../src/serve/fields.js';
import { HttpError } from '../../src/serve/errors.js';
import { describeBytes, describeFile, sniffImage } from '../../src/serve/sniff.js';
import { InferenceQueue, type BatchLane } from '../../src/serve/queue.js';
import { ServeMetrics } from '../../src/serve/metrics.js';
import { blendHeat, heatmapSide, rampColor, upsampleGrid } from '../../src/serve/heatmap.js';
import { assertBindable, checkToken, isLoopbackHost } from '../../src/serve/auth.js';
import { bar, excerpt, table } from '../../src/serve/format.js';
import { crossOriginRefusal, hostRefusal, parseAllowedHosts, splitHost } from '../../src/serve/origin.js';
import { meanPairwiseCosine } from '../../src/serve/build-index.js';
import { defaultServeThreads, serveThreadEnv, threadsFlag } from '../../src/serve/threads.js';

const ALL = new Set(['patient_age', 'patient_sex', 'diabetes', 'diabetes_time_y', 'insulin', 'comorbidities', 'camera', 'exam_eye']);
const status400 = (re: RegExp) => (e: unknown): boolean => e instanceof HttpError && e.statusCode === 400 && re.test(e.message);

test('fields: aliases and BRSET names decode to the reader\'s values', () => {
  assert.deepEqual(
    parseFields([['age', '61'], ['sex', 'Female'], ['diabetes', 'yes'], ['diabetes_time', '12.5'], ['insulin', '0'], ['eye', '1'], ['comorbidities', ' SAH, DM2 ']], ALL),
    { patient_age: 61, patient_sex: 'female', diabetes: true, diabetes_time_y: 12.5, insulin: false, exam_eye: 'right', comorbidities: 'SAH, DM2' },
  );
  assert.deepEqual(parseFields([['patient_age', '0'], ['patient_sex', '2']], ALL), { patient_age: 0, patient_sex: 'female' });
  assert.deepEqual(parseFields([], null), {});
  assert.equal(fieldDef(' AGE ')?.name, 'patient_age');
});

test('fields: every refusal is a 400 naming the field, the value and what was expected', () => {
  assert.throws(() => parseFields([['age', 'sixty']], ALL), status400(/^field age \(patient_age\): "sixty" is not valid; expected a number of years in \[0, 120\]$/));
  assert.throws(() => parseFields([['age', '121']], ALL), status400(/"121" is not valid; expected a number of years in \[0, 120\]/));
  assert.throws(() => parseFields([['age', '1e2']], ALL), status400(/"1e2" is not valid/));
  assert.throws(() => parseFields([['age', '']], ALL), status400(/"" is not valid/));
  assert.throws(() => parseFields([['sex', 'x']], ALL), status400(/^field sex \(patient_sex\): "x" is not valid; expected one of male, female$/));
  assert.throws(() => parseFields([['insulin', 'maybe']], ALL), status400(/expected yes or no/));
  assert.throws(() => parseFields([['weight', '80']], ALL), status400(/^unknown field "weight"; valid fields: age, sex, diabetes, diabetes_time, insulin, comorbidities, camera, eye$/));
  assert.throws(() => parseFields([['age', '61'], ['patient_age', '62']], ALL), status400(/^field patient_age: given twice \(also as age\)$/));
  assert.throws(() => parseFields([['quality', 'adequate']], ALL), status400(/does not use quality; it uses: patient_age/));
  assert.throws(() => parseFields([['age', '61']], null), status400(/the model takes no patient fields/));
  assert.throws(() => decodeField(fieldDef('camera')!, 'Canon\nFAKE LOG LINE'), status400(/expected text of at most 100 characters/));
  assert.deepEqual(fieldArgs(['age=61', 'note=a=b']), [['age', '61'], ['note', 'a=b']]);
  assert.throws(() => fieldArgs(['age']), /--field "age": expected name=value/);
});

test('sniff: magic bytes decide, not names; a refused file is named by file-type, its bytes never quoted', async () => {
  assert.equal(sniffImage(Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 0])), 'jpeg');
  assert.equal(sniffImage(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])), 'png');
  assert.equal(sniffImage(Buffer.from('RIFF\0\0\0\0WEBPVP8 ')), 'webp');
  assert.equal(sniffImage(Buffer.from([0x49, 0x49, 0x2a, 0x00])), 'tiff');
  assert.equal(sniffImage(Buffer.from('hello, I am a .jpg')), null);
  assert.equal(sniffImage(Buffer.from([0xff, 0xd8])), null);
  assert.equal(describeBytes(Buffer.from('patient notes\n')), 'text');
  assert.equal(await describeFile(Buffer.from('patient notes\n')), 'text');
  assert.equal(await describeFile(Buffer.alloc(0)), 'an empty file');
  assert.equal(await describeFile(Buffer.from([0, 1, 2, 3, 4])), 'binary data of no format we know'); // no bytes quoted
  assert.equal(await describeFile(Buffer.from('%PDF-1.7\n1 0 obj\n')), 'a file of type PDF (application/pdf)');
  assert.equal(await describeFile(Buffer.from('GIF89a\x01\x00\x01\x00\x00\x00\x00;', 'latin1')), 'a file of type GIF (image/gif)');
  assert.equal(sniffImage(Buffer.from('GIF89a', 'latin1')), null); // recognized, still refused
});

test('queue: at most `concurrency` jobs at once, FIFO, 503 past maxQueue, failures isolated', async () => {
  const q = new InferenceQueue({ concurrency: 1, maxQueue: 2 });
  const order: string[] = [];
  let running = 0;
  let peak = 0;
  const job = (name: string, ms: number) => async (): Promise<string> => {
    running++;
    peak = Math.max(peak, running);
    await new Promise((r) => setTimeout(r, ms));
    order.push(name);
    running--;
    return name;
  };
  const a = q.run(job('a', 20));
  const b = q.run(job('b', 1));
  const c = q.run(() => {
    throw new Error('boom');
  });
  assert.equal(q.depth, 3 - q.running); // a may not have started yet (setImmediate)
  await assert.rejects(q.run(job('d', 1)), (e: unknown) => e instanceof HttpError && e.statusCode === 503 && /2 waiting/.test(e.message));
  assert.equal(q.rejected, 1);
  assert.equal(await a, 'a');
  assert.equal(await b, 'b');
  await assert.rejects(c, /boom/);
  assert.equal(await q.run(job('e', 1)), 'e');
  assert.deepEqual(order, ['a', 'b', 'e']);
  assert.equal(peak, 1);
  assert.equal(q.depth, 0);
  assert.equal(q.running, 0);
});

test('queue: a job whose client has gone is dropped unstarted', async () => {
  const q = new InferenceQueue({ concurrency: 1, maxQueue: 4 });
  let release = (): void => {};
  const first = q.run(() => new Promise<void>((r) => { release = r; }));
  let ran = false;
  let gone = false;
  const second = q.run(() => { ran = true; }, () => gone);
  await new Promise((r) => setImmediate(r)); // the first job is running, the second waits
  gone = true; // its client disconnects while waiting
  release();
  await first;
  await assert.rejects(second, (e: unknown) => e instanceof HttpError && e.statusCode === 499);
  assert.equal(ran, false);
  assert.equal(q.dropped, 1);
});

/** A lane that records its batches and answers each input with `${input}!` (or fails on 'bad'). */
function recordingLane(name: string, batches: string[][]): BatchLane<string, string> {
  return {
    name,
    run: (xs) => {
      batches.push([...xs]);
      if (xs.includes('bad')) throw new Error(`lane ${name}: bad input`);
      return xs.map((x) => `${x}!`);
    },
  };
}

test('queue batching: up to maxBatch requests of a lane per job, FIFO, each answered with its own output; onBatch sees the sizes', async () => {
  const sizes: string[] = [];
  const q = new InferenceQueue({ concurrency: 1, maxQueue: 16, maxBatch: 3, batchWindowMs: 50, onBatch: (lane, n) => sizes.push(`${lane}:${n}`) });
  const batches: string[][] = [];
  const lane = recordingLane('grade', batches);
  const outs = await Promise.all(['a', 'b', 'c', 'd', 'e', 'f', 'g'].map((x) => q.submit(lane, x)));
  assert.deepEqual(outs, ['a!', 'b!', 'c!', 'd!', 'e!', 'f!', 'g!']);
  assert.deepEqual(batches, [['a', 'b', 'c'], ['d', 'e', 'f'], ['g']]);
  assert.deepEqual(sizes, ['grade:3', 'grade:3', 'grade:1']);
  assert.deepEqual([q.completed, q.batches, q.depth, q.running], [7, 3, 0, 0]);
});

test('queue batching: the window collects requests arriving apart; window 0 and maxBatch 1 never wait', async () => {
  const batches: string[][] = [];
  const lane = recordingLane('grade', batches);
  const windowed = new InferenceQueue({ concurrency: 1, maxQueue: 16, maxBatch: 8, batchWindowMs: 300 });
  const t0 = performance.now();
  const first = windowed.submit(lane, 'a');
  await new Promise((r) => setTimeout(r, 20));
  const second = windowed.submit(lane, 'b');
  assert.deepEqual(await Promise.all([first, second]), ['a!', 'b!']);
  assert.deepEqual(batches, [['a', 'b']]);
  assert.ok(performance.now() - t0 >= 290, 'a batch short of maxBatch waits for its window');

  batches.length = 0;
  const noWindow = new InferenceQueue({ concurrency: 1, maxQueue: 16, maxBatch: 8, batchWindowMs: 0 });
  const x = noWindow.submit(lane, 'a');
  await new Promise((r) => setTimeout(r, 20));
  await Promise.all([x, noWindow.submit(lane, 'b')]);
  assert.deepEqual(batches, [['a'], ['b']]);

  // maxBatch 1: the unbatched server, whatever the window; each alone, in order, at once.
  batches.length = 0;
  const unbatched = new InferenceQueue({ concurrency: 1, maxQueue: 16, maxBatch: 1, batchWindowMs: 10_000 });
  const t1 = performance.now();
  assert.deepEqual(await Promise.all(['a', 'b', 'c'].map((v) => unbatched.submit(lane, v))), ['a!', 'b!', 'c!']);
  assert.deepEqual(batches, [['a'], ['b'], ['c']]);
  assert.ok(performance.now() - t1 < 5000, 'maxBatch 1 waited for the window');
  assert.throws(() => new InferenceQueue({ concurrency: 1, maxQueue: 1, maxBatch: 0 }), /maxBatch 0; expected an integer >= 1/);
  assert.throws(() => new InferenceQueue({ concurrency: 1, maxQueue: 1, batchWindowMs: -1 }), /batchWindowMs -1; expected a finite number >= 0/);
});

test('queue batching: the window reopens when the model becomes free; requests of the same event-loop turn join a batch that is leaving', async () => {
  const batches: string[][] = [];
  const lane = recordingLane('grade', batches);
  const q = new InferenceQueue({ concurrency: 1, maxQueue: 16, maxBatch: 8, batchWindowMs: 400 });
  let release = (): void => {};
  const blocker = q.run(() => new Promise<void>((r) => { release = r; }));
  await new Promise((r) => setImmediate(r)); // the model is busy
  const a = q.submit(lane, 'a');
  await new Promise((r) => setTimeout(r, 450)); // a's own window closes while the model is busy
  release();
  await blocker;
  await new Promise((r) => setTimeout(r, 30)); // b is still being decoded when the model frees up
  const b = q.submit(lane, 'b');
  assert.deepEqual(await Promise.all([a, b]), ['a!', 'b!']);
  assert.deepEqual(batches, [['a', 'b']]);

  // Window 0: a batch leaves at once, but takes its requests only when it starts (setImmediate).
  batches.length = 0;
  const now = new InferenceQueue({ concurrency: 1, maxQueue: 16, maxBatch: 8, batchWindowMs: 0 });
  assert.deepEqual(await Promise.all([now.submit(lane, 'x'), now.submit(lane, 'y')]), ['x!', 'y!']);
  assert.deepEqual(batches, [['x', 'y']]);
});

test('queue batching: lanes never mix (the oldest request picks the lane); lone jobs run alone', async () => {
  const batches: string[][] = [];
  const grade = recordingLane('grade', batches);
  const text = recordingLane('text', batches);
  const q = new InferenceQueue({ concurrency: 1, maxQueue: 16, maxBatch: 8, batchWindowMs: 30 });
  const order: string[] = [];
  const all = [
    q.submit(grade, 'g1'), q.submit(text, 't1'), q.run(() => { order.push('lone'); return 'L'; }), q.submit(grade, 'g2'), q.submit(text, 't2'),
  ];
  assert.deepEqual(await Promise.all(all), ['g1!', 't1!', 'L', 'g2!', 't2!']);
  assert.deepEqual(batches, [['g1', 'g2'], ['t1', 't2']]);
  assert.deepEqual(order, ['lone']);
});

test('queue batching: a failed batch is rerun one by one, so only the bad request fails; a wrong output count fails; 499 and 503 per request', async () => {
  const batches: string[][] = [];
  const lane = recordingLane('grade', batches);
  const q = new InferenceQueue({ concurrency: 1, maxQueue: 16, maxBatch: 4, batchWindowMs: 20 });
  const rs = await Promise.allSettled(['a', 'bad', 'c'].map((x) => q.submit(lane, x)));
  assert.deepEqual(rs.map((r) => (r.status === 'fulfilled' ? r.value : String((r.reason as Error).message))), ['a!', 'lane grade: bad input', 'c!']);
  assert.deepEqual(batches, [['a', 'bad', 'c'], ['a'], ['bad'], ['c']]);

  const short: BatchLane<string, string> = { name: 'short', run: (xs) => xs.slice(1) };
  await assert.rejects(q.submit(short, 'x'), /lane short answered 0 outputs for 1 inputs/);

  // A waiting request whose client has gone is dropped (499) when its batch forms; the others run.
  batches.length = 0;
  let release = (): void => {};
  const blocker = q.run(() => new Promise<void>((r) => { release = r; }));
  let gone = false;
  const p = [q.submit(lane, 'x'), q.submit(lane, 'y', () => gone), q.submit(lane, 'z')];
  gone = true;
  await new Promise((r) => setImmediate(r)); // the blocker is running
  release();
  await blocker;
  const out = await Promise.allSettled(p);
  assert.equal(out[1]?.status === 'rejected' && out[1].reason instanceof HttpError && out[1].reason.statusCode, 499);
  assert.deepEqual(batches, [['x', 'z']]);
  assert.equal(q.dropped, 1);

  // maxQueue counts waiting requests, not batches.
  const small = new InferenceQueue({ concurrency: 1, maxQueue: 2, maxBatch: 8, batchWindowMs: 0 });
  let open = (): void => {};
  const busy = small.run(() => new Promise<void>((r) => { open = r; }));
  await new Promise((r) => setImmediate(r)); // the lone job is running
  const waiting = [small.submit(lane, 'p'), small.submit(lane, 'q')];
  await assert.rejects(small.submit(lane, 'r'), (e: unknown) => e instanceof HttpError && e.statusCode === 503 && /2 waiting/.test(e.message));
  open();
  await busy;
  assert.deepEqual(await Promise.all(waiting), ['p!', 'q!']);
});

test('metrics: Prometheus text with counters, cumulative buckets, gauges', async () => {
  const m = new ServeMetrics();
  m.observe('POST', '/v1/grade', 200, 0.03);
  m.observe('POST', '/v1/grade', 200, 0.2);
  m.observe('POST', '/v1/grade', 413, 0.001);
  const t = await m.render({ queueDepth: 3, running: 1, rejected: 2, dropped: 4, liveTensors: 7 });
  assert.match(t, /^retalign_http_requests_total\{method="POST",route="\/v1\/grade",status="200"\} 2$/m);
  assert.match(t, /^retalign_http_requests_total\{method="POST",route="\/v1\/grade",status="413"\} 1$/m);
  assert.match(t, /^retalign_http_request_duration_seconds_bucket\{le="0.005",route="\/v1\/grade"\} 1$/m);
  assert.match(t, /^retalign_http_request_duration_seconds_bucket\{le="0.05",route="\/v1\/grade"\} 2$/m);
  assert.match(t, /^retalign_http_request_duration_seconds_bucket\{le="0.25",route="\/v1\/grade"\} 3$/m);
  assert.match(t, /^retalign_http_request_duration_seconds_bucket\{le="\+Inf",route="\/v1\/grade"\} 3$/m);
  assert.match(t, /^retalign_http_request_duration_seconds_count\{route="\/v1\/grade"\} 3$/m);
  assert.match(t, /^retalign_inference_queue_depth 3$/m);
  assert.match(t, /^retalign_inference_rejected_total 2$/m);
  assert.match(t, /^retalign_inference_dropped_total 4$/m);
  assert.match(t, /^retalign_live_tensors 7$/m);
  assert.match(t, /^process_resident_memory_bytes \d+$/m);
  assert.match(t, /^# TYPE retalign_http_request_duration_seconds histogram$/m);
  m.observeBatch('grade', 1);
  m.observeBatch('grade', 5);
  m.observeBatch('search_text', 8);
  const b = await m.render({ queueDepth: 0, running: 0, rejected: 0, dropped: 0, liveTensors: 0 });
  assert.match(b, /^# TYPE retalign_batch_size histogram$/m);
  assert.match(b, /^retalign_batch_size_bucket\{le="1",lane="grade"\} 1$/m);
  assert.match(b, /^retalign_batch_size_bucket\{le="4",lane="grade"\} 1$/m);
  assert.match(b, /^retalign_batch_size_bucket\{le="6",lane="grade"\} 2$/m);
  assert.match(b, /^retalign_batch_size_sum\{lane="grade"\} 6$/m);
  assert.match(b, /^retalign_batch_size_count\{lane="grade"\} 2$/m);
  assert.match(b, /^retalign_batch_size_bucket\{le="6",lane="search_text"\} 0$/m);
  assert.match(b, /^retalign_batch_size_bucket\{le="8",lane="search_text"\} 1$/m);
});

test('heatmap: bilinear upsampling with aligned cell centres, min-max scaled; ramp ends', () => {
  // 1 x 2 grid [0, 1] at side 4: centres at x = 0.5 -> 0 and x = 2.5 -> 1 in grid units.
  const u = upsampleGrid(Float32Array.from([0.2, 0.8]), 1, 2, 4);
  // grid x = (x + 0.5) / 4 * 2 - 0.5 = -0.25, 0.25, 0.75, 1.25 -> clamped 0, 0.25, 0.75, 1
  assert.deepEqual(Array.from(u.subarray(0, 4)), [0, 0.25, 0.75, 1]);
  assert.deepEqual(Array.from(u.subarray(12, 16)), [0, 0.25, 0.75, 1]);
  assert.deepEqual(Array.from(upsampleGrid(Float32Array.from([0.25, 0.25, 0.25, 0.25]), 2, 2, 2)), [0, 0, 0, 0]);
  assert.deepEqual(rampColor(0), [0, 0, 4]);
  assert.deepEqual(rampColor(1), [252, 255, 164]);
  assert.deepEqual(rampColor(0.125), [43.5, 8, 57]);
  assert.equal(heatmapSide(64), 256);
  assert.equal(heatmapSide(224), 448);
  assert.throws(() => upsampleGrid(new Float32Array(3), 2, 2, 4), /3 weights, expected 2x2/);
});

test('heatmap: blendHeat gives the bytes of the per-pixel rampColor blend (control points, clamping, random heat)', () => {
  const heat = Float32Array.from([0, 0.25, 0.5, 0.75, 1, 0.125, 0.2500001, 0.9999, ...Array.from({ length: 4000 }, (_, i) => ((i * 7919) % 10007) / 10006)]);
  const photo = Uint8Array.from({ length: heat.length * 3 }, (_, i) => (i * 131) % 256);
  const expected = Buffer.alloc(photo.length); // the blend as renderHeatmap wrote it before blendHeat
  for (let i = 0; i < heat.length; i++) {
    const v = heat[i] as number;
    const a = 0.7 * v;
    const c = rampColor(v);
    for (let ch = 0; ch < 3; ch++) expected[i * 3 + ch] = Math.round((1 - a) * (photo[i * 3 + ch] as number) + a * (c[ch] as number));
  }
  const got = blendHeat(photo, heat);
  const firstDiff = got.findIndex((b, i) => b !== expected[i]);
  assert.equal(firstDiff, -1, `byte ${firstDiff}: ${got[firstDiff]} vs ${expected[firstDiff]}`);
  assert.deepEqual([...blendHeat(Uint8Array.from([10, 20, 30, 10, 20, 30]), Float32Array.from([0, 1]))], [10, 20, 30, 179, 185, 124]);
  assert.throws(() => blendHeat(new Uint8Array(5), new Float32Array(2)), /5 bytes for 2 pixels/);
});

test('threads: `retalign serve` gets sleeping OpenMP threads and OpenBLAS sized to --threads; other commands and set variables are left alone', () => {
  assert.deepEqual(serveThreadEnv(['serve', '--index', 'ix'], 2, {}), { OMP_WAIT_POLICY: 'PASSIVE', OPENBLAS_NUM_THREADS: String(defaultServeThreads(2)) });
  assert.deepEqual(serveThreadEnv(['serve', '--threads', '1'], 2, {}), { OMP_WAIT_POLICY: 'PASSIVE', OPENBLAS_NUM_THREADS: '1' });
  assert.deepEqual(serveThreadEnv(['serve', '--threads=3'], 2, {}), { OMP_WAIT_POLICY: 'PASSIVE', OPENBLAS_NUM_THREADS: '3' });
  assert.deepEqual(serveThreadEnv(['serve'], 2, { OMP_WAIT_POLICY: 'ACTIVE', OPENBLAS_NUM_THREADS: '4' }), {});
  assert.deepEqual(serveThreadEnv(['train', '--config', 'x.json'], 2, {}), {}); // training keeps libgomp's default
  assert.deepEqual(serveThreadEnv([], 2, {}), {});
  assert.equal(threadsFlag(['serve', '--threads', 'two']), null); // the command line refuses it, naming the flag
  assert.equal(defaultServeThreads(0), 1);
});

test('auth: loopback detection, binding rule, token strength (the header check is in security.test.ts)', () => {
  for (const h of ['127.0.0.1', 'localhost', '::1', '[::1]', '127.1.2.3', '::ffff:127.0.0.1']) assert.equal(isLoopbackHost(h), true, h);
  for (const h of ['0.0.0.0', '::', '192.168.1.5', 'example.org', '10.0.0.1']) assert.equal(isLoopbackHost(h), false, h);
  assert.doesNotThrow(() => assertBindable('127.0.0.1', null));
  assert.doesNotThrow(() => assertBindable('0.0.0.0', 'a-long-enough-token-123'));
  assert.throws(() => assertBindable('0.0.0.0', null), /refusing to listen on 0\.0\.0\.0 without authentication.*--token-file FILE/s);
  assert.throws(() => checkToken('short', 'x'), /5 characters; expected at least 16/);
  assert.throws(() => checkToken('with spaces inside it!!', 'x'), /printable ASCII without spaces/);
});

test('format: bars, excerpts without control characters, aligned tables', () => {
  assert.equal(bar(0.5, 10), '█████░░░░░');
  assert.equal(bar(1.7, 4), '████');
  assert.equal(excerpt('a\nb\tc   d', 20), 'a b c d');
  assert.equal(excerpt('abcdefghij', 5), 'abcd…');
  assert.equal(excerpt(null, 5), '');
  assert.equal(table(['rank', 'id'], [['1', 'img001'], ['10', 'x']]), 'rank  id\n----  ------\n1     img001\n10    x');
});

test('meanPairwiseCosine: hand-computed cases and the O(n^2) definition', () => {
  assert.equal(meanPairwiseCosine(Float32Array.from([1, 0, 0, 1]), 2, 2), 0); // orthogonal
  assert.ok(Math.abs(meanPairwiseCosine(Float32Array.from([0.6, 0.8, 0.6, 0.8, 0.6, 0.8]), 3, 2) - 1) < 1e-6); // identical
  const third = (2 * Math.PI) / 3; // three unit vectors 120 degrees apart: every pair has cosine -1/2
  const tri = Float32Array.from([0, 1, 2].flatMap((i) => [Math.cos(i * third), Math.sin(i * third)]));
  assert.ok(Math.abs(meanPairwiseCosine(tri, 3, 2) + 0.5) < 1e-6);
  assert.ok(Number.isNaN(meanPairwiseCosine(Float32Array.from([1, 0]), 1, 2)));
  // random unit rows against the pairwise loop
  let seed = 7;
  const rnd = (): number => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32) - 0.3;
  const n = 9;
  const d = 5;
  const rows = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    const v = Array.from({ length: d }, rnd);
    const norm = Math.hypot(...v);
    v.forEach((x, k) => (rows[i * d + k] = x / norm));
  }
  let sum = 0;
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) if (i !== j) for (let k = 0; k < d; k++) sum += (rows[i * d + k] as number) * (rows[j * d + k] as number);
  assert.ok(Math.abs(meanPairwiseCosine(rows, n, d) - sum / (n * (n - 1))) < 1e-6);
});

test('origin: Host splitting, --allowed-host parsing, the loopback Host rule with ports, cross-origin writes', () => {
  assert.deepEqual(splitHost('LocalHost:8080'), { name: 'localhost', port: 8080 });
  assert.deepEqual(splitHost('[::1]'), { name: '[::1]', port: null });
  for (const bad of ['a b', 'x:99999', 'user@host', 'http://x', '::1', '']) assert.equal(splitHost(bad), null, bad);
  assert.deepEqual(parseAllowedHosts(['a.lan, b.lan:9000', '[::1]:1']), [{ name: 'a.lan', port: null }, { name: 'b.lan', port: 9000 }, { name: '[::1]', port: 1 }]);
  assert.throws(() => parseAllowedHosts(['..evil']), /--allowed-host "\.\.evil": expected a host name/);
  const o = { loopbackOnly: true, allowed: parseAllowedHosts(['b.lan:9000']), port: 8080 };
  for (const h of ['localhost', 'localhost:8080', '127.0.0.1:8080', '127.255.0.9', '[::1]:8080', 'b.lan:9000']) assert.equal(hostRefusal(h, o), null, h);
  for (const h of ['localhost:8081', 'b.lan', 'b.lan:8080', '128.0.0.1', '[::2]', '0.0.0.0:8080', 'localhost.evil']) assert.match(hostRefusal(h, o) ?? '', /is not allowed/, h);
  assert.match(hostRefusal(undefined, o) ?? '', /^no Host header: /);
  assert.equal(hostRefusal('evil.example', { ...o, loopbackOnly: false }), null);
  assert.equal(hostRefusal('localhost:1', { ...o, port: null }), null); // port unknown (inject): names only
  assert.equal(crossOriginRefusal('GET', { host: 'localhost:8080', origin: 'http://evil.example', secFetchSite: 'cross-site' }), null);
  assert.equal(crossOriginRefusal('POST', { host: 'localhost:8080' }), null);
  assert.equal(crossOriginRefusal('POST', { host: 'localhost', origin: 'http://localhost' }), null);
  assert.equal(crossOriginRefusal('POST', { host: 'x.lan', origin: 'https://x.lan' }), null); // behind a TLS proxy: default ports
  assert.equal(crossOriginRefusal('delete', { host: 'localhost:8080', origin: 'http://localhost:8080', secFetchSite: 'same-origin' }), null);
  for (const [method, h] of [
    ['POST', { host: 'localhost:8080', origin: 'http://localhost:8081' }], ['PUT', { host: 'localhost:80', origin: 'https://localhost' }],
    ['DELETE', { host: 'localhost:8080', origin: 'null' }], ['PATCH', { host: 'localhost:8080', origin: 'not a url' }],
    ['POST', { host: 'localhost:8080', secFetchSite: 'cross-site' }], ['POST', { origin: 'http://localhost' }],
  ] as const) assert.match(crossOriginRefusal(method, h) ?? '', /^cross-(origin|site) /, `${method} ${JSON.stringify(h)}`);
});
