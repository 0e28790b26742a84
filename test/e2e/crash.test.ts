// A real crash: SIGKILL a training process after its first checkpoint, resume it, and compare with an
// uninterrupted run of the same config (bit-identical weights).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../src/cli/main.js';
import { packageRoot } from '../../src/data/assets.js';

const root = packageRoot();
const bin = join(root, 'bin', 'retalign.js');

test('SIGKILL mid-training, then --resume, equals an uninterrupted run', { skip: !existsSync(join(root, 'dist', 'src', 'cli', 'main.js')) && 'needs the compiled CLI (make build)' }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'retalign-crash-'));
  try {
    const data = join(dir, 'twin');
    assert.equal(await main(['synth', '--out', data, '--patients', '16', '--size', '48', '--seed', '5']), 0);
    const args = (out: string): string[] => ['train', '--config', join(root, 'configs', 'runs', 'smoke.json'), '--set', `data.source="${data}"`,
      '--set', 'train.steps=40', '--set', 'train.evalEvery=2', '--no-progress', '--out', out];

    // The crashed run: killed as soon as a checkpoint exists.
    const cut = join(dir, 'cut');
    const child = spawn(process.execPath, [bin, ...args(cut)], { stdio: 'ignore' });
    const signal = await new Promise<NodeJS.Signals | null>((resolve) => {
      const timer = setInterval(() => {
        if (existsSync(join(cut, 'last', 'state.json'))) {
          clearInterval(timer);
          child.kill('SIGKILL');
        }
      }, 10);
      child.on('exit', (_code, sig) => {
        clearInterval(timer);
        resolve(sig);
      });
    });
    assert.equal(signal, 'SIGKILL', 'the run was killed mid-training (not finished before the kill)');
    const killedAt = (JSON.parse(readFileSync(join(cut, 'last', 'state.json'), 'utf8')) as { step: number }).step;
    assert.ok(killedAt < 40, `killed at step ${killedAt}`);

    assert.equal(await main([...args(cut), '--resume']), 0);
    assert.equal(await main(args(join(dir, 'full'))), 0);
    const a = readFileSync(join(dir, 'full', 'last', 'weights.safetensors'));
    const b = readFileSync(join(cut, 'last', 'weights.safetensors'));
    assert.ok(a.equals(b), `resumed after a kill at step ${killedAt}: weights equal the uninterrupted run`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
