// The index, search, grade and serve commands through a commander program (the lead wires them
// into src/cli/main.ts): an index rebuilt by the CLI equals the fixture's, the search table, the
// grade bars with and without calibration, and precise errors.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { EmbeddingIndex } from '../../src/index/index.js';
import { readSidecar } from '../../src/serve/sidecar.js';
import { register as registerIndex } from '../../src/cli/commands/index.js';
import { register as registerSearch } from '../../src/cli/commands/search.js';
import { register as registerGrade } from '../../src/cli/commands/grade.js';
import { register as registerServe } from '../../src/cli/commands/serve.js';
import { serveFixture, type ServeFixture } from './fixture.js';

let fx: ServeFixture;
const tmp = mkdtempSync(join(tmpdir(), 'retalign-serve-cli-'));
before(async () => {
  fx = await serveFixture();
});
after(() => rmSync(tmp, { recursive: true, force: true }));

/** Runs the CLI on argv; returns what it printed. */
async function cli(argv: string[]): Promise<string> {
  const program = new Command().exitOverride();
  for (const r of [registerIndex, registerSearch, registerGrade, registerServe]) r(program);
  const out: string[] = [];
  const log = console.log;
  console.log = (...a: unknown[]) => void out.push(a.map(String).join(' '));
  try {
    await program.parseAsync(argv, { from: 'user' });
  } finally {
    console.log = log;
  }
  return out.join('\n');
}

test('index build: every image and note, metadata, no calibration on too few validation exams; vectors equal the fixture index', async () => {
  const out = join(tmp, 'ix');
  const text = await cli(['index', 'build', '--checkpoint', fx.checkpoint, '--out', out]);
  assert.match(text, /indexed 45 images and 45 notes into/);
  // 10 graded validation exams are too few for a temperature fit: no calibration, and it says why.
  assert.match(text, /^calibration: skipped \(10 graded validation exams; at least 30 are needed for a temperature fit, so grades will be uncalibrated\)$/m);
  const s = readSidecar(out);
  const ref = readSidecar(fx.index);
  assert.equal(s.checkpointId, ref.checkpointId);
  assert.equal(s.dataPath, fx.dataPath);
  assert.deepEqual(s.counts, { images: 45, notes: 45, withoutImagePath: 0 });
  assert.equal(s.calibration, null);
  assert.match(s.calibrationSkipped ?? '', /^10 graded validation exams; at least 30 are needed/);
  assert.equal(ref.calibration?.minExams, 10); // the fixture lowered the minimum, and serve.json says so
  assert.match(await cli(['grade', '--checkpoint', fx.checkpoint, '--index', out, fx.sampleImage]),
    /UNCALIBRATED \(raw softmax: 10 graded validation exams; at least 30 are needed for a temperature fit/);
  const [a, b] = [EmbeddingIndex.open(out), EmbeddingIndex.open(fx.index)];
  try {
    assert.equal(a.size, 90);
    const ia = a.get(fx.sampleId, 'image')!;
    assert.deepEqual(ia.vector, b.get(fx.sampleId, 'image')!.vector);
    assert.equal(ia.meta.imagePath, `fundus_photos/${fx.sampleId}.jpg`);
    assert.ok(existsSync(join(fx.dataPath, ia.meta.imagePath!)));
    assert.equal(typeof ia.meta.note, 'string');
    assert.equal(a.get(fx.sampleId, 'note')!.meta.note, ia.meta.note);
    assert.ok(['train', 'val', 'test'].includes(ia.meta.extras['split'] as string));
  } finally {
    a.close();
    b.close();
  }
  await assert.rejects(cli(['index', 'build', '--checkpoint', fx.checkpoint, '--out', out]), /already holds an index \(meta\.sqlite\); choose an empty folder/);
});

test('search: a ranked table of cases', async () => {
  const text = await cli(['search', '--index', fx.index, '-k', '3', 'microaneurysms and dot haemorrhages']);
  const lines = text.split('\n');
  assert.match(lines[0]!, /^rank {2}score +imageId {3}ICDR {2}SDRG {2}note$/); // imageIds are 8 wide
  assert.match(lines[1]!, /^-{4} {2}-{5,6} {2}-{8} {2}-{4} {2}-{4} {2}-+$/);
  assert.equal(lines.length, 5);
  assert.match(lines[2]!, /^1 +-?0\.\d{3} {2}img\d{5} {2}[0-4] {5}[0-4] {5}\S/);
  const json = JSON.parse(await cli(['search', '--index', fx.index, '-k', '2', '--json', 'laser scars'])) as { rank: number; score: number }[];
  assert.deepEqual(json.map((h) => h.rank), [1, 2]);
  await assert.rejects(cli(['search', '--index', fx.index, '-k', '0', 'x']), /-k must be an integer in \[1, 1000\], got 0/);
});

test('grade: bars on both scales, the referable flag, calibrated confidence (or a clear UNCALIBRATED)', async () => {
  const text = await cli(['grade', '--checkpoint', fx.checkpoint, '--index', fx.index, fx.sampleImage, '--note', 'hard exudates', '--field', 'age=61', '--field', 'insulin=yes']);
  assert.match(text, /inputs: image \+ note \+ fields \(patient_age, insulin\)/);
  for (const title of ['ICDR', 'SDRG']) assert.match(text, new RegExp(`^${title}$`, 'm'));
  const bars = text.split('\n').filter((l) => /^ {2}[0-4] .*[█░]{24} \d\.\d{3}/.test(l));
  assert.equal(bars.length, 10);
  assert.equal(text.split('\n').filter((l) => l.endsWith('<-')).length, 2);
  assert.match(text, /^referable DR \(ICDR >= 2\): (YES|no) {2}\(P = \d\.\d{3}, threshold 0\.5\)$/m);
  assert.match(text, /calibrated \(temperatures ICDR \d+\.\d{3}, SDRG \d+\.\d{3}, fitted on the validation split\)/);
  const raw = await cli(['grade', '--checkpoint', fx.checkpoint, fx.sampleImage]);
  assert.match(raw, /inputs: image$/m);
  assert.match(raw, /UNCALIBRATED \(raw softmax: pass --index DIR/);
  const j = JSON.parse(await cli(['grade', '--checkpoint', fx.checkpoint, '--json', fx.sampleImage])) as { icdr: { probabilities: number[] } };
  assert.equal(j.icdr.probabilities.length, 5);

  await assert.rejects(cli(['grade', '--checkpoint', fx.checkpoint, fx.sampleImage, '--field', 'age=200']), /field age \(patient_age\): "200" is not valid; expected a number of years in \[0, 120\]/);
  await assert.rejects(cli(['grade', '--checkpoint', fx.checkpoint, fx.sampleImage, '--field', 'age']), /--field "age": expected name=value/);
  const txt = join(tmp, 'notes.jpg');
  writeFileSync(txt, 'not a photo\n');
  await assert.rejects(cli(['grade', '--checkpoint', fx.checkpoint, txt]), /notes\.jpg: the file holds text, not a JPEG, PNG, WebP or TIFF image/);
});

test('serve: refuses a non-loopback host without a token before loading anything; checks the token file and --allowed-host', async () => {
  await assert.rejects(cli(['serve', '--checkpoint', '/nonexistent', '--index', '/nonexistent', '--host', '0.0.0.0']), /refusing to listen on 0\.0\.0\.0 without authentication/);
  const short = join(tmp, 'token');
  writeFileSync(short, 'abc\n', { mode: 0o600 });
  await assert.rejects(cli(['serve', '--checkpoint', '/x', '--index', '/x', '--token-file', short]), /the token has 3 characters; expected at least 16/);
  await assert.rejects(cli(['serve', '--checkpoint', '/x', '--index', '/x', '--port', '70000']), /--port must be an integer in \[0, 65535\], got "70000"/);
  await assert.rejects(cli(['serve', '--checkpoint', '/x', '--index', '/x', '--allowed-host', 'retina.lan', '--allowed-host', 'ok.lan,http://x/']),
    /--allowed-host "http:\/\/x\/": expected a host name or address with an optional port/);
});

test('serve: --max-batch and --batch-window-ms reach the server (/v1/info batching); out-of-range values are refused', async () => {
  await assert.rejects(cli(['serve', '--checkpoint', '/x', '--index', '/x', '--max-batch', '0']), /--max-batch must be an integer in \[1, 256\], got "0"/);
  await assert.rejects(cli(['serve', '--checkpoint', '/x', '--index', '/x', '--batch-window-ms', '1.5']), /--batch-window-ms must be an integer in \[0, 1000\], got "1.5"/);
  const port = await new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a !== null ? a.port : 0));
    });
  });
  const running = cli(['serve', '--checkpoint', fx.checkpoint, '--index', fx.index, '--port', String(port), '--max-batch', '3', '--batch-window-ms', '7']);
  try {
    let info: { batching?: unknown } | null = null;
    for (let i = 0; i < 600 && info === null; i++) {
      info = await fetch(`http://127.0.0.1:${port}/v1/info`).then((r) => r.json() as Promise<{ batching?: unknown }>, () => null);
      if (info === null) await new Promise((r) => setTimeout(r, 100));
    }
    assert.deepEqual(info?.batching, { maxBatch: 3, batchWindowMs: 7 });
  } finally {
    process.emit('SIGINT'); // the command's own handler closes the server
  }
  assert.match(await running, /retalign serving .* at http:\/\/127\.0\.0\.1:\d+\//);
});
