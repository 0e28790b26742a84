// The warning for notes cut at data.maxTokens (src/run/prepare.ts noteCutWarning).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { noteCutWarning } from '../../src/run/prepare.js';

test('noteCutWarning: none cut -> no warning; else the count, the longest and the count per ICDR grade, in grade order', () => {
  assert.equal(noteCutWarning({ count: 0, longest: 0, byIcdr: new Map() }, 10, 128), null);
  const w = noteCutWarning({ count: 5, longest: 234, byIcdr: new Map([['4', 3], ['2', 1], ['unknown', 1]]) }, 577, 128);
  assert.equal(w, 'warning: 5 of 577 notes are longer than data.maxTokens=128 tokens and were cut (longest 234; ICDR 2: 1, ICDR 4: 3, ' +
    "ICDR unknown: 1): the model never reads their end (data.maxTokens sets the budget, at most the preset's text.maxPositions).");
});
