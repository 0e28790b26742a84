// What V8 is told about tensor memory (native/common.h g_reportExternal, src/tensor/scope.ts): tensors
// outside every tidy scope report their bytes (the GC safety net needs them), temporaries inside a scope
// do not (tidy frees them), and a tensor that leaves the last scope reports then. Reporting every
// temporary made V8 run full GCs over and over in a training step; the last test counts them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PerformanceObserver, constants } from 'node:perf_hooks';
import { Tensor, keep, tidy } from '../../src/tensor/index.js';
import { native } from '../../src/tensor/native.js';

const externalBytes = (t: Tensor): number => (native['externalBytes'] as (h: unknown) => number)(t.handle);
const setExternalReporting = native['setExternalReporting'] as (on: boolean) => boolean;

test('a tensor outside any scope reports its bytes; scope temporaries do not; views never do', () => {
  const a = Tensor.zeros([1000]); // 4000 bytes
  assert.equal(externalBytes(a), 4000);
  const v = a.narrow(0, 0, 10); // a view of a's storage
  assert.equal(externalBytes(v), 0);
  tidy(() => {
    const t = Tensor.zeros([500]);
    assert.equal(externalBytes(t), 0, 'a temporary in a tidy scope');
  });
  [a, v].forEach((t) => t.dispose());
});

test('a tensor reports when it leaves the last scope: returned from the outermost tidy, or kept', () => {
  const seen: Tensor[] = [];
  const out = tidy(() => {
    const r = tidy(() => Tensor.ones([250], 'float64')); // 2000 bytes, returned into the outer scope
    seen.push(r);
    assert.equal(externalBytes(r), 0, 'still owned by the outer scope');
    const k = keep(Tensor.zeros([100])); // 400 bytes: keep() hands it to the caller, untracked
    assert.equal(externalBytes(k), 400, 'kept');
    k.dispose();
    return r;
  });
  assert.equal(out, seen[0]);
  assert.equal(externalBytes(out), 2000, 'returned from the outermost tidy');
  out.dispose();
});

test('reporting is back on after a tidy that throws', () => {
  assert.throws(() => tidy(() => {
    Tensor.zeros([10]);
    throw new Error('boom');
  }), /boom/);
  const t = Tensor.zeros([10]);
  assert.equal(externalBytes(t), 40);
  t.dispose();
});

/** Full (mark-compact) GCs while `fn` runs, counted by a PerformanceObserver. */
async function majorGcs(fn: () => void): Promise<number> {
  let n = 0;
  const obs = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      if ((e as unknown as { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR) n++;
    }
  });
  obs.observe({ entryTypes: ['gc'] });
  fn();
  await new Promise((r) => setTimeout(r, 50)); // GC entries are delivered asynchronously
  obs.disconnect();
  return n;
}

test('scope temporaries of 128 MB per iteration cause no full GC (they did when each one told V8 its size)', async () => {
  // Each iteration holds 4 x 32 MB of temporaries at once, above V8's 64 MB external-memory trigger.
  const churn = (report: boolean): void => {
    for (let i = 0; i < 12; i++) {
      tidy(() => {
        const prev = setExternalReporting(report); // report = true: the old behaviour, for contrast
        try {
          let x = Tensor.zeros([8 * 1024 * 1024]); // 32 MB
          for (let j = 0; j < 3; j++) x = x.add(1);
          return x.sum().item();
        } finally {
          setExternalReporting(prev);
        }
      });
    }
  };
  const before = await majorGcs(() => churn(true));
  const after = await majorGcs(() => churn(false));
  console.log(`full GCs in 12 iterations: ${before} reporting each temporary, ${after} as tidy does now`);
  assert.ok(before >= 3, `reporting each temporary: ${before} full GCs in 12 iterations (expected several: the contrast this test relies on)`);
  assert.ok(after <= 1, `scope temporaries: ${after} full GCs in 12 iterations, expected none (at most 1 unrelated)`);
});
