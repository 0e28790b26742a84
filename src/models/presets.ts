/**
 * Named architecture presets (configs/presets/<name>.json): `tiny` for tests, `small` for CPU
 * training, `paper` for ViT-B/16 + BERT-base. A preset is a partial ModelConfig over the defaults.
 *
 * @example
 *   const c = loadPreset('tiny');                 // configs/presets/tiny.json
 *   const d = loadPreset('./my-arch.json');       // any path (contains '/' or ends in .json)
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { resolveConfig, type ModelConfig } from './config.js';

/** The folder holding the preset JSON files (found by walking up from this module). */
export function presetsDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 8; i++) {
    const p = join(dir, 'configs', 'presets');
    if (existsSync(join(dir, 'package.json')) && existsSync(p)) return p;
    dir = dirname(dir);
  }
  throw new Error(`cannot find configs/presets above ${fileURLToPath(import.meta.url)}`);
}

/** Names of the shipped presets, sorted. */
export function presetNames(): string[] {
  return readdirSync(presetsDir())
    .filter((f) => f.endsWith('.json'))
    .map((f) => f.slice(0, -'.json'.length))
    .sort();
}

/**
 * Loads and validates a preset by name or a config file by path.
 * @example loadPreset('small').image.imageSize // 96
 */
export function loadPreset(nameOrPath: string): ModelConfig {
  const isPath = nameOrPath.includes('/') || nameOrPath.includes('\\') || nameOrPath.endsWith('.json');
  const path = isPath ? resolve(nameOrPath) : join(presetsDir(), `${nameOrPath}.json`);
  if (!existsSync(path)) {
    if (isPath) throw new Error(`model config file ${path} does not exist`);
    throw new Error(`unknown model preset '${nameOrPath}'; available: ${presetNames().join(', ')} (or pass a path to a .json file)`);
  }
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new Error(`${path}: not valid JSON: ${(e as Error).message}`);
  }
  return resolveConfig(json, path);
}
