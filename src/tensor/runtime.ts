/**
 * Engine-wide settings: seeding, RNG state (for exact resume), threads, CUDA.
 */
import { native, type Handle } from './native.js';
import { Tensor, type DType } from './tensor.js';

const fn = <A extends unknown[], R>(name: string) => native[name] as (...a: A) => R;

/** Seeds libtorch's generators (CPU and CUDA). */
export function manualSeed(seed: number): void {
  fn<[number], void>('manualSeed')(seed);
}
/** The CPU generator's state as bytes (store in checkpoints). */
export function getRngState(): Uint8Array {
  const t = new Tensor(fn<[], Handle>('getRngState')());
  try {
    return t.toArray() as Uint8Array;
  } finally {
    t.dispose();
  }
}
export function setRngState(state: Uint8Array): void {
  const t = Tensor.from(state, [state.length], 'uint8');
  try {
    fn<[Handle], void>('setRngState')(t.handle);
  } finally {
    t.dispose();
  }
}
export function setNumThreads(n: number): void {
  fn<[number], void>('setNumThreads')(n);
}
export function getNumThreads(): number {
  return fn<[], number>('getNumThreads')();
}
export function cudaIsAvailable(): boolean {
  return fn<[], boolean>('cudaIsAvailable')();
}
export function cudaDeviceCount(): number {
  return fn<[], number>('cudaDeviceCount')();
}
/** Waits for queued CUDA work (no-op without CUDA); use before timing. */
export function cudaSynchronize(): void {
  fn<[], void>('cudaSynchronize')();
}
/** libtorch version the addon was built against, e.g. "1.13.0". */
export function torchVersion(): string {
  return fn<[], string>('version')();
}

/**
 * Switches libtorch's autocast for a device type on or off (the dtype for lower-precision ops,
 * default bfloat16); returns the previous on/off state. Use withAutocast in src/train/precision.ts.
 */
export function nativeAutocast(device: 'cpu' | 'cuda', enabled: boolean, dtype: DType = 'bfloat16'): boolean {
  return fn<[string, boolean, string], boolean>('setAutocast')(device, enabled, dtype);
}

/** The addon's CPU allocator (native/allocator.cc): caching or libtorch's default, and its counters. */
export interface CpuAllocatorInfo {
  /** True when large CPU buffers are cached for reuse (the default); false with RETALIGN_CPU_CACHE_MB=0. */
  caching: boolean;
  /** The cache's cap in bytes (RETALIGN_CPU_CACHE_MB, default 2048 MiB). */
  capBytes?: number;
  /** Large allocations served from the cache, and those that went to glibc. */
  hits?: number;
  misses?: number;
  /** Bytes held in the cache (freed tensors' blocks), and in live large blocks. */
  cachedBytes?: number;
  liveBytes?: number;
  /** Cached blocks returned to glibc: the cache at its cap, or room made for a block of a new size. */
  released?: number;
  /** The most bytes in live large blocks at once; live + cached stays within twice it. */
  peakLiveBytes?: number;
}

/**
 * What the CPU allocator did so far.
 * @example cpuAllocator() // { caching: true, capBytes: 2147483648, hits: 1520, misses: 38, cachedBytes: 0, liveBytes: 0, released: 0 }
 */
export function cpuAllocator(): CpuAllocatorInfo {
  return fn<[], CpuAllocatorInfo>('cpuAllocator')();
}
