/**
 * Loads the libtorch addon (native/build/retalign.node) and describes its surface.
 * This module and tensor.ts are the only TypeScript that knows libtorch exists.
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Opaque handle owned by the addon; holds one torch::Tensor. */
export interface Handle {
  readonly __handle: unique symbol;
}

type H = Handle;
type HS = H | number | boolean;
/** Structural type of the addon's exports (see native/retalign.cc). */
export interface Native {
  fromArray(data: ArrayBufferView, shape: number[], dtype: string): H;
  toArray(t: H): Float32Array | Float64Array | BigInt64Array | Int32Array | Int16Array | Int8Array | Uint8Array | Uint16Array;
  zeros(shape: number[], dtype?: string, device?: string): H;
  ones(shape: number[], dtype?: string, device?: string): H;
  full(shape: number[], value: number | boolean, dtype?: string, device?: string): H;
  rand(shape: number[], dtype?: string, device?: string): H;
  randn(shape: number[], dtype?: string, device?: string): H;
  randperm(n: number): H;
  arange(start: number, end: number, step: number, dtype?: string, device?: string): H;
  shape(t: H): number[];
  dtype(t: H): string;
  device(t: H): string;
  item(t: H): number | boolean;
  to(t: H, device: string | undefined, dtype: string | undefined): H;
  dispose(t: H): void;
  isDisposed(t: H): boolean;
  liveCount(): number;
  [unary: string]: unknown;
}

export interface NativeAdamW {
  step(): void;
  zeroGrad(): void;
  setLr(lr: number, group?: number): void;
  getLr(group?: number): number;
  saveState(): Buffer;
  loadState(b: Buffer): void;
}

function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 8; i++) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'native'))) return dir;
    dir = dirname(dir);
  }
  throw new Error('retalign: cannot find the package root (a folder with package.json and native/)');
}

function load(): Native {
  const path = process.env.RETALIGN_NATIVE ?? join(packageRoot(), 'native', 'build', 'retalign.node');
  if (!existsSync(path)) {
    throw new Error(
      `retalign: the libtorch addon is not built (${path} is missing). Run 'make build' ` +
        `(or 'node native/build.mjs'); it needs libtorch: apt-get install -y libtorch-dev libopenblas0-pthread, ` +
        `or LIBTORCH=<dir>.`);
  }
  const require = createRequire(import.meta.url);
  return require(path) as Native;
}

/** The addon, loaded once. */
export const native: Native = load();

/** Typed accessor for the addon's flat functions; throws if a name is missing (a stale build). */
export function fn<A extends unknown[], R>(name: string): (...args: A) => R {
  const f = native[name];
  if (typeof f !== 'function') throw new Error(`retalign addon has no function '${name}': rebuild with 'make build'`);
  return f as (...args: A) => R;
}

export const AdamWCtor = native['AdamW'] as new (
  groups: { params: H[]; lr: number; weightDecay: number }[],
  o: { beta1: number; beta2: number; eps: number },
) => NativeAdamW;

export type { HS };
