// Model config: defaults, validation messages, presets; the paper preset is exactly ViT-B/16.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_CONFIG, resolveConfig } from '../../src/models/config.js';
import { loadPreset, presetNames } from '../../src/models/presets.js';
import { VisionTransformer } from '../../src/models/vit.js';

describe('model config', () => {
  it('fills every missing field from the paper defaults', () => {
    const c = resolveConfig({ name: 'x', image: { layers: 3 } }, 'inline');
    assert.equal(c.name, 'x');
    assert.equal(c.image.layers, 3);
    assert.deepEqual({ ...c, name: 'paper', image: { ...c.image, layers: 12 } }, DEFAULT_CONFIG);
  });

  it('rejects unknown keys, naming the valid ones', () => {
    assert.throws(() => resolveConfig({ imgae: {} }, 'a.json'),
      /a\.json: unknown key 'imgae'; valid keys: name, architecture, embedDim, logitScaleInit, image, text, tabular, fusion, mae/);
    assert.throws(() => resolveConfig({ text: { hidden: 3 } }, 'b.json'),
      /b\.json: unknown key 'text\.hidden'; valid keys of 'text': vocabSize, width, layers, heads, mlpDim, maxPositions, typeVocabSize, layerNormEps, dropout, attnDropout/);
  });

  it('rejects bad values with the field, the value and what was expected', () => {
    assert.throws(() => resolveConfig({ image: { width: 0 } }, 'c'), /c: 'image\.width' must be an integer >= 1, got 0/);
    assert.throws(() => resolveConfig({ fusion: { dropout: 1 } }, 'c'), /c: 'fusion\.dropout' must be a number in \[0, 1\), got 1/);
    assert.throws(() => resolveConfig({ architecture: 'bert' }, 'c'), /c: 'architecture' must be 'kemt' or 'clip', got "bert"/);
    assert.throws(() => resolveConfig({ image: { stem: 'pixel' } }, 'c'), /c: 'image\.stem' must be 'patch' or 'conv', got "pixel"/);
    assert.throws(() => resolveConfig({ text: { vocabSize: 0 } }, 'c'), /c: 'text\.vocabSize' must be an integer >= 1, or null \(from the tokenizer\), got 0/);
    assert.throws(() => resolveConfig({ image: [] }, 'c'), /c: 'image' must be an object \{imageSize, patchSize, stem,/);
    assert.throws(() => resolveConfig({ image: { width: 100, heads: 12 } }, 'c'), /image\.width 100 is not divisible by image\.heads 12/);
    assert.throws(() => resolveConfig({ image: { imageSize: 100 } }, 'c'), /image\.imageSize 100 is not a multiple of image\.patchSize 16/);
    assert.throws(() => resolveConfig({ image: { mean: [0.5, 0.5] } }, 'c'), /'image\.mean' must be a list of 3 numbers, got \[0\.5,0\.5\]/);
    assert.throws(() => resolveConfig({ image: { stem: 'conv', patchSize: 12, imageSize: 96 } }, 'c'), /image\.patchSize 12 must be a power of 2 with image\.stem 'conv'/);
    assert.throws(() => resolveConfig([], 'c'), /c: a model config must be a JSON object, got \[\]/);
  });

  it('ships tiny, small and paper presets, all valid', () => {
    assert.deepEqual(presetNames().filter((n) => ['tiny', 'small', 'paper'].includes(n)), ['paper', 'small', 'tiny']);
    const tiny = loadPreset('tiny');
    assert.equal(tiny.text.vocabSize, null, 'tiny takes its vocab from the data');
    assert.equal(tiny.image.imageSize / tiny.image.patchSize, 4);
    const small = loadPreset('small');
    assert.equal(small.image.imageSize, 96);
    assert.equal(small.image.width, 192);
  });

  it('paper preset = ViT-B/16 at 224 px + BERT-base with the Bio_ClinicalBERT vocab', () => {
    const p = loadPreset('paper');
    assert.deepEqual(
      { ...p.image, mean: undefined, std: undefined },
      { imageSize: 224, patchSize: 16, stem: 'patch', stemNorm: 'layer', pooling: 'cls', channels: 3, width: 768, layers: 12, heads: 12, mlpDim: 3072, layerNormEps: 1e-12, dropout: 0, attnDropout: 0, mean: undefined, std: undefined },
    );
    assert.deepEqual(p.text, {
      vocabSize: 28996, width: 768, layers: 12, heads: 12, mlpDim: 3072, maxPositions: 512, typeVocabSize: 2,
      layerNormEps: 1e-12, dropout: 0.1, attnDropout: 0.1, pooling: 'cls',
    });
    assert.equal(p.fusion.layers, 2);
    assert.equal(p.fusion.width, 256);
    // Hugging Face ViTModel(add_pooling_layer=False) for vit-base-patch16-224 has 85,798,656
    // parameters, 7,087,872 per block; one block keeps the test fast: 85,798,656 - 11 * 7,087,872.
    const vit = new VisionTransformer({ ...p.image, layers: 1 });
    assert.equal(vit.numParameters(), 85_798_656 - 11 * 7_087_872);
    vit.dispose();
  });

  it('loads a config by path and names unknown presets', () => {
    const dir = mkdtempSync(join(tmpdir(), 'retalign-cfg-'));
    try {
      const f = join(dir, 'mine.json');
      writeFileSync(f, JSON.stringify({ name: 'mine', embedDim: 64 }));
      assert.equal(loadPreset(f).embedDim, 64);
      writeFileSync(f, '{ nope');
      assert.throws(() => loadPreset(f), /mine\.json: not valid JSON/);
      assert.throws(() => loadPreset(join(dir, 'missing.json')), /missing\.json does not exist/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    assert.throws(() => loadPreset('huge'), /unknown model preset 'huge'; available: .*paper.*small.*tiny/);
  });
});
