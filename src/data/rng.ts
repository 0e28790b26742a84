/**
 * Seeded pseudo-random generator (mulberry32 + helpers). All data code draws from one of these,
 * passed in explicitly; Math.random is never used.
 *
 * @example
 *   const r = new Rng(7); r.uniform(); r.int(0, 10); r.normal(0, 1);
 */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = (seed >>> 0) ^ 0x9e3779b9;
    for (let i = 0; i < 4; i++) this.next32();
  }
  /** Next raw 32-bit unsigned integer. */
  next32(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }
  /** Uniform in [0, 1). */
  uniform(): number {
    return this.next32() / 4294967296;
  }
  /** Uniform in [lo, hi). */
  range(lo: number, hi: number): number {
    return lo + (hi - lo) * this.uniform();
  }
  /** Integer in [lo, hi] inclusive. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.uniform() * (hi - lo + 1));
  }
  /** Standard normal via Box-Muller, scaled. */
  normal(mean = 0, sd = 1): number {
    const u = Math.max(this.uniform(), 1e-12);
    const v = this.uniform();
    return mean + sd * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
  /** True with probability p. */
  bernoulli(p: number): boolean {
    return this.uniform() < p;
  }
  /** Pick one element. Throws on an empty array. */
  pick<T>(xs: readonly T[]): T {
    if (xs.length === 0) throw new Error('Rng.pick: empty array');
    return xs[Math.floor(this.uniform() * xs.length)] as T;
  }
  /** Index drawn from unnormalized weights. */
  weighted(weights: readonly number[]): number {
    const total = weights.reduce((a, b) => a + b, 0);
    let x = this.uniform() * total;
    for (let i = 0; i < weights.length; i++) {
      x -= weights[i] as number;
      if (x < 0) return i;
    }
    return weights.length - 1;
  }
  /** In-place Fisher-Yates shuffle; returns the array. */
  shuffle<T>(xs: T[]): T[] {
    for (let i = xs.length - 1; i > 0; i--) {
      const j = Math.floor(this.uniform() * (i + 1));
      const t = xs[i] as T;
      xs[i] = xs[j] as T;
      xs[j] = t;
    }
    return xs;
  }
  /** A child generator with an independent stream, derived deterministically. */
  fork(salt: number): Rng {
    return new Rng((this.next32() ^ Math.imul(salt + 1, 0x85ebca6b)) >>> 0);
  }
}
