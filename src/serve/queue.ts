/**
 * The inference queue: model work runs at most `concurrency` jobs at once (default 1: libtorch
 * already spreads one forward pass over every core) and at most `maxQueue` jobs wait; a job past
 * that is refused at once with a 503 (shed load early rather than let latency grow without bound).
 *
 * Each job starts from setImmediate, so between two synchronous model calls the event loop gets a
 * turn to accept connections, parse uploads and answer /healthz.
 *
 * @example
 *   const q = new InferenceQueue({ concurrency: 1, maxQueue: 64 });
 *   const out = await q.run(() => engine.grade(input, { attention: true }));
 */
import { HttpError } from './errors.js';

export interface QueueOptions {
  /** Jobs running at once (>= 1). */
  concurrency: number;
  /** Jobs allowed to wait (>= 0); one more is refused with 503. */
  maxQueue: number;
}

interface Job {
  fn: () => unknown;
  cancelled?: () => boolean;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

export class InferenceQueue {
  private readonly waiting: Job[] = [];
  private active = 0;
  /** Jobs refused because the queue was full (for /metrics). */
  rejected = 0;
  /** Jobs finished (ok or failed). */
  completed = 0;
  /** Jobs dropped unstarted because their client had gone (see run's `cancelled`). */
  dropped = 0;

  constructor(readonly opts: QueueOptions) {
    if (!Number.isInteger(opts.concurrency) || opts.concurrency < 1) throw new Error(`InferenceQueue: concurrency ${opts.concurrency}; expected an integer >= 1`);
    if (!Number.isInteger(opts.maxQueue) || opts.maxQueue < 0) throw new Error(`InferenceQueue: maxQueue ${opts.maxQueue}; expected an integer >= 0`);
  }

  /** Jobs waiting (not yet started). */
  get depth(): number {
    return this.waiting.length;
  }

  /** Jobs running now. */
  get running(): number {
    return this.active;
  }

  /**
   * Runs `fn` when a slot frees up; rejects with a 503 HttpError when the queue is full.
   * `cancelled` is asked when the job's turn comes: true (its client disconnected) drops the job
   * unstarted, so a burst of abandoned requests does not keep the model busy for nobody.
   */
  run<T>(fn: () => T | Promise<T>, cancelled?: () => boolean): Promise<T> {
    if (this.active >= this.opts.concurrency && this.waiting.length >= this.opts.maxQueue) {
      this.rejected++;
      return Promise.reject(new HttpError(503, 'queue_full',
        `the server is busy: ${this.active} inference job(s) running and ${this.waiting.length} waiting (the limit); retry shortly`,
        { 'retry-after': '1' }));
    }
    return new Promise<T>((resolve, reject) => {
      this.waiting.push({ fn, cancelled, resolve: resolve as (v: unknown) => void, reject });
      this.pump();
    });
  }

  private pump(): void {
    while (this.active < this.opts.concurrency && this.waiting.length > 0) {
      const job = this.waiting.shift() as Job;
      if (job.cancelled?.() === true) {
        this.dropped++;
        job.reject(new HttpError(499, 'client_closed', 'the client closed the connection before its turn'));
        continue;
      }
      this.active++;
      // The slot is freed before the caller resumes, so `running` is exact when it looks.
      const finish = (): void => {
        this.active--;
        this.completed++;
        this.pump();
      };
      setImmediate(() => {
        Promise.resolve()
          .then(job.fn)
          .then((v) => {
            finish();
            job.resolve(v);
          }, (e: unknown) => {
            finish();
            job.reject(e);
          });
      });
    }
  }
}
