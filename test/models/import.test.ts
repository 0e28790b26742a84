// Weight import against tiny Hugging Face / timm style checkpoints written by real torch, with
// reference outputs computed in Python from the published architectures (make_hf_tiny.py).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { manualSeed, Tensor, tidy } from '../../src/tensor/index.js';
import { readTorchStateDict, writeSafetensors, type RawTensor } from '../../src/tensor/io/index.js';
import { resolveConfig } from '../../src/models/config.js';
import { buildModel } from '../../src/models/build.js';
import { Kemt } from '../../src/models/kemt.js';
import { loadPreset } from '../../src/models/presets.js';
import { VisionTransformer } from '../../src/models/vit.js';
import { loadBertFolder, loadPretrainedImage, loadPretrainedText, vitFromHf, vitFromTimm } from '../../src/models/import/index.js';

const PYTHON = '/usr/bin/python3';
const tiny = loadPreset('tiny');

function generator(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const p = join(dir, 'test', 'fixtures', 'make_hf_tiny.py');
    if (existsSync(p)) return p;
    dir = dirname(dir);
  }
  throw new Error('cannot find test/fixtures/make_hf_tiny.py');
}

let dir = '';
let expected = new Map<string, RawTensor>();

before(() => {
  if (!existsSync(PYTHON)) throw new Error(`${PYTHON} is missing: these tests need Debian's python3 with torch (apt-get install python3-torch)`);
  dir = mkdtempSync(join(tmpdir(), 'retalign-hf-tiny-'));
  const r = spawnSync(PYTHON, [generator(), dir], { encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0) throw new Error(`make_hf_tiny.py failed (status ${r.status}, ${r.error?.message ?? ''}): ${r.stderr}`);
  expected = readTorchStateDict(join(dir, 'expected.bin'));
});
after(() => {
  if (dir !== '') rmSync(dir, { recursive: true, force: true });
});

/** An expected tensor as an engine tensor (float64 references cast to float32 inputs where asked). */
function exp(key: string, dtype?: 'float32'): Tensor {
  const t = expected.get(key);
  assert.ok(t, `expected.bin has no '${key}'`);
  const x = Tensor.from(t.data, t.shape, t.dtype);
  return dtype === undefined ? x : x.to(dtype);
}

function assertClose(got: Tensor, key: string, tol: number): void {
  const want = expected.get(key);
  assert.ok(want, key);
  assert.deepEqual(got.shape, want.shape, `${key}: shape`);
  const g = got.toNumbers();
  let worst = 0;
  Array.from(want.data as Float64Array).forEach((w, i) => (worst = Math.max(worst, Math.abs(w - (g[i] as number)))));
  assert.ok(worst <= tol, `${key}: max |diff| ${worst} > ${tol}`);
}

describe('ViT weight import', () => {
  it('Hugging Face ViTForImageClassification names: outputs and attention rollout match the reference', () => {
    const { tensors, ignored } = vitFromHf(readTorchStateDict(join(dir, 'vit_hf.bin')));
    assert.deepEqual(ignored.sort(), ['classifier.bias', 'classifier.weight', 'pooler.dense.bias', 'pooler.dense.weight']);
    const vit = new VisionTransformer({ ...tiny.image, layerNormEps: 1e-12 }).eval();
    vit.loadStateDict(tensors, { source: 'vit_hf.bin' });
    const images = exp('images', 'float32');
    tidy(() => assertClose(vit.forward(images), 'vit_hf.out', 1e-4));
    tidy(() => assertClose(vit.attentionRollout(images), 'vit_hf.rollout', 1e-5));
    vit.dispose();
  });

  it('timm names with the fused qkv split: outputs match the reference', () => {
    const { tensors, ignored } = vitFromTimm(readTorchStateDict(join(dir, 'vit_timm.bin')));
    assert.deepEqual(ignored.sort(), ['head.bias', 'head.weight']);
    const vit = new VisionTransformer({ ...tiny.image, layerNormEps: 1e-6 }).eval();
    vit.loadStateDict(tensors, { source: 'vit_timm.bin' });
    tidy(() => assertClose(vit.forward(exp('images', 'float32')), 'vit_timm.out', 1e-4));
    vit.dispose();
  });

  it('loadPretrainedImage fills a Kemt image tower; wrong depth or names fail precisely', () => {
    const cfg = resolveConfig({ ...tiny, image: { ...tiny.image, layerNormEps: 1e-12 } }, 'tiny-hf');
    manualSeed(0);
    const model = buildModel(cfg, { vocabSize: 50, tabularDim: 4 });
    const ignored = loadPretrainedImage(model, join(dir, 'vit_hf.bin'), 'hf');
    assert.equal(ignored.length, 4);
    tidy(() => assertClose(model.image.forward(exp('images', 'float32')), 'vit_hf.out', 1e-4));
    model.dispose();

    const shallow = new VisionTransformer({ ...tiny.image, layers: 1 });
    assert.throws(() => shallow.loadStateDict(vitFromHf(readTorchStateDict(join(dir, 'vit_hf.bin'))).tensors, { source: 'vit_hf.bin' }),
      /VisionTransformer\.loadStateDict from vit_hf\.bin:\n {2}unexpected keys \(16\): blocks\.1\.attn\.query\.weight/);
    shallow.dispose();
    assert.throws(() => vitFromTimm(readTorchStateDict(join(dir, 'vit_hf.bin'))), /timm ViT state dict: \d+ unrecognized keys: vit\.embeddings/);
  });
});

describe('BERT folder import', () => {
  function textModel(): Kemt {
    const f = loadBertFolder(join(dir, 'bert'));
    const cfg = resolveConfig({ ...tiny, text: f.config }, 'tiny-bert');
    manualSeed(0);
    const m = buildModel(cfg, { vocabSize: f.config.vocabSize as number, tabularDim: 4 });
    assert.ok(m instanceof Kemt);
    return m.eval();
  }

  function checkOutputs(m: Kemt): void {
    tidy(() => {
      const ids = exp('bert.ids');
      const mask = exp('bert.mask');
      const h = m.text.forward(ids, mask);
      assertClose(h, 'bert.out', 1e-4);
      assertClose(m.mlmHead.forward(h, m.text.embeddings.word.weight), 'bert.mlm', 1e-4);
    });
  }

  it('reads config.json, vocab.txt and pytorch_model.bin (legacy gamma/beta, tied decoder, NSP dropped)', () => {
    const f = loadBertFolder(join(dir, 'bert'));
    assert.deepEqual(f.config, {
      vocabSize: 50, width: 32, layers: 2, heads: 2, mlpDim: 64, maxPositions: 40, typeVocabSize: 2,
      layerNormEps: 1e-12, dropout: 0.1, attnDropout: 0.1, pooling: 'cls',
    });
    assert.match(f.weightsPath, /pytorch_model\.bin$/);
    assert.deepEqual(f.ignored.sort(), [
      'cls.predictions.decoder.weight', 'cls.seq_relationship.bias', 'cls.seq_relationship.weight',
      'embeddings.position_ids', 'pooler.dense.bias', 'pooler.dense.weight',
    ]);
    assert.deepEqual([...(f.mlmHead?.keys() ?? [])].sort(), ['bias', 'norm.bias', 'norm.weight', 'transform.bias', 'transform.weight']);
    const m = textModel();
    assert.deepEqual(loadPretrainedText(m, join(dir, 'bert')).length, 6);
    checkOutputs(m);
    m.dispose();
  });

  it('reads model.safetensors when present instead of the .bin', () => {
    const st = join(dir, 'bert-st');
    mkdirSync(st, { recursive: true });
    copyFileSync(join(dir, 'bert', 'config.json'), join(st, 'config.json'));
    copyFileSync(join(dir, 'bert', 'vocab.txt'), join(st, 'vocab.txt'));
    writeSafetensors(join(st, 'model.safetensors'), readTorchStateDict(join(dir, 'bert', 'pytorch_model.bin')));
    assert.match(loadBertFolder(st).weightsPath, /model\.safetensors$/);
    const m = textModel();
    loadPretrainedText(m, st);
    checkOutputs(m);
    m.dispose();
  });

  it('a config mismatch or a missing file is an error naming what differs or what was looked for', () => {
    manualSeed(0);
    const m = buildModel(tiny, { vocabSize: 50, tabularDim: 4 });
    assert.throws(() => loadPretrainedText(m, join(dir, 'bert')), /config\.json does not match the model's text config:\n {2}maxPositions: model 64, checkpoint 40/);
    m.dispose();
    const empty = join(dir, 'empty');
    mkdirSync(empty, { recursive: true });
    assert.throws(() => loadBertFolder(empty),
      /BERT folder .*empty is missing config\.json, vocab\.txt, model\.safetensors or pytorch_model\.bin; expected .*nothing is downloaded/);
    assert.throws(() => loadBertFolder(join(dir, 'nope')), /BERT folder .*nope does not exist/);
  });
});
