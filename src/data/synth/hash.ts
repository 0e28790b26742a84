/**
 * Order-independent seeds: a generator for "patient 17, right eye" is derived by hashing
 * (seed, 17, 0) rather than by forking a shared stream, so that rendering any subset of images, in
 * any order or in parallel, gives the same pixels.
 */
import { Rng } from '../rng.js';

/** Mix integers into one 32-bit seed (murmur3 finalizer per step). @example seedOf(7, 12, 1) */
export function seedOf(...parts: number[]): number {
  let h = 0x811c9dc5;
  for (const p of parts) {
    h = Math.imul(h ^ (p >>> 0), 0x01000193) >>> 0;
    h ^= h >>> 16;
    h = Math.imul(h, 0x85ebca6b) >>> 0;
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35) >>> 0;
    h ^= h >>> 16;
  }
  return h >>> 0;
}

/** A generator seeded by `seedOf(...parts)`. @example rngOf(seed, patient, eye).uniform() */
export function rngOf(...parts: number[]): Rng {
  return new Rng(seedOf(...parts));
}

/** Salts naming the independent streams (readable in code, stable across versions). */
export const SALT = {
  cohort: 1,
  anatomy: 2,
  lesions: 3,
  view: 4,
  deepeyenet: 5,
  split: 6,
  note: 7,
} as const;
