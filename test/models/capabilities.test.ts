// The model registry: each architecture says what it can do, and buildModel builds the class the
// config names; an unknown name is an error listing the valid ones.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ARCHITECTURE_NAMES, buildModel, capabilitiesOf, ClipBaseline, isArchitecture, Kemt, loadPreset, type Architecture, type ModelConfig } from '../../src/models/index.js';

test('capabilities: kemt grades with heads on every input; clip pairs image and text and needs a probe', () => {
  assert.deepEqual([...ARCHITECTURE_NAMES], ['kemt', 'clip']);
  assert.deepEqual(capabilitiesOf('kemt'), { modalities: ['image', 'text', 'tabular'], gradeHeads: true, modalityDropout: true, lossParts: null, selectBy: 'icdr_kappa' });
  assert.deepEqual(capabilitiesOf('clip'), { modalities: ['image', 'text'], gradeHeads: false, modalityDropout: false, lossParts: ['imageText'], selectBy: 't2i_r1_dup' });
  assert.equal(capabilitiesOf('kemt'), Kemt.capabilities);
  assert.equal(capabilitiesOf('clip'), ClipBaseline.capabilities);
  assert.throws(() => capabilitiesOf('vit' as Architecture), /unknown architecture "vit"; expected one of kemt, clip/);
  assert.ok(isArchitecture('clip'));
  assert.ok(!isArchitecture('toString'));
  assert.ok(!isArchitecture(undefined));
});

test('buildModel builds the class the config names, which carries its capabilities', () => {
  const tiny = loadPreset('tiny');
  for (const [arch, cls] of [['kemt', Kemt], ['clip', ClipBaseline]] as const) {
    const m = buildModel({ ...tiny, architecture: arch }, { vocabSize: 40, tabularDim: 4 });
    assert.ok(m instanceof cls, arch);
    assert.equal(m.name, arch);
    assert.equal(m.capabilities, capabilitiesOf(arch));
  }
  assert.throws(() => buildModel({ ...tiny, architecture: 'mlp' } as unknown as ModelConfig, { vocabSize: 40, tabularDim: 4 }),
    /buildModel: architecture is "mlp"; expected one of kemt, clip/);
});
