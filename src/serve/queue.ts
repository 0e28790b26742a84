/**
 * The inference queue: model work runs at most `concurrency` jobs at once (default 1: libtorch
 * already spreads one forward pass over every core) and at most `maxQueue` requests wait; one past
 * that is refused at once with a 503 (shed load early rather than let latency grow without bound).
 *
 * Dynamic batching (as TorchServe's and Triton's): a request submitted to a lane (grade, image
 * embedding, text embedding) waits for others of the same lane, and up to `maxBatch` of them run as
 * one job, i.e. one forward pass. A batch leaves when it is full, or `batchWindowMs` after its oldest
 * request arrived or, when the model was busy then, after the model became free (requests that
 * arrived during a run are still being read and decoded when it ends: the run held the event loop).
 * The oldest waiting request decides which lane goes next (FIFO across lanes). `maxBatch` 1 is the unbatched server: every request alone, in
 * arrival order, without waiting (the window is then irrelevant). A batch that fails is run again one
 * request at a time, so a bad request fails alone.
 *
 * Each job starts from setImmediate, so between two synchronous model calls the event loop gets a
 * turn to accept connections, parse uploads and answer /healthz.
 *
 * @example
 *   const q = new InferenceQueue({ concurrency: 1, maxQueue: 64, maxBatch: 8, batchWindowMs: 5 });
 *   const grade: BatchLane<GradeInput, GradeOutput> = { name: 'grade', run: (xs) => engine.gradeBatch(xs, { attention: true }) };
 *   const out = await q.submit(grade, input); // answered with its own row of a batch
 *   const other = await q.run(() => somethingAlone()); // a job of its own, never batched
 */
import { HttpError } from './errors.js';

export interface QueueOptions {
  /** Jobs (batches) running at once (>= 1). */
  concurrency: number;
  /** Requests allowed to wait (>= 0); one more is refused with 503. */
  maxQueue: number;
  /** Most requests in one batch (>= 1; default 1 = no batching). */
  maxBatch?: number;
  /** Longest wait, in ms, of a batch's first request for others to join it (>= 0; default 0). */
  batchWindowMs?: number;
  /** Called as each batch starts, with its lane's name and its size (for /metrics). */
  onBatch?: (lane: string, size: number) => void;
}

/** A kind of request that can be batched: `run` answers a batch, one output per input, in order. */
export interface BatchLane<I, O> {
  /** For /metrics, e.g. 'grade'. */
  readonly name: string;
  run(inputs: readonly I[]): readonly O[] | Promise<readonly O[]>;
}

interface Entry {
  /** null = a lone job (`run`): `input` is its function. */
  lane: BatchLane<unknown, unknown> | null;
  input: unknown;
  cancelled?: () => boolean;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
  /** performance.now() at submission. */
  at: number;
}

export class InferenceQueue {
  private waiting: Entry[] = [];
  private active = 0;
  private timer: NodeJS.Timeout | null = null;
  /** Lanes with a batch about to start (launched, not yet taken its requests). */
  private readonly scheduled = new Set<BatchLane<unknown, unknown>>();
  /** performance.now() when a running job last finished (its slot freed). */
  private freeAt = -Infinity;
  readonly maxBatch: number;
  readonly batchWindowMs: number;
  /** Requests refused because the queue was full (for /metrics). */
  rejected = 0;
  /** Requests finished (ok or failed). */
  completed = 0;
  /** Requests dropped unstarted because their client had gone (see run's `cancelled`). */
  dropped = 0;
  /** Batches started (lone jobs included). */
  batches = 0;

  constructor(readonly opts: QueueOptions) {
    if (!Number.isInteger(opts.concurrency) || opts.concurrency < 1) throw new Error(`InferenceQueue: concurrency ${opts.concurrency}; expected an integer >= 1`);
    if (!Number.isInteger(opts.maxQueue) || opts.maxQueue < 0) throw new Error(`InferenceQueue: maxQueue ${opts.maxQueue}; expected an integer >= 0`);
    this.maxBatch = opts.maxBatch ?? 1;
    this.batchWindowMs = opts.batchWindowMs ?? 0;
    if (!Number.isInteger(this.maxBatch) || this.maxBatch < 1) throw new Error(`InferenceQueue: maxBatch ${this.maxBatch}; expected an integer >= 1`);
    if (!(this.batchWindowMs >= 0) || !Number.isFinite(this.batchWindowMs)) throw new Error(`InferenceQueue: batchWindowMs ${this.batchWindowMs}; expected a finite number >= 0`);
  }

  /** Requests waiting (not yet started). */
  get depth(): number {
    return this.waiting.length;
  }

  /** Jobs (batches) running now. */
  get running(): number {
    return this.active;
  }

  /**
   * Runs `fn` alone when a slot frees up; rejects with a 503 HttpError when the queue is full.
   * `cancelled` is asked when the job's turn comes: true (its client disconnected) drops the job
   * unstarted, so a burst of abandoned requests does not keep the model busy for nobody.
   */
  run<T>(fn: () => T | Promise<T>, cancelled?: () => boolean): Promise<T> {
    return this.enqueue<T>(null, fn, cancelled);
  }

  /**
   * Answers `input` with its own output of a batch of `lane` (see the class comment); 503 when the
   * queue is full, 499 when `cancelled` says its client has gone before the batch starts.
   */
  submit<I, O>(lane: BatchLane<I, O>, input: I, cancelled?: () => boolean): Promise<O> {
    return this.enqueue<O>(lane as BatchLane<unknown, unknown>, input, cancelled);
  }

  private enqueue<T>(lane: BatchLane<unknown, unknown> | null, input: unknown, cancelled?: () => boolean): Promise<T> {
    if (this.active >= this.opts.concurrency && this.waiting.length >= this.opts.maxQueue) {
      this.rejected++;
      return Promise.reject(new HttpError(503, 'queue_full',
        `the server is busy: ${this.active} inference job(s) running and ${this.waiting.length} waiting (the limit); retry shortly`,
        { 'retry-after': '1' }));
    }
    return new Promise<T>((resolve, reject) => {
      this.waiting.push({ lane, input, cancelled, resolve: resolve as (v: unknown) => void, reject, at: performance.now() });
      this.pump();
    });
  }

  /** Rejects (499) and removes the waiting requests whose client has gone. */
  private dropCancelled(entries: Entry[]): Entry[] {
    return entries.filter((e) => {
      if (e.cancelled?.() !== true) return true;
      this.dropped++;
      e.reject(new HttpError(499, 'client_closed', 'the client closed the connection before its turn'));
      return false;
    });
  }

  /** The live waiting requests of `lane`, oldest first, at most `limit`; those whose client has gone are dropped (their turn came). */
  private lanePeek(lane: BatchLane<unknown, unknown>, limit: number): Entry[] {
    const out: Entry[] = [];
    const gone = new Set<Entry>();
    for (const e of this.waiting) {
      if (out.length === limit) break;
      if (e.lane !== lane) continue;
      if (e.cancelled?.() === true) gone.add(e);
      else out.push(e);
    }
    if (gone.size > 0) {
      this.waiting = this.waiting.filter((e) => !gone.has(e));
      this.dropCancelled([...gone]);
    }
    return out;
  }

  private pump(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    while (this.active < this.opts.concurrency) {
      // The oldest request not already promised to a batch that is about to start.
      const head = this.waiting.find((e) => e.lane === null || !this.scheduled.has(e.lane));
      if (head === undefined) return;
      if (head.lane === null) {
        this.waiting = this.waiting.filter((e) => e !== head);
        if (this.dropCancelled([head]).length === 1) this.launch(null, head);
        continue;
      }
      const ready = this.lanePeek(head.lane, this.maxBatch).length;
      if (ready === 0) continue; // all of them had gone
      // The window opens when the head arrives or, if the model was busy then, when it became free:
      // requests that arrived meanwhile are still being read and decoded (the model's synchronous run
      // held the event loop), and a window that had already closed would leave them for the next batch.
      const wait = Math.max(head.at, this.freeAt) + this.batchWindowMs - performance.now();
      if (ready < this.maxBatch && wait > 0) {
        this.timer = setTimeout(() => this.pump(), Math.ceil(wait)); // more may join meanwhile (each arrival pumps too)
        return;
      }
      this.scheduled.add(head.lane);
      this.launch(head.lane, null);
    }
  }

  /**
   * Holds a slot and runs, from setImmediate, the lone job or a batch of `lane`. The batch is taken
   * only then, so requests that reached the queue in the meantime (the same turn of the event loop)
   * join it.
   */
  private launch(lane: BatchLane<unknown, unknown> | null, lone: Entry | null): void {
    this.active++;
    setImmediate(() => {
      let batch: Entry[];
      if (lane === null) {
        batch = [lone as Entry];
      } else {
        this.scheduled.delete(lane);
        batch = this.lanePeek(lane, this.maxBatch);
        const taken = new Set(batch);
        this.waiting = this.waiting.filter((e) => !taken.has(e));
        if (this.active < this.opts.concurrency) this.pump(); // another slot may take the lane's next requests
      }
      if (batch.length === 0) { // every one of them had gone
        this.active--;
        this.pump();
        return;
      }
      this.batches++;
      if (lane !== null) this.opts.onBatch?.(lane.name, batch.length);
      // The slot is freed before the callers resume, so `running` is exact when they look.
      const finish = (): void => {
        this.active--;
        this.freeAt = performance.now();
        this.completed += batch.length;
        this.pump();
      };
      Promise.resolve()
        .then(() => (lane === null ? [(lone?.input as () => unknown)()] : runLane(lane, batch.map((e) => e.input))))
        .then((outs) => Promise.all(outs))
        .then((outs) => {
          finish();
          batch.forEach((e, i) => e.resolve(outs[i]));
        }, (err: unknown) => {
          if (lane === null || batch.length === 1) {
            finish();
            for (const e of batch) e.reject(err);
            return;
          }
          // One request may have failed the batch: each alone, so only a bad one fails.
          const alone = batch.map((e) => Promise.resolve().then(() => runLane(lane, [e.input])).then((o) => o[0]));
          void Promise.allSettled(alone).then((rs) => {
            finish();
            rs.forEach((r, i) => (r.status === 'fulfilled' ? batch[i]?.resolve(r.value) : batch[i]?.reject(r.reason)));
          });
        });
    });
  }
}

/** Runs a lane on inputs, checking it answered each one. */
async function runLane(lane: BatchLane<unknown, unknown>, inputs: unknown[]): Promise<readonly unknown[]> {
  const outs = await lane.run(inputs);
  if (outs.length !== inputs.length) throw new Error(`InferenceQueue: lane ${lane.name} answered ${outs.length} outputs for ${inputs.length} inputs`);
  return outs;
}
