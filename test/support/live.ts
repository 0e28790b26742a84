import { setImmediate as tick } from 'node:timers/promises';
import { liveTensors } from '../../src/tensor/index.js';

/**
 * The live-tensor count once garbage left by earlier tests in the same file is gone: a tensor that was never
 * disposed is freed by its finalizer after a collection, in a later task, so a count taken across an await can
 * drop for reasons that have nothing to do with the code under test. With --expose-gc (scripts/run-tests.mjs
 * passes it) this collects and lets the finalizers run first.
 */
export async function settledLiveTensors(): Promise<number> {
  const gc = (globalThis as { gc?: () => void }).gc;
  for (let i = 0; i < 3; i++) {
    gc?.();
    await tick();
  }
  return liveTensors();
}
