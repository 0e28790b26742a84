// The run record (src/run/): a saved run loads with the same record and identical outputs; a
// checkpoint written before the record had a version loads the same; a missing or wrong field is
// an error naming the file and the field.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getRngState, manualSeed, noGrad, Tensor, tidy } from '../../src/tensor/index.js';
import { DEFAULT_OBJECTIVE_CONFIG } from '../../src/losses/index.js';
import { saveCheckpoint, resolveTrainConfig, CHECKPOINT_FORMAT } from '../../src/train/index.js';
import { buildModel, loadPreset, resolveConfig, type RetalignModel } from '../../src/models/index.js';
import { Tokenizer } from '../../src/data/tokenizer/tokenizer.js';
import { buildVocab } from '../../src/data/tokenizer/builder.js';
import { TabularFeaturizer } from '../../src/data/tabular.js';
import { resolveImageConfig } from '../../src/data/images/config.js';
import { resolveNoteOptions } from '../../src/data/notes/index.js';
import { isRunFolder, loadImageTowerFromRun, loadRun, parseRunInfo, resolveRunConfig, runInfoExtras, RUN_FORMAT, type RunInfo } from '../../src/run/index.js';

const NOTES = ['dot haemorrhages in the superior quadrant', 'no retinopathy seen', 'hard exudates near the fovea'];

/** A small run record and a model built from it, as `retalign train` would make them. */
function makeRun(kind: 'kemt' | 'clip'): { info: RunInfo; model: RetalignModel } {
  const runConfig = resolveRunConfig({ name: `unit-${kind}`, model: { kind, preset: 'tiny' }, data: { imageSize: 32, maxTokens: 16 } });
  const tokenizer = new Tokenizer(buildVocab(NOTES, { size: 200, lowercase: true, minFrequency: 1 }), { lowercase: true, maxLength: 16 });
  const featurizer = TabularFeaturizer.fit([]);
  const modelConfig = resolveConfig({ ...loadPreset('tiny'), architecture: kind, text: { ...loadPreset('tiny').text, vocabSize: tokenizer.vocabSize } }, 'test');
  const info: RunInfo = {
    format: RUN_FORMAT, runConfig, modelConfig,
    preprocessing: {
      tokenizer: tokenizer.toJSON(), tabular: featurizer.toJSON(), maxTokens: 16,
      image: resolveImageConfig({ size: 32, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] }),
      notes: { ...resolveNoteOptions({ seed: 3 }), templateHoldout: true },
    },
    dataset: 'unit twin', datasetPath: '/data/unit',
  };
  manualSeed(11);
  const model = buildModel(modelConfig, { vocabSize: tokenizer.vocabSize, tabularDim: featurizer.dim, specialIds: tokenizer });
  return { info, model };
}

/** Writes <runDir>/best as the training loop does, with `extras` as given. */
function saveRun(runDir: string, model: RetalignModel, extras: Record<string, unknown>): void {
  saveCheckpoint(join(runDir, 'best'), {
    weights: model.namedParameters(), optimizer: new Uint8Array(0),
    state: {
      format: CHECKPOINT_FORMAT, model: model.name, step: 5, epoch: 0, batchInEpoch: 5, best: null, badEvals: 0, stoppedEarly: false,
      torchRng: Buffer.from(getRngState()).toString('base64'), dataRng: { seed: 1, epoch: 0, batchInEpoch: 5, step: 5 },
      config: resolveTrainConfig({}), objective: DEFAULT_OBJECTIVE_CONFIG, extras,
    },
  });
}

/** The image embedding of one fixed image: equal outputs mean equal weights and config. */
function imageEmbedding(model: RetalignModel): Float32Array {
  return noGrad(() => tidy(() => {
    manualSeed(5);
    return model.encodeImage(Tensor.randn([1, 3, 32, 32])).toFloat32();
  }));
}

/** Edits the saved state.json's extras in place. */
function editExtras(runDir: string, edit: (extras: Record<string, any>) => void): string {
  const path = join(runDir, 'best', 'state.json');
  const state = JSON.parse(readFileSync(path, 'utf8')) as { extras: Record<string, unknown> };
  edit(state.extras);
  writeFileSync(path, JSON.stringify(state));
  return path;
}

test('round trip: a saved run loads with the same record, capabilities and outputs', () => {
  for (const kind of ['kemt', 'clip'] as const) {
    const root = mkdtempSync(join(tmpdir(), 'retalign-run-'));
    try {
      const { info, model } = makeRun(kind);
      saveRun(root, model, runInfoExtras(info));
      const run = loadRun(root); // a run folder: its best/
      assert.equal(run.checkpointDir, join(root, 'best'));
      assert.equal(run.runDir, root);
      assert.equal(run.splitFile, join(root, 'split.json'));
      assert.deepEqual(run.runConfig, info.runConfig);
      assert.deepEqual(run.modelConfig, info.modelConfig);
      assert.deepEqual(run.pre, info.preprocessing);
      assert.equal(run.datasetName, 'unit twin');
      assert.equal(run.datasetPath, '/data/unit');
      assert.equal(run.model.name, kind);
      assert.equal(run.model.capabilities, model.capabilities);
      assert.deepEqual(imageEmbedding(run.model), imageEmbedding(model));
      assert.match(run.checkpointId, /^[0-9a-f]{16}$/);
      const stored = JSON.parse(readFileSync(join(root, 'best', 'state.json'), 'utf8')) as { extras: Record<string, unknown> };
      assert.equal(stored.extras['format'], RUN_FORMAT);
      assert.deepEqual(parseRunInfo(stored.extras, 'state.json'), info);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  }
});

test('a checkpoint written before the run record had a version (extras without format) loads the same', () => {
  const root = mkdtempSync(join(tmpdir(), 'retalign-run-'));
  try {
    const { info, model } = makeRun('kemt');
    // Exactly what train-run.ts wrote before src/run/ existed.
    saveRun(root, model, JSON.parse(JSON.stringify({
      runConfig: info.runConfig, modelConfig: info.modelConfig, preprocessing: info.preprocessing, dataset: info.dataset, datasetPath: info.datasetPath,
    })) as Record<string, unknown>);
    const run = loadRun(join(root, 'best'));
    assert.deepEqual(run.runConfig, info.runConfig);
    assert.deepEqual(run.modelConfig, info.modelConfig);
    assert.deepEqual(run.pre, info.preprocessing);
    assert.deepEqual(imageEmbedding(run.model), imageEmbedding(model));
    // A field added since the checkpoint was written takes its default.
    editExtras(root, (x) => {
      delete x['preprocessing'].image.cropThreshold;
      delete x['datasetPath'];
    });
    const older = loadRun(root);
    assert.equal(older.pre.image.cropThreshold, info.preprocessing.image.cropThreshold);
    assert.equal(older.datasetPath, '');
    // Run-config keys since renamed (train.clipNorm, train.bf16) and fields added since (train.checkpointEvery,
    // image.stem) in a checkpoint: read as the new names, the new fields at their defaults.
    editExtras(root, (x) => {
      const t = x['runConfig'].train;
      t.clipNorm = 0.5;
      t.bf16 = false;
      delete t.clipGradNorm;
      delete t.precision;
      delete t.checkpointEvery;
      delete x['modelConfig'].image.stem;
    });
    const renamed = loadRun(root);
    assert.equal(renamed.runConfig.train.clipGradNorm, 0.5);
    assert.equal(renamed.runConfig.train.precision, 'float32');
    assert.equal(renamed.runConfig.train.checkpointEvery, null);
    assert.equal(renamed.modelConfig.image.stem, 'patch');
    assert.deepEqual(imageEmbedding(renamed.model), imageEmbedding(model));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('a missing or wrong field is an error naming the file and the field', () => {
  const root = mkdtempSync(join(tmpdir(), 'retalign-run-'));
  try {
    const { info, model } = makeRun('kemt');
    const cases: [string, (x: Record<string, any>) => void, RegExp][] = [
      ['no run record', (x) => { for (const k of Object.keys(x)) delete x[k]; }, /extras\.runConfig is missing; expected an object: not a checkpoint written by `retalign train`/],
      ['unknown version', (x) => { x['format'] = 'retalign-run/9'; }, /extras\.format is "retalign-run\/9"; expected 'retalign-run\/2' \(or none: version 1\)/],
      ['run config', (x) => { x['runConfig'].train.steps = 'many'; }, /extras\.runConfig: 'train\.steps' must be an integer >= 1, got "many"/],
      ['model config', (x) => { x['modelConfig'].image.width = -3; }, /extras\.modelConfig: 'image\.width' must be an integer >= 1, got -3/],
      ['model config key', (x) => { x['modelConfig'].colour = 'blue'; }, /extras\.modelConfig: unknown key 'colour'/],
      ['tokenizer', (x) => { delete x['preprocessing'].tokenizer; }, /extras\.preprocessing\.tokenizer is missing/],
      ['tokenizer vocab', (x) => { x['preprocessing'].tokenizer.vocab = 7; }, /extras\.preprocessing\.tokenizer: Tokenizer\.fromJSON: vocab must be an array of strings/],
      ['tabular statistics', (x) => { x['preprocessing'].tabular = { version: 3 }; }, /extras\.preprocessing\.tabular: tabular: stats JSON must be/],
      ['note length', (x) => { x['preprocessing'].maxTokens = '16'; }, /extras\.preprocessing\.maxTokens is "16"; expected an integer >= 1/],
      ['note options', (x) => { delete x['preprocessing'].notes.templateHoldout; }, /extras\.preprocessing\.notes\.templateHoldout is undefined; expected true or false/],
      ['image size', (x) => { x['preprocessing'].image.size = 64; }, /extras\.preprocessing\.image\.size is 64 but extras\.modelConfig\.image\.imageSize is 32/],
      ['model kind', (x) => { x['runConfig'].model.kind = 'clip'; }, /extras\.modelConfig\.architecture is 'kemt' but extras\.runConfig\.model\.kind is 'clip'/],
      ['dataset', (x) => { x['datasetPath'] = 3; }, /extras\.datasetPath is 3; expected a string/],
    ];
    for (const [name, edit, expected] of cases) {
      saveRun(root, model, runInfoExtras(info));
      const path = editExtras(root, edit);
      assert.throws(() => loadRun(root), (e: Error) => {
        assert.ok(e.message.startsWith(`${path}: `), `${name}: the error names the file: ${e.message}`);
        assert.match(e.message, expected, name);
        return true;
      });
    }
    assert.throws(() => parseRunInfo(null, 'x/state.json'), /^Error: x\/state\.json: extras is null; expected the run record/);
    assert.throws(() => loadRun(join(root, 'nowhere')), /nowhere: not a checkpoint \(no state\.json here, nor in best\/ or last\/\)/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test("another run's image tower: copied exactly (nothing else), only into a tower of the same image settings", () => {
  const root = mkdtempSync(join(tmpdir(), 'retalign-tower-'));
  try {
    const { info, model: source } = makeRun('kemt');
    noGrad(() => tidy(() => { for (const [k, p] of source.image.namedParameters()) if (!k.endsWith('runningVar')) p.copy_(Tensor.randn(p.shape)); }));
    saveRun(root, source, runInfoExtras(info));
    assert.equal(isRunFolder(root), true);
    assert.equal(isRunFolder(join(root, 'best')), true);
    assert.equal(isRunFolder(join(root, 'nowhere')), false);
    manualSeed(99);
    const target = buildModel(info.modelConfig, { vocabSize: info.modelConfig.text.vocabSize as number, tabularDim: 1 });
    const textBefore = [...target.text.namedParameters()].map(([k, p]) => [k, [...p.toFloat32()]]);
    const msg = loadImageTowerFromRun(target, root);
    assert.match(msg, new RegExp(`^${source.image.namedParameters().size} image tensors from .*best \\(step 5\\)$`));
    for (const [k, p] of source.image.namedParameters()) assert.deepEqual([...(target.image.namedParameters().get(k) as Tensor).toFloat32()], [...p.toFloat32()], k);
    assert.deepEqual([...target.text.namedParameters()].map(([k, p]) => [k, [...p.toFloat32()]]), textBefore); // the rest keeps its own start
    // CLIP takes a KEMT run's tower too: the towers are the same class.
    const clip = buildModel({ ...info.modelConfig, architecture: 'clip' }, { vocabSize: info.modelConfig.text.vocabSize as number, tabularDim: 1 });
    loadImageTowerFromRun(clip, root);
    assert.deepEqual(imageEmbedding(clip).length, imageEmbedding(target).length);
    const wider = buildModel({ ...info.modelConfig, image: { ...info.modelConfig.image, width: info.modelConfig.image.width * 2, imageSize: 64 } },
      { vocabSize: info.modelConfig.text.vocabSize as number, tabularDim: 1 });
    assert.throws(() => loadImageTowerFromRun(wider, root),
      /model\.imageWeights .*: its image tower does not fit this run's: image\.imageSize is 32 there, 64 here; image\.width is \d+ there, \d+ here/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
