// Run-config protocol defaults: what each protocol feeds the tabular encoder, and how a run overrides it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BRSET_DEFAULT_FIELDS, GRADER_READING_FIELDS } from '../../src/data/tabular.js';
import { HONEST_TABULAR_FIELDS, resolveRunConfig } from '../../src/run/config.js';

test('honest protocol: the record without the grader reading of the photo; paper: the whole default list', () => {
  const honest = resolveRunConfig({ protocol: 'honest' });
  assert.deepEqual(honest.data.tabularFields, [...HONEST_TABULAR_FIELDS]);
  assert.equal(HONEST_TABULAR_FIELDS.length, BRSET_DEFAULT_FIELDS.length - GRADER_READING_FIELDS.length);
  for (const f of GRADER_READING_FIELDS) assert.ok(!HONEST_TABULAR_FIELDS.includes(f), `${f} is not an honest default`);
  for (const f of ['patient_age', 'diabetes_time_y', 'insulin', 'focus']) assert.ok(HONEST_TABULAR_FIELDS.includes(f), `${f} stays`);
  assert.equal(resolveRunConfig({ protocol: 'paper' }).data.tabularFields, null);
  assert.equal(resolveRunConfig({}, ['protocol="paper"']).data.tabularFields, null); // the protocol from a --set
  // a file or a --set overrides the protocol default, in that order
  assert.equal(resolveRunConfig({ protocol: 'honest', data: { tabularFields: null } }).data.tabularFields, null);
  assert.deepEqual(resolveRunConfig({ protocol: 'paper' }, ['data.tabularFields=["macula","hba1c:numeric"]']).data.tabularFields, ['macula', 'hba1c:numeric']);
  assert.throws(() => resolveRunConfig({}, ['data.tabularFields=["age"]']), /--set data\.tabularFields=\["age"\]|data\.tabularFields: "age" is not one of the default fields/);
  assert.throws(() => resolveRunConfig({}, ['data.tabularFields=[3]']), /'data\.tabularFields' must be null or a list of field names, got \[3\]/);
  // the resolved default is a copy: changing one run's list does not change the next run's
  (honest.data.tabularFields as string[]).pop();
  assert.deepEqual(resolveRunConfig({}).data.tabularFields, [...HONEST_TABULAR_FIELDS]);
});
