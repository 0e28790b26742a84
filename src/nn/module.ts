/**
 * Module: the base of every layer and model. It owns named parameters (registered in a stable
 * order, which is also the checkpoint order), child modules, a train/eval flag, state-dict
 * save/load with precise errors, and dtype/device moves.
 *
 * Parameters are created by the subclass constructor (from libtorch's global generator: call
 * `manualSeed(seed)` before building to get identical weights) and handed to `param()`, which takes
 * them out of any open tidy scope and turns on gradients. A parameter's registered name must be the
 * name of the field that holds it: `to()` swaps the field for the converted tensor.
 *
 * @example
 *   class Affine extends Module {
 *     weight: Tensor;
 *     constructor(d: number) { super(); this.weight = this.param('weight', Tensor.ones([d])); }
 *     forward(x: Tensor): Tensor { return x.mul(this.weight); } // (B, d)
 *   }
 *   const m = new Affine(4); m.namedParameters(); // Map { 'weight' => Tensor([4]) }
 */
import { keep, noGrad, Tensor, tidy, type Device, type DType } from '../tensor/index.js';
import type { RawTensor } from '../tensor/io/raw.js';

/** A checkpoint value: an engine tensor or a file-read RawTensor. */
export type StateValue = Tensor | RawTensor;

export interface ParamOptions {
  /** Whether AdamW weight decay applies; default: true for matrices (ndim >= 2), false otherwise. */
  decay?: boolean;
}

export interface LoadOptions {
  /** Missing and unexpected keys are errors (default true). Shape/dtype mismatches always are. */
  strict?: boolean;
  /** Names the source in error messages (e.g. a file path). */
  source?: string;
}

type Entry = { kind: 'param'; name: string; decay: boolean; buffer?: true } | { kind: 'child'; name: string; module: Module };

const FLOAT_DTYPES: readonly string[] = ['float32', 'float64', 'float16', 'bfloat16'];

export abstract class Module {
  private readonly entries: Entry[] = [];
  private isTraining = true;

  /** Registers a parameter held in the field `name`; returns it (now a grad-requiring leaf). */
  protected param(name: string, t: Tensor, o: ParamOptions = {}): Tensor {
    this.checkName(name);
    keep(t);
    t.requireGrad(true);
    this.entries.push({ kind: 'param', name, decay: o.decay ?? t.ndim >= 2 });
    return t;
  }

  /**
   * Registers a buffer held in the field `name`: state that is saved and loaded with the parameters
   * (a checkpoint key like any parameter) but is not trained (no grad, so the optimizer leaves it
   * out) and never decays, e.g. a BatchNorm's running statistics. Update it in place (copy_).
   */
  protected buffer(name: string, t: Tensor): Tensor {
    this.checkName(name);
    keep(t);
    t.requireGrad(false);
    this.entries.push({ kind: 'param', name, decay: false, buffer: true });
    return t;
  }

  /** Registers a child module under `name` (the prefix of its parameter names); returns it. */
  protected child<M extends Module>(name: string, m: M): M {
    this.checkName(name);
    this.entries.push({ kind: 'child', name, module: m });
    return m;
  }

  /** Registers a list of children as `name.0`, `name.1`, ...; returns the list. */
  protected childList<M extends Module>(name: string, ms: M[]): M[] {
    ms.forEach((m, i) => this.child(`${name}.${i}`, m));
    return ms;
  }

  private checkName(name: string): void {
    if (this.entries.some((e) => e.name === name)) throw new Error(`${this.constructor.name}: '${name}' is registered twice`);
  }

  /** Parameters by dotted name, depth-first in registration order (the checkpoint keys). */
  namedParameters(prefix = ''): Map<string, Tensor> {
    const out = new Map<string, Tensor>();
    this.visit(prefix, (name, _m, field) => out.set(name, field));
    return out;
  }

  /** The parameters that weight decay applies to, by name. */
  decayFlags(prefix = ''): Map<string, boolean> {
    const out = new Map<string, boolean>();
    this.visit(prefix, (name, _m, _t, decay) => out.set(name, decay));
    return out;
  }

  private visit(prefix: string, f: (name: string, owner: Module, t: Tensor, decay: boolean, field: string) => void): void {
    for (const e of this.entries) {
      const full = prefix === '' ? e.name : `${prefix}.${e.name}`;
      if (e.kind === 'child') e.module.visit(full, f);
      else f(full, this, this.field(e.name), e.decay, e.name);
    }
  }

  private field(name: string): Tensor {
    const v = (this as unknown as Record<string, unknown>)[name];
    if (!(v instanceof Tensor)) {
      throw new Error(`${this.constructor.name}: parameter '${name}' is not held in a field of the same name`);
    }
    return v;
  }

  /** Total number of scalar parameters. */
  numParameters(): number {
    let n = 0;
    for (const t of this.namedParameters().values()) n += t.numel;
    return n;
  }

  get training(): boolean {
    return this.isTraining;
  }
  /** Sets the train (dropout on) / eval flag here and in every child; returns this. */
  train(on = true): this {
    this.isTraining = on;
    for (const e of this.entries) if (e.kind === 'child') e.module.train(on);
    return this;
  }
  eval(): this {
    return this.train(false);
  }

  /**
   * The live parameters by name (no copies: do not dispose them; values change as training runs).
   * @example writeCheckpoint(model.stateDict())
   */
  stateDict(): Map<string, Tensor> {
    return this.namedParameters();
  }

  /**
   * Copies values into the parameters. Every problem is reported at once: missing keys, unexpected
   * keys, shape mismatches, non-float values. Values are converted to each parameter's dtype.
   * @example model.loadStateDict(readSafetensors('vit.safetensors'))
   */
  loadStateDict(sd: ReadonlyMap<string, StateValue>, o: LoadOptions = {}): void {
    const strict = o.strict ?? true;
    const params = this.namedParameters();
    const problems: string[] = [];
    const missing = [...params.keys()].filter((k) => !sd.has(k));
    const unexpected = [...sd.keys()].filter((k) => !params.has(k));
    if (strict && missing.length > 0) problems.push(`missing keys (${missing.length}): ${list(missing)}`);
    if (strict && unexpected.length > 0) problems.push(`unexpected keys (${unexpected.length}): ${list(unexpected)}`);
    for (const [k, p] of params) {
      const v = sd.get(k);
      if (v === undefined) continue;
      const shape = v instanceof Tensor ? v.shape : v.shape;
      const dtype = v instanceof Tensor ? v.dtype : v.dtype;
      if (!sameShape(shape, p.shape)) problems.push(`${k}: shape [${shape.join(', ')}] in the state dict, [${p.shape.join(', ')}] in the model`);
      else if (!FLOAT_DTYPES.includes(dtype)) problems.push(`${k}: dtype ${dtype} in the state dict; expected a floating-point tensor`);
    }
    if (problems.length > 0) {
      const where = o.source === undefined ? '' : ` from ${o.source}`;
      throw new Error(`${this.constructor.name}.loadStateDict${where}:\n  ${problems.join('\n  ')}`);
    }
    noGrad(() => {
      for (const [k, p] of params) {
        const v = sd.get(k);
        if (v === undefined) continue;
        tidy(() => {
          const src = v instanceof Tensor ? v : Tensor.from(v.data, v.shape, v.dtype as DType);
          p.copy_(src);
        });
      }
    });
  }

  /**
   * Converts every parameter to a dtype and/or device (new leaf tensors; the old ones are freed).
   * @example model.to('float64') // for finite-difference gradient checks
   */
  to(deviceOrDtype: Device | DType, dtype?: DType): this {
    noGrad(() => {
      for (const e of this.entries) {
        if (e.kind === 'child') {
          e.module.to(deviceOrDtype, dtype);
          continue;
        }
        const old = this.field(e.name);
        const moved = keep(old.to(deviceOrDtype, dtype));
        moved.requireGrad(e.buffer !== true);
        (this as unknown as Record<string, unknown>)[e.name] = moved;
        if (moved.handle !== old.handle) old.dispose();
      }
    });
    return this;
  }

  /** Frees every parameter now. The module is unusable afterwards. */
  dispose(): void {
    for (const t of this.namedParameters().values()) t.dispose();
  }
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

function list(keys: string[]): string {
  const shown = keys.slice(0, 12).join(', ');
  return keys.length > 12 ? `${shown}, ... (${keys.length - 12} more)` : shown;
}
