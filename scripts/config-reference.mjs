// Writes docs/config.md (the run-config reference) from the run-config schema; `--check` only
// compares and exits 1 when the committed file is stale. Needs a build first (npm run build).
// Usage: node scripts/config-reference.mjs [--check]
import { readFileSync, writeFileSync, mkdirSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { runConfigReference } = await import(join(root, 'dist/src/run/config-reference.js'));
const target = join(root, 'docs', 'config.md');
const text = runConfigReference();
if (process.argv.includes('--check')) {
  const now = existsSync(target) ? readFileSync(target, 'utf8') : '';
  if (now !== text) {
    console.error('docs/config.md is stale: run `node scripts/config-reference.mjs`');
    process.exit(1);
  }
  console.log('docs/config.md is up to date');
} else {
  mkdirSync(dirname(target), { recursive: true });
  writeFileSync(target, text);
  console.log(`wrote ${target}`);
}
