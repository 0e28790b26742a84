// End to end through the CLI's main(argv): synth -> data check -> train (smoke) -> eval -> report,
// then the report's headline numbers must equal metrics.json, and --resume must reproduce a run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../src/cli/main.js';
import { parseEvalResult } from '../../src/eval/result.js';
import { HEADLINE_COLUMNS, formatMetric } from '../../src/eval/report/index.js';
import { headlineTable } from '../../src/job/demo.js';
import { packageRoot } from '../../src/data/assets.js';
import { BRSET_DEFAULT_FIELDS, GRADER_READING_FIELDS } from '../../src/data/tabular.js';

const smoke = join(packageRoot(), 'configs', 'runs', 'smoke.json');

test('CLI end to end: synth, data check, train, eval, report; report numbers equal metrics.json', async () => {
  const root = mkdtempSync(join(tmpdir(), 'retalign-e2e-'));
  try {
    const data = join(root, 'twin');
    assert.equal(await main(['synth', '--out', data, '--patients', '20', '--size', '64', '--seed', '7', '--prevalence', 'balanced']), 0);
    assert.ok(existsSync(join(data, 'labels.csv')));
    process.exitCode = undefined;
    assert.equal(await main(['data', 'check', data]), 0);

    const run = join(root, 'run');
    // the record without the grader's reading of the photo (data.tabularFields reaches the featurizer)
    const fields = BRSET_DEFAULT_FIELDS.map((f) => f.name).filter((n) => !GRADER_READING_FIELDS.includes(n));
    const sets = ['--set', `data.source="${data}"`, '--set', 'train.steps=6', '--set', 'train.evalEvery=3', '--set', `data.tabularFields=${JSON.stringify(fields)}`];
    assert.equal(await main(['train', '--config', smoke, ...sets, '--out', run, '--no-progress']), 0);
    assert.ok(existsSync(join(run, 'last', 'weights.safetensors')));
    const state = JSON.parse(readFileSync(join(run, 'last', 'state.json'), 'utf8')) as { extras: { preprocessing: { tabular: { fields: { name: string }[] } } } };
    assert.deepEqual(state.extras.preprocessing.tabular.fields.map((f) => f.name), fields);
    assert.ok(existsSync(join(run, 'metrics.jsonl')));

    const evalDir = join(run, 'eval');
    assert.equal(await main(['eval', '--checkpoint', run, '--out', evalDir, '--bootstrap', '20']), 0);
    const metrics = parseEvalResult(readFileSync(join(evalDir, 'metrics.json'), 'utf8'));
    assert.equal(metrics.protocol, 'honest');
    assert.ok(metrics.n > 0);

    const rep = join(root, 'report');
    assert.equal(await main(['report', '--runs', evalDir, '--out', rep]), 0);
    const md = readFileSync(join(rep, 'report.md'), 'utf8');
    const table = headlineTable(md).split('\n');
    const header = (table[0] as string).split('|').map((c) => c.trim());
    const row = table.slice(2).find((l) => l.includes(metrics.model) && !l.includes('CLAIMED'));
    assert.ok(row, 'the run has a row in the headline table');
    const cells = row.split('|').map((c) => c.trim());
    let checked = 0;
    for (const col of HEADLINE_COLUMNS) {
      const i = header.indexOf(col.header);
      assert.ok(i >= 0, `column ${col.header} in the report`);
      assert.equal(cells[i], formatMetric(col.get(metrics), col.kind), `report cell '${col.header}' equals metrics.json`);
      checked++;
    }
    assert.equal(checked, HEADLINE_COLUMNS.length);
    assert.ok(existsSync(join(rep, 'charts')));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('CLI: --help exits 0; unknown config keys and bad options fail with precise messages', async () => {
  assert.equal(await main(['--help']), 0);
  await assert.rejects(main(['train', '--config', smoke, '--set', 'train.stepz=3']), /--set train\.stepz=3: unknown key 'train\.stepz'; valid keys of 'train': steps/);
  await assert.rejects(main(['train', '--config', join(tmpdir(), 'nope.json')]), /cannot read run config/);
  await assert.rejects(main(['eval', '--checkpoint', tmpdir()]), /not a checkpoint/);
  await assert.rejects(main(['train', '--config', smoke, '--set', 'data.tabularFields=["patient_age","hba1c"]']),
    /data\.tabularFields: "hba1c" is not one of the default fields .*declare another column as 'hba1c:numeric'/);
  await assert.rejects(main(['train', '--config', smoke, '--set', 'data.tabularFields=["macula","DR_ICDR:categorical"]']), /"DR_ICDR" is a label/);
});

test('train --resume after an interrupted run reaches the same weights as an uninterrupted one', async () => {
  const root = mkdtempSync(join(tmpdir(), 'retalign-resume-'));
  try {
    const data = join(root, 'twin');
    assert.equal(await main(['synth', '--out', data, '--patients', '16', '--size', '48', '--seed', '3']), 0);
    const common = ['--config', smoke, '--set', `data.source="${data}"`, '--set', 'train.evalEvery=2', '--no-progress'];
    assert.equal(await main(['train', ...common, '--set', 'train.steps=4', '--out', join(root, 'full')]), 0);
    // "Crash" after 2 steps: a run told to stop at 2, then resumed to 4 with the same config otherwise.
    assert.equal(await main(['train', ...common, '--set', 'train.steps=2', '--out', join(root, 'cut')]), 0);
    assert.equal(await main(['train', ...common, '--set', 'train.steps=4', '--out', join(root, 'cut'), '--resume']), 0);
    const a = readFileSync(join(root, 'full', 'last', 'weights.safetensors'));
    const b = readFileSync(join(root, 'cut', 'last', 'weights.safetensors'));
    assert.ok(a.equals(b), 'resumed weights are bit-identical to the uninterrupted run');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
