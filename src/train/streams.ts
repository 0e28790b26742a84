/**
 * Seeded random streams of the training loop, derived from (seed, stream, index) rather than
 * carried forward. The data order of epoch e and the modality dropout of micro-batch m then
 * depend only on those numbers, so (seed, epoch, batchInEpoch, step) is the complete state of the
 * loop's data randomness and a resume reproduces it exactly without serializing a generator.
 *
 * @example
 *   const order = epochRng(7, 3).shuffle([...indices]); // same for every run with seed 7, epoch 3
 */
import { Rng } from '../data/rng.js';

const EPOCH = 0;
const DROPOUT = 1;

/** Independent generator number `index` of stream `stream` (0 or 1) for `seed`. */
function derived(seed: number, stream: number, index: number): Rng {
  if (!Number.isInteger(index) || index < 0 || index >= 2 ** 31) throw new Error(`rng stream index must be an integer in [0, 2^31), got ${index}`);
  // A fresh Rng(seed)'s first draw is fixed, and fork mixes the salt with an odd multiplier
  // (a bijection mod 2^32), so distinct (stream, index) give distinct child seeds.
  return new Rng(seed).fork(index * 2 + stream);
}

/** The generator handed to BatchSource.batchesForEpoch for `epoch`. */
export function epochRng(seed: number, epoch: number): Rng {
  return derived(seed, EPOCH, epoch);
}

/** The modality-dropout generator of global micro-batch `microIndex` (step * accumSteps + k). */
export function dropoutRng(seed: number, microIndex: number): Rng {
  return derived(seed, DROPOUT, microIndex);
}
