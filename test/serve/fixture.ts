/**
 * A tiny trained model and its index, shared by the serve tests: the smoke run config with 3
 * training steps on a 24-patient synthetic twin (192 px photos, 64 px model input, 8 x 8 patch
 * grid), then `buildIndex`. ~20 s to build on 2 cores, so it is built once per source tree and
 * reused: the folder name carries a hash of every file under src/, and a lock folder lets
 * concurrently running test files wait for one builder instead of racing.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { packageRoot } from '../../src/data/assets.js';
import { resolveRunConfig } from '../../src/run/config.js';
import { runTraining } from '../../src/job/train-run.js';
import { buildIndex } from '../../src/serve/build-index.js';
import { readSidecar } from '../../src/serve/sidecar.js';

/** Bump when the fixture recipe changes. */
const RECIPE = 'v2';
const PREFIX = 'retalign-serve-fixture-';

export interface ServeFixture {
  /** Checkpoint folder (run/last). */
  checkpoint: string;
  /** Index folder (with serve.json). */
  index: string;
  /** The synthetic dataset folder. */
  dataPath: string;
  /** A fundus photo of the dataset (JPEG). */
  sampleImage: string;
  /** Its imageId. */
  sampleId: string;
}

function treeHash(): string {
  const h = createHash('sha256').update(RECIPE);
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir).sort()) {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (name.endsWith('.ts') || name.endsWith('.json')) h.update(p).update(readFileSync(p));
    }
  };
  walk(join(packageRoot(), 'src'));
  walk(join(packageRoot(), 'configs'));
  return h.digest('hex').slice(0, 16);
}

function describe(dir: string): ServeFixture {
  const index = join(dir, 'index');
  const s = readSidecar(index);
  const photos = join(s.dataPath, 'fundus_photos');
  const first = readdirSync(photos).filter((f) => f.endsWith('.jpg')).sort()[0];
  if (first === undefined) throw new Error(`fixture: no photos in ${photos}`);
  return { checkpoint: join(dir, 'run', 'smoke', 'last'), index, dataPath: s.dataPath, sampleImage: join(photos, first), sampleId: first.replace(/\.jpg$/, '') };
}

async function build(dir: string): Promise<void> {
  type Obj = Record<string, unknown>;
  const raw = JSON.parse(readFileSync(join(packageRoot(), 'configs', 'runs', 'smoke.json'), 'utf8')) as Record<string, Obj>;
  const data = raw['data'] as Obj;
  raw['train'] = { ...raw['train'], steps: 3, evalEvery: 3, logEvery: 3 };
  raw['data'] = { ...data, imageSize: 64, synth: { ...(data['synth'] as Obj), patients: 24, size: 192 } };
  const quiet = (): void => {};
  await runTraining(resolveRunConfig(raw), { out: join(dir, 'run', 'smoke'), progress: 'off', log: quiet });
  // 10 validation exams: below the default minimum, lowered here (and recorded in serve.json) so that
  // the tests see calibrated grades; test/serve/cli.test.ts builds one with the default and sees none.
  await buildIndex({ checkpoint: join(dir, 'run', 'smoke', 'last'), out: join(dir, 'index'), log: quiet, minCalibrationExams: 10 });
  writeFileSync(join(dir, 'done'), new Date().toISOString());
}

/** The shared fixture, built if needed (waits for a concurrent builder). */
export async function serveFixture(): Promise<ServeFixture> {
  const dir = join(tmpdir(), `${PREFIX}${treeHash()}`);
  const lock = `${dir}.lock`;
  for (let waited = 0; ; waited += 250) {
    if (existsSync(join(dir, 'done'))) return describe(dir);
    try {
      mkdirSync(lock);
    } catch {
      // Someone else is building; a lock older than 5 minutes belongs to a crashed builder.
      if (Date.now() - (statSync(lock, { throwIfNoEntry: false })?.mtimeMs ?? Date.now()) > 300_000) rmSync(lock, { recursive: true, force: true });
      if (waited > 240_000) throw new Error(`fixture: gave up waiting for ${lock}`);
      await sleep(250);
      continue;
    }
    try {
      if (existsSync(join(dir, 'done'))) return describe(dir);
      // Older fixtures (other source trees) are garbage now.
      for (const name of readdirSync(tmpdir())) {
        if (name.startsWith(PREFIX) && !name.endsWith('.lock') && join(tmpdir(), name) !== dir) rmSync(join(tmpdir(), name), { recursive: true, force: true });
      }
      rmSync(dir, { recursive: true, force: true });
      mkdirSync(dir, { recursive: true });
      await build(dir);
      return describe(dir);
    } finally {
      rmSync(lock, { recursive: true, force: true });
    }
  }
}
