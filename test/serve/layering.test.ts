// The server's layering: what `retalign serve` and the index build load at run time (static, non-type
// imports, followed transitively through src/) reaches nothing of the trainer (src/train/), the jobs
// (src/job/) or the report and charts (src/eval/report/, src/eval/charts/). Serving a model must not
// load the training loop, its progress bars or the charting stack.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

/** Every src/ file reachable from `entry` through `import ... from './x.js'` / `export ... from` (not `import type`). */
function runtimeClosure(entry: string): string[] {
  const seen = new Set<string>();
  const stack = [resolve(entry)];
  while (stack.length > 0) {
    const f = stack.pop() as string;
    if (seen.has(f)) continue;
    seen.add(f);
    const src = readFileSync(f, 'utf8');
    for (const m of src.matchAll(/^(?:import|export)\s+(?!type\b)[^;]*?from\s+'(\.[^']+)'/gms)) {
      const p = join(dirname(f), (m[1] as string).replace(/\.js$/, '.ts'));
      if (existsSync(p)) stack.push(p);
    }
  }
  return [...seen].map((f) => relative(process.cwd(), f));
}

const FORBIDDEN = /^src\/(train|job|eval\/report|eval\/charts)\//;

for (const entry of ['src/serve/server.ts', 'src/serve/build-index.ts', 'src/serve/engine.ts']) {
  test(`${entry} loads nothing of train/, job/, eval/report or eval/charts`, () => {
    const files = runtimeClosure(entry);
    assert.ok(files.length > 10, `the walker found only ${files.length} files from ${entry}`);
    assert.ok(files.includes('src/run/load.ts'), 'the server opens runs through src/run/');
    assert.deepEqual(files.filter((f) => FORBIDDEN.test(f)), []);
  });
}

test('the walker does see a forbidden import when there is one', () => {
  assert.ok(runtimeClosure('src/job/train-run.ts').some((f) => f.startsWith('src/train/')), 'train-run loads the loop');
});
