/**
 * Deterministic memory management for tensors (like tf.tidy).
 *
 * Every Tensor created while a `tidy` scope is open is registered in it; when the scope's function
 * returns, every registered tensor that is not part of the return value is disposed. Returned
 * tensors move to the enclosing scope. Tensors created outside any scope (parameters, long-lived
 * state) are untracked and live until `dispose()` or garbage collection.
 *
 * Only untracked tensors tell V8 their size (the GC safety net needs it to collect a forgotten one
 * under memory pressure): while a scope is open new tensors do not, and those that leave the last
 * scope (returned from the outermost tidy, or `keep`) do then. Reporting every temporary made V8 run
 * several full GCs per training step of the small preset, for memory that tidy frees anyway.
 *
 * @example
 *   const loss = tidy(() => logits.logSoftmax(-1).mul(target).sum().neg()); // temporaries freed
 */
import { native } from './native.js';

/** Anything with a dispose method that scopes can track (Tensor, without importing it). */
export interface Disposable {
  dispose(): void;
}

const stack: Set<Disposable>[] = [];
const setExternalReporting = native['setExternalReporting'] as (on: boolean) => boolean;
const reportExternal = native['reportExternal'] as (handles: unknown[]) => void;

/** Reports to V8 the memory of tensors that left the last scope (now only the GC or dispose() frees them). */
function reportUntracked(ts: Iterable<Disposable>): void {
  const handles: unknown[] = [];
  for (const t of ts) if ('handle' in t) handles.push((t as { handle: unknown }).handle);
  if (handles.length > 0) reportExternal(handles);
}

function push(scope: Set<Disposable>): void {
  if (stack.length === 0) setExternalReporting(false);
  stack.push(scope);
}

function pop(): void {
  stack.pop();
  if (stack.length === 0) setExternalReporting(true);
}

/** Internal: called by the Tensor constructor. */
export function track(t: Disposable): void {
  const top = stack[stack.length - 1];
  if (top !== undefined) top.add(t);
}

/** Removes a tensor from the open scope so it outlives it. Returns it. */
export function keep<T extends Disposable>(t: T): T {
  const top = stack[stack.length - 1];
  if (top !== undefined) {
    top.delete(t);
    reportUntracked([t]);
  }
  return t;
}

function collect(x: unknown, out: Set<Disposable>, depth = 0): void {
  if (x === null || x === undefined || depth > 6) return;
  if (typeof x !== 'object') return;
  if (typeof (x as { dispose?: unknown }).dispose === 'function' && 'handle' in (x as object)) {
    out.add(x as Disposable);
    return;
  }
  if (Array.isArray(x)) {
    for (const v of x) collect(v, out, depth + 1);
  } else if (x instanceof Map) {
    for (const v of x.values()) collect(v, out, depth + 1);
  } else if (Object.getPrototypeOf(x) === Object.prototype) {
    for (const v of Object.values(x)) collect(v, out, depth + 1);
  }
}

/**
 * Runs `fn`, then disposes every tensor it created that is not reachable from its return value
 * (through arrays, Maps and plain objects).
 */
export function tidy<R>(fn: () => R): R {
  const scope = new Set<Disposable>();
  push(scope);
  let result: R;
  try {
    result = fn();
  } catch (e) {
    pop();
    for (const t of scope) t.dispose();
    throw e;
  }
  pop();
  if (result instanceof Promise) {
    throw new Error('tidy: the function returned a Promise; tidy scopes are synchronous');
  }
  const kept = new Set<Disposable>();
  collect(result, kept);
  const parent = stack[stack.length - 1];
  const untracked: Disposable[] = [];
  for (const t of scope) {
    if (!kept.has(t)) t.dispose();
    else if (parent !== undefined) parent.add(t);
    else untracked.push(t);
  }
  reportUntracked(untracked);
  return result;
}

/** Disposes every tensor reachable from `x` (arrays, Maps, plain objects). */
export function disposeAll(x: unknown): void {
  const s = new Set<Disposable>();
  collect(x, s);
  for (const t of s) t.dispose();
}

/** Number of tensors currently held by JS and not disposed (addon-wide). */
export function liveTensors(): number {
  return native.liveCount();
}

/** Runs `fn` with autograd recording off (torch.no_grad). */
export function noGrad<R>(fn: () => R): R {
  const setGrad = native['setGradEnabled'] as (on: boolean) => boolean;
  const prev = setGrad(false);
  try {
    return fn();
  } finally {
    setGrad(prev);
  }
}

/** Whether autograd is recording. */
export function isGradEnabled(): boolean {
  return (native['isGradEnabled'] as () => boolean)();
}
