// Config schemas: what `describe` says for each kind of field, defaults filled into a copy, keys in schema
// order, and errors that pick the most telling problem (an unknown key before the missing one it explains).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defaultsOf, describe, literals, orNull, referenceRows, resolveSchema, section, Type } from '../../src/config/schema.js';

const S = Type.Object({
  lr: Type.Number({ exclusiveMinimum: 0, default: 1e-3, description: 'Peak learning rate.' }),
  steps: orNull(Type.Integer({ minimum: 1 }), { default: null, description: 'Cap; null = none.' }),
  mode: literals(['max', 'min'], { default: 'max', description: 'Direction.' }),
  drop: section({ image: Type.Number({ minimum: 0, exclusiveMaximum: 1, default: 0.1, description: 'Photo.' }) }, 'Dropout.'),
  stop: orNull(Type.Object({ metric: Type.String({ minLength: 1 }), patience: Type.Integer({ minimum: 0, default: 0 }) }, { additionalProperties: false }),
    { default: null, description: 'Early stop.' }),
  ks: Type.Array(Type.Integer({ minimum: 1 }), { default: [1, 5], description: 'Cut-offs.' }),
}, { additionalProperties: false, title: 'a test config' });

test('describe: ranges, literals, nullables, lists, objects', () => {
  assert.equal(describe(Type.Number({ minimum: 0, exclusiveMaximum: 1 })), 'a number in [0, 1)');
  assert.equal(describe(Type.Number({ exclusiveMinimum: 0, maximum: 1 })), 'a number in (0, 1]');
  assert.equal(describe(Type.Integer({ minimum: 1 })), 'an integer >= 1');
  assert.equal(describe(S.properties.steps), 'null or an integer >= 1');
  assert.equal(describe(S.properties.mode), "'max' or 'min'");
  assert.equal(describe(literals(['a', 'b', 'c'], {})), "one of 'a', 'b', 'c'");
  assert.equal(describe(Type.Array(Type.Number(), { minItems: 3, maxItems: 3 })), 'a list of 3 numbers');
  assert.equal(describe(S.properties.ks), 'a list of integers >= 1');
  assert.equal(describe(S.properties.drop), 'an object {image}');
  assert.equal(describe(Type.String({ minLength: 1, expected: 'a metric name' })), 'a metric name');
});

test('resolveSchema: defaults into a copy, keys in schema order, nested sections and nullable objects', () => {
  const input = { ks: [1], drop: {}, stop: { metric: 'k' }, lr: 0.5 };
  const c = resolveSchema(S, input, 'x');
  assert.deepEqual(c, { lr: 0.5, steps: null, mode: 'max', drop: { image: 0.1 }, stop: { metric: 'k', patience: 0 }, ks: [1] });
  assert.deepEqual(Object.keys(c), ['lr', 'steps', 'mode', 'drop', 'stop', 'ks']);
  assert.deepEqual(input, { ks: [1], drop: {}, stop: { metric: 'k' }, lr: 0.5 }, 'the input is not changed');
  const d = defaultsOf(S);
  d.ks.push(9);
  assert.deepEqual(defaultsOf(S).ks, [1, 5], 'each call gets fresh defaults');
});

test('resolveSchema errors: where, the dotted path, the value and what was expected', () => {
  assert.throws(() => resolveSchema(S, { lr: 0 }, 'x.json'), /^Error: x\.json: 'lr' must be a number > 0, got 0$/);
  assert.throws(() => resolveSchema(S, { steps: 'all' }, 'x'), /'steps' must be null or an integer >= 1, got "all"/);
  assert.throws(() => resolveSchema(S, { steps: 0 }, 'x'), /'steps' must be an integer >= 1, got 0/);
  assert.throws(() => resolveSchema(S, { ks: [1, 0] }, 'x'), /'ks\[1\]' must be an integer >= 1, got 0/);
  assert.throws(() => resolveSchema(S, { drop: { imgae: 0.2 } }, 'x'), /x: unknown key 'drop\.imgae'; valid keys of 'drop': image$/);
  assert.throws(() => resolveSchema(S, { drop: [] }, 'x'), /'drop' must be an object \{image\}, got \[\]/);
  assert.throws(() => resolveSchema(S, { stop: { metrc: 'k' } }, 'x'), /unknown key 'stop\.metrc'; valid keys of 'stop': metric, patience/);
  assert.throws(() => resolveSchema(S, { stop: {} }, 'x'), /'stop\.metric' is missing; expected a non-empty string/);
  assert.throws(() => resolveSchema(S, 'lr=1', 'x'), /^Error: x: a test config must be a JSON object, got "lr=1"$/);
});

test('referenceRows: one row per leaf, sections walked, defaults as JSON', () => {
  const rows = referenceRows(S);
  assert.deepEqual(rows.map((r) => r.key), ['lr', 'steps', 'mode', 'drop.image', 'stop', 'ks']);
  assert.deepEqual(rows[3], { key: 'drop.image', type: 'a number in [0, 1)', default: '0.1', description: 'Photo.' });
});
