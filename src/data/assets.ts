/**
 * Locating files shipped with the package (assets/knowledge/*.json, ...) at run time.
 *
 * Why: the same module runs from `src/` (tsx, tests) and from `dist/src/` (compiled), so a fixed
 * relative path from this file would be wrong in one of them. We walk up from this module's URL to
 * the first folder holding a package.json whose name is "retalign" (the package root) instead.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

let cachedRoot: string | null = null;

/**
 * The package root: the nearest ancestor of `from` (default: this module's folder) holding a
 * package.json named "retalign".
 *
 * @example packageRoot() // '/home/me/retalign'
 */
export function packageRoot(from?: string): string {
  if (from === undefined && cachedRoot !== null) return cachedRoot;
  const start = from ?? dirname(fileURLToPath(import.meta.url));
  let dir = resolve(start);
  for (;;) {
    const pj = join(dir, 'package.json');
    if (existsSync(pj)) {
      try {
        const name = (JSON.parse(readFileSync(pj, 'utf8')) as { name?: unknown }).name;
        if (name === 'retalign') break;
      } catch {
        // an unreadable package.json is not ours: keep walking up
      }
    }
    const up = dirname(dir);
    if (up === dir) {
      throw new Error(`packageRoot: no package.json named "retalign" above ${start}`);
    }
    dir = up;
  }
  if (from === undefined) cachedRoot = dir;
  return dir;
}

/**
 * Absolute path of a packaged asset, e.g. `assetPath('knowledge', 'kb-v1.json')`.
 * Throws naming the path when the file is missing.
 *
 * @example assetPath('knowledge', 'kb-v1.json') // '/home/me/retalign/assets/knowledge/kb-v1.json'
 */
export function assetPath(...parts: string[]): string {
  const p = join(packageRoot(), 'assets', ...parts);
  if (!existsSync(p)) throw new Error(`asset not found: ${p} (expected under <package>/assets/)`);
  return p;
}

/**
 * Parse a packaged JSON asset. The caller validates the shape (the result is `unknown`).
 *
 * @example const kb = readJsonAsset('knowledge', 'kb-v1.json');
 */
export function readJsonAsset(...parts: string[]): unknown {
  const p = assetPath(...parts);
  try {
    return JSON.parse(readFileSync(p, 'utf8')) as unknown;
  } catch (e) {
    throw new Error(`${p}: not valid JSON: ${(e as Error).message}`);
  }
}
