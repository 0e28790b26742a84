// Runs every compiled test file under dist/test (Node 20's --test takes files, not globs).
// Usage: node scripts/run-tests.mjs [subdir-filter]
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

const root = 'dist/test';
const filter = process.argv[2] ?? '';
const files = [];
(function walk(dir) {
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p);
    else if (name.endsWith('.test.js') && p.includes(filter)) files.push(p);
  }
})(root);
if (files.length === 0) {
  console.error(`no test files found under ${root} matching '${filter}' (did the build run?)`);
  process.exit(1);
}
const r = spawnSync(process.execPath, ['--expose-gc', '--test', '--test-concurrency=1', ...files], { stdio: 'inherit' });
process.exit(r.status ?? 1);
