/**
 * Per-client rate limit: one token bucket per client address. A bucket holds up to `burst`
 * tokens and refills at `perMinute / 60` tokens a second; each request takes one; an empty bucket
 * means 429 with a Retry-After of the seconds until the next token.
 *
 * @example
 *   const rl = new RateLimiter({ perMinute: 120, burst: 20 });
 *   const r = rl.take('10.0.0.7'); // { ok: true } or { ok: false, retryAfterS: 1 }
 */
export interface RateLimitOptions {
  /** Sustained requests per minute per client (> 0). */
  perMinute: number;
  /** Requests a client may make at once before the sustained rate applies (>= 1). */
  burst: number;
}

interface Bucket {
  tokens: number;
  /** ms timestamp of the last refill. */
  at: number;
}

/** Buckets kept before full (idle) ones are dropped. */
const MAX_CLIENTS = 10_000;

export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private readonly perMs: number;

  constructor(readonly opts: RateLimitOptions, private readonly now: () => number = Date.now) {
    if (!(opts.perMinute > 0) || !Number.isFinite(opts.perMinute)) throw new Error(`rate limit: perMinute ${opts.perMinute}; expected a number > 0`);
    if (!Number.isInteger(opts.burst) || opts.burst < 1) throw new Error(`rate limit: burst ${opts.burst}; expected an integer >= 1`);
    this.perMs = opts.perMinute / 60_000;
  }

  /** Takes one token from `client`'s bucket. */
  take(client: string): { ok: true } | { ok: false; retryAfterS: number } {
    const t = this.now();
    let b = this.buckets.get(client);
    if (b === undefined) {
      if (this.buckets.size >= MAX_CLIENTS) this.prune(t);
      b = { tokens: this.opts.burst, at: t };
      this.buckets.set(client, b);
    } else {
      b.tokens = Math.min(this.opts.burst, b.tokens + (t - b.at) * this.perMs);
      b.at = t;
    }
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return { ok: true };
    }
    return { ok: false, retryAfterS: Math.max(1, Math.ceil((1 - b.tokens) / this.perMs / 1000)) };
  }

  /** Drops buckets that have refilled completely (their clients are idle). */
  private prune(t: number): void {
    for (const [k, b] of this.buckets) {
      if (b.tokens + (t - b.at) * this.perMs >= this.opts.burst) this.buckets.delete(k);
    }
  }
}
