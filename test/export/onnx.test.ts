// ONNX export: the tiny trained serve fixture exported from its own recorded forward pass, run by
// onnxruntime-node on 16 twin photos prepared by the server's preprocessing; grades, embeddings and
// the attention rollout equal retalign's within 1e-4. Also: every modality exported and fed; the
// metadata; refusals that name the op; the op tables untouched outside a trace; conv stems and the
// CLIP baseline (random weights) exported the same way.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../src/cli/main.js';
import * as ort from 'onnxruntime-node';
import { Tensor, noGrad, tidy, traceOps, dropout } from '../../src/tensor/index.js';
import { TENSOR_OPS } from '../../src/tensor/tensor.js';
import { loadRun, type LoadedRun } from '../../src/run/index.js';
import { ServeEngine, UNCALIBRATED, type PreparedImage } from '../../src/serve/engine.js';
import { exportOnnx, parseParts, sourceOf, type OnnxMeta } from '../../src/export/onnx.js';
import { traceToGraph, UnsupportedOpError } from '../../src/export/onnx-graph.js';
import { decodeModel } from '../../src/export/onnx-proto.js';
import { serveFixture, type ServeFixture } from '../serve/fixture.js';
import { manualSeed } from '../../src/tensor/index.js';
import { buildModel, resolveConfig } from '../../src/models/index.js';
import { presetsDir } from '../../src/models/presets.js';
import { Tokenizer } from '../../src/data/tokenizer/tokenizer.js';
import { buildVocab } from '../../src/data/tokenizer/builder.js';
import { resolveImageConfig } from '../../src/data/images/config.js';
import { resolveNoteOptions } from '../../src/data/notes/builder.js';

let fx: ServeFixture;
let run: LoadedRun;
let engine: ServeEngine;
let photos: PreparedImage[];
const TOL = 1e-4;

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length, 'lengths differ');
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs((a[i] as number) - (b[i] as number)));
  return m;
}

before(async () => {
  fx = await serveFixture();
  run = loadRun(fx.checkpoint);
  engine = new ServeEngine(sourceOf(run), { ...UNCALIBRATED });
  const dir = join(fx.dataPath, 'fundus_photos');
  const files = readdirSync(dir).filter((f) => f.endsWith('.jpg')).sort().slice(0, 16);
  assert.equal(files.length, 16, `fewer than 16 photos in ${dir}`);
  photos = await Promise.all(files.map((f) => engine.prepareImage(readFileSync(join(dir, f)), f)));
});

test('the photo-only export (opset 17, float32, metadata) grades 16 twin photos as retalign does, within 1e-4', async (t) => {
  const { bytes, meta } = exportOnnx(sourceOf(run), { parts: parseParts('image,fusion,heads,attention') });
  const m = decodeModel(bytes);
  assert.deepEqual(m.opsetImport.map((o) => [o.domain, o.version]), [['', 17]]);
  assert.deepEqual(m.graph.input.map((i) => [i.name, i.type.tensorType.elemType]), [['image', 1]]);
  assert.deepEqual(m.graph.output.map((o) => o.name), ['icdr_logits', 'sdrg_logits', 'icdr_probs', 'sdrg_probs', 'image_embedding', 'attention']);
  assert.ok(m.graph.initializer.every((t) => t.dataType !== 11), 'no float64 weights');
  const stored = JSON.parse(m.metadataProps.find((p) => p.key === 'retalign')?.value ?? 'null') as OnnxMeta;
  assert.deepEqual(stored, meta);
  assert.equal(stored.checkpointId, run.checkpointId);
  assert.deepEqual(stored.preprocessing.mean, run.pre.image.mean);
  assert.equal(stored.preprocessing.size, run.pre.image.size);
  assert.equal(stored.grid, run.modelConfig.image.imageSize / run.modelConfig.image.patchSize);

  const session = await ort.InferenceSession.create(bytes);
  const S = run.pre.image.size;
  let worst = { probs: 0, logits: 0, emb: 0, att: 0 };
  for (const p of photos) {
    const r = await session.run({ image: new ort.Tensor('float32', p.chw, [1, 3, S, S]) });
    const g = engine.grade({ image: p }, { attention: true });
    // The logits too: a barely trained model's probabilities sit near 1/5 whatever a wrong op does to them.
    const logits = noGrad(() => tidy(() => {
      const o = run.model.forward({
        images: Tensor.from(p.chw, [1, 3, S, S]), tokenIds: null, attentionMask: null, tabular: null, icdr: null, sdrg: null,
        present: Tensor.from([true, false, false], [1, 3], 'bool'), noteGroup: new Int32Array(1), size: 1,
      }, { training: false, maeMaskRatio: 0, mlmProb: 0 });
      return [...(o.icdrLogits as Tensor).toFloat32(), ...(o.sdrgLogits as Tensor).toFloat32()];
    }));
    worst = {
      probs: Math.max(worst.probs, maxDiff(r['icdr_probs']?.data as Float32Array, g.icdr.probabilities), maxDiff(r['sdrg_probs']?.data as Float32Array, g.sdrg.probabilities)),
      logits: Math.max(worst.logits, maxDiff([...(r['icdr_logits']?.data as Float32Array), ...(r['sdrg_logits']?.data as Float32Array)], logits)),
      emb: Math.max(worst.emb, maxDiff(r['image_embedding']?.data as Float32Array, g.imageEmb)),
      att: Math.max(worst.att, maxDiff(r['attention']?.data as Float32Array, g.attention?.weights ?? [])),
    };
  }
  t.diagnostic(`largest differences over 16 photos: ${JSON.stringify(worst)}`);
  assert.ok(worst.probs <= TOL && worst.logits <= TOL && worst.emb <= TOL && worst.att <= TOL, `largest differences ${JSON.stringify(worst)} (tolerance ${TOL})`);
  await session.release();
});

test('with every modality exported, a photo + note + patient record grades as the server grades it', async () => {
  const { bytes, meta } = exportOnnx(sourceOf(run), { parts: parseParts('image,text,tabular,fusion,heads') });
  assert.deepEqual(meta.inputs, ['image', 'token_ids', 'attention_mask', 'tabular', 'present']);
  const session = await ort.InferenceSession.create(bytes);
  const S = run.pre.image.size;
  const note = 'Scattered microaneurysms and dot haemorrhages in the upper temporal quadrant.';
  const fields = { patient_age: 61, patient_sex: 'female' };
  const enc = engine.tokenizer.encodeBatch([note], { maxLength: run.pre.maxTokens, padding: 'max' });
  const tab = engine.featurizer?.transform({
    imageId: 'q', patientId: 'q', imagePath: '', eye: 'unknown', fields,
    labels: { icdr: null, sdrg: null, diabeticRetinopathy: null, macularEdema: null, flags: {} },
  });
  assert.ok(tab !== undefined, 'the fixture has a tabular featurizer');
  const big = (a: ArrayLike<number>): BigInt64Array => BigInt64Array.from(Array.from(a), (x) => BigInt(x));
  for (const [p, withNote, withFields] of [[photos[0], true, true], [photos[1], true, false], [photos[2], false, true], [photos[3], false, false]] as const) {
    const r = await session.run({
      image: new ort.Tensor('float32', (p as PreparedImage).chw, [1, 3, S, S]),
      token_ids: new ort.Tensor('int64', big(enc.inputIds), [1, run.pre.maxTokens]),
      attention_mask: new ort.Tensor('int64', big(enc.attentionMask), [1, run.pre.maxTokens]),
      tabular: new ort.Tensor('float32', tab, [1, tab.length]),
      present: new ort.Tensor('bool', Uint8Array.from([1, withNote ? 1 : 0, withFields ? 1 : 0]), [1, 3]),
    });
    const g = engine.grade({ image: p as PreparedImage, ...(withNote ? { note } : {}), ...(withFields ? { fields } : {}) }, { attention: false });
    const d = Math.max(maxDiff(r['icdr_probs']?.data as Float32Array, g.icdr.probabilities), maxDiff(r['sdrg_probs']?.data as Float32Array, g.sdrg.probabilities));
    assert.ok(d <= TOL, `note ${withNote}, fields ${withFields}: probabilities differ by ${d}`);
  }
  await session.release();
});

test('retalign export onnx writes the parts asked for; a bad part is refused with the valid ones', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'retalign-onnx-'));
  try {
    const out = join(dir, 'sub', 'model.onnx');
    await main(['export', 'onnx', '--checkpoint', fx.checkpoint, '--index', fx.index, '--out', out, '--parts', 'image,fusion,heads']);
    const m = decodeModel(readFileSync(out));
    assert.deepEqual(m.graph.output.map((o) => o.name), ['icdr_logits', 'sdrg_logits', 'icdr_probs', 'sdrg_probs', 'image_embedding']);
    const meta = JSON.parse(m.metadataProps.find((p) => p.key === 'retalign')?.value ?? 'null') as OnnxMeta;
    assert.equal(meta.temperatures.fitted, true, 'the index\'s temperatures are in the metadata');
    await assert.rejects(main(['export', 'onnx', '--checkpoint', fx.checkpoint, '--out', out, '--parts', 'image,heatmap']), /unknown part 'heatmap'; valid parts:/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the exporter refuses what ONNX cannot express here, naming the op', () => {
  noGrad(() => tidy(() => {
    const x = Tensor.from([1, 2, 3, 4], [2, 2]);
    const finite = traceOps({ x }, [], () => ({ y: x.mul(2).isfinite() }));
    assert.throws(() => traceToGraph(finite, 'g'), (e: Error) => e instanceof UnsupportedOpError && /op 'isfinite' has no ONNX form/.test(e.message));
    const drop = traceOps({ x }, [], () => ({ y: dropout(x.add(1), 0.5, true) }));
    assert.throws(() => traceToGraph(drop, 'g'), /op 'dropout' runs in training mode/);
    assert.throws(() => traceOps({ x }, [], () => ({ y: x.add(x.sum().item()) })), /read a value computed from its inputs back into JavaScript \('item'/);
    assert.throws(() => traceOps({ x }, [], () => ({ y: x.clone().fill_(0) })), /op 'fillInit' \(in place, or autograd\) ran during the trace/);
    const w = Tensor.from([1, 2], [2]); // neither an input nor a named constant
    assert.throws(() => traceOps({ x }, [], () => ({ y: x.add(w) })), /op 'add' used a tensor of shape \[2\] that is neither a traced input/);
  }));
  assert.throws(() => exportOnnx(sourceOf(run), { parts: parseParts('image,heads') }), /'heads' and 'fusion' go together/);
  assert.throws(() => parseParts('image,vision'), /unknown part 'vision'; valid parts: image, text, tabular, fusion, heads, attention/);
});

test('outside a trace the op tables hold the addon functions themselves (no recording cost)', () => {
  const before = { ...TENSOR_OPS };
  noGrad(() => tidy(() => {
    const x = Tensor.from([1, 2], [2]);
    traceOps({ x }, [], () => ({ y: x.exp() }));
  }));
  for (const [k, f] of Object.entries(before)) assert.equal(TENSOR_OPS[k], f, `TENSOR_OPS.${k} was not restored`);
});

test('other towers export the same way: conv stems (LayerNorm, GroupNorm, BatchNorm) and the CLIP baseline, random weights, within 1e-4', async () => {
  const tiny = JSON.parse(readFileSync(join(presetsDir(), 'tiny.json'), 'utf8')) as { image: Record<string, unknown> } & Record<string, unknown>;
  const tokenizer = new Tokenizer(buildVocab(['dot haemorrhages', 'new vessels'], { size: 200, lowercase: true, minFrequency: 1 }), { lowercase: true, maxLength: 16 });
  const variants: [string, Record<string, unknown>][] = [
    ['conv-layer', { ...tiny, image: { ...tiny.image, stem: 'conv', stemNorm: 'layer' } }],
    ['conv-group', { ...tiny, image: { ...tiny.image, stem: 'conv', stemNorm: 'group' } }],
    ['conv-batch', { ...tiny, image: { ...tiny.image, stem: 'conv', stemNorm: 'batch' } }], // running statistics: buffers
    ['clip', { ...tiny, architecture: 'clip' }],
  ];
  for (const [name, json] of variants) {
    manualSeed(3);
    const config = resolveConfig(json, name);
    const model = buildModel(config, { vocabSize: tokenizer.vocabSize, tabularDim: 4, specialIds: tokenizer });
    const S = config.image.imageSize;
    const src = {
      model, checkpointId: name, name: `test/${name}`,
      pre: { tokenizer: tokenizer.toJSON(), tabular: null, maxTokens: 16, image: resolveImageConfig({ size: S }), notes: { ...resolveNoteOptions({}), templateHoldout: false } },
    };
    const { bytes, meta } = exportOnnx(src);
    assert.deepEqual(meta.outputs, name === 'clip' ? ['image_embedding', 'attention'] : ['icdr_logits', 'sdrg_logits', 'icdr_probs', 'sdrg_probs', 'image_embedding', 'attention']);
    const session = await ort.InferenceSession.create(bytes);
    let worst = 0;
    for (let k = 0; k < 3; k++) {
      const x = noGrad(() => tidy(() => Tensor.randn([1, 3, S, S]).toFloat32()));
      const r = await session.run({ image: new ort.Tensor('float32', x, [1, 3, S, S]) });
      const ref = noGrad(() => tidy(() => {
        const img = Tensor.from(x, [1, 3, S, S]);
        const o = model.forward({
          images: img, tokenIds: null, attentionMask: null, tabular: null, icdr: null, sdrg: null,
          present: Tensor.from([true, false, false], [1, 3], 'bool'), noteGroup: new Int32Array(1), size: 1,
        }, { training: false, maeMaskRatio: 0, mlmProb: 0 });
        return { icdr: o.icdrLogits?.toFloat32() ?? null, emb: (o.imageEmb as Tensor).toFloat32(), att: model.imageAttention(img).toFloat32() };
      }));
      worst = Math.max(worst, maxDiff(r['image_embedding']?.data as Float32Array, ref.emb), maxDiff(r['attention']?.data as Float32Array, ref.att));
      if (ref.icdr !== null) worst = Math.max(worst, maxDiff(r['icdr_logits']?.data as Float32Array, ref.icdr));
    }
    assert.ok(worst <= TOL, `${name}: largest difference ${worst}`);
    await session.release();
    model.dispose();
  }
});
