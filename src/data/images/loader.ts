/**
 * ImageLoader: a pool of worker threads that decode and preprocess images ahead of the consumer
 * (the training loop keeps the main thread). Augmentation parameters are drawn here from
 * (seed, image index), so outputs are identical whatever the worker count or scheduling.
 *
 * The worker script sits next to this module: worker.js when compiled (dist), worker.ts under tsx
 * (then a bootstrap registers tsx inside the worker first; see spawn).
 *
 * @example
 *   const loader = new ImageLoader({ config: { size: 224 } });
 *   for await (const b of loader.batches(paths, { batchSize: 32, augment: true, seed: 1 })) {
 *     b.data; // Float32Array (b.count, 3, 224, 224)
 *   }
 *   await loader.close();
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { augmentParamsFor, type AugmentParams } from './augment.js';
import { resolveAugmentConfig, resolveImageConfig, type AugmentConfig, type ImageConfig } from './config.js';
import { preprocessImage } from './preprocess.js';
import type { WorkerJob, WorkerResult } from './worker.js';

export interface ImageLoaderOptions {
  /** Preprocessing (travels with the model); defaults: resolveImageConfig({}). */
  config?: Partial<ImageConfig>;
  /** Augmentation ranges used when load/batches ask for augment; defaults: DEFAULT_AUGMENT_CONFIG. */
  augment?: Partial<AugmentConfig>;
  /** Worker threads; 0 = preprocess on the calling thread. Default min(2, cores). */
  workers?: number;
  /** Jobs in flight per worker (overlaps sharp's threaded decode with JS work). Default 2. */
  inflightPerWorker?: number;
}

export interface LoadOptions {
  augment?: boolean;
  /** Seed of the augmentation draws (required for determinism when augment is on). Default 0. */
  seed?: number;
  /** Index of paths[0] in the whole run: image i gets the draw of (seed, startIndex + i). */
  startIndex?: number;
}

/** A batch from `batches`: images start..start+count-1 of the path list, stacked. */
export interface ImageBatch {
  start: number;
  count: number;
  paths: string[];
  /** (count, 3, S, S) row-major. */
  data: Float32Array;
}

interface Pending {
  job: WorkerJob;
  resolve: (x: Float32Array) => void;
  reject: (e: Error) => void;
}

interface Slot {
  worker: Worker;
  inflight: Map<number, Pending>;
  /** Called when inflight becomes empty (close() waits for it). */
  drained?: () => void;
}

export class ImageLoader {
  readonly config: ImageConfig;
  readonly augmentConfig: AugmentConfig;
  readonly workerCount: number;
  private readonly inflightPerWorker: number;
  private readonly slots: Slot[] = [];
  private readonly queue: Pending[] = [];
  private nextId = 0;
  private closed = false;

  constructor(opts: ImageLoaderOptions = {}) {
    this.config = resolveImageConfig(opts.config ?? {}, 'ImageLoader config');
    this.augmentConfig = resolveAugmentConfig(opts.augment ?? {}, 'ImageLoader augment');
    const w = opts.workers ?? Math.min(2, availableParallelism());
    if (!Number.isInteger(w) || w < 0) throw new Error(`ImageLoader: workers is ${w}; expected an integer >= 0`);
    const f = opts.inflightPerWorker ?? 2;
    if (!Number.isInteger(f) || f < 1) throw new Error(`ImageLoader: inflightPerWorker is ${f}; expected an integer >= 1`);
    this.workerCount = w;
    this.inflightPerWorker = f;
    for (let i = 0; i < w; i++) this.slots.push(this.spawn());
  }

  private spawn(): Slot {
    const here = import.meta.url;
    const worker = here.endsWith('.ts')
      ? // Under tsx the worker is TypeScript too. `execArgv: ['--import', 'tsx']` does not reach
        // worker threads on Node 20 ("Unknown file extension .ts"), so a one-line bootstrap
        // registers tsx's ESM hooks inside the worker and then imports worker.ts.
        new Worker(
          `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))})` +
            `.then((m) => { m.register(); return import(${JSON.stringify(new URL('./worker.ts', here).href)}); })`,
          { eval: true, workerData: { config: this.config }, execArgv: [] },
        )
      : // Compiled: worker.js sits next to this file; no inherited flags such as --test.
        new Worker(new URL('./worker.js', here), { workerData: { config: this.config }, execArgv: [] });
    const slot: Slot = { worker, inflight: new Map() };
    worker.unref(); // an idle pool never keeps the process alive; ref() while jobs are in flight
    worker.on('message', (r: WorkerResult) => {
      const p = slot.inflight.get(r.id);
      if (p === undefined) return;
      slot.inflight.delete(r.id);
      if (r.ok) p.resolve(r.data);
      else p.reject(new Error(r.message));
      if (slot.inflight.size === 0) slot.drained?.();
      this.pump();
    });
    const fail = (why: string): void => {
      const lost = [...slot.inflight.values()];
      slot.inflight.clear();
      for (const p of lost) p.reject(new Error(`${p.job.path}: image worker ${why}`));
      slot.drained?.();
      const i = this.slots.indexOf(slot);
      if (i >= 0 && !this.closed) {
        this.slots[i] = this.spawn(); // keep the pool at size; the queue goes on
        this.pump();
      }
    };
    worker.on('error', (e) => fail(`crashed: ${e.message}`));
    // After close() too: a worker that dies while close() waits for its jobs must not leave close() pending.
    worker.on('exit', (code) => fail(`exited with code ${code}`));
    return slot;
  }

  private pump(): void {
    for (;;) {
      const next = this.queue[0];
      if (next === undefined) break;
      let best: Slot | undefined;
      for (const s of this.slots) {
        if (s.inflight.size < this.inflightPerWorker && (best === undefined || s.inflight.size < best.inflight.size)) best = s;
      }
      if (best === undefined) break;
      this.queue.shift();
      best.inflight.set(next.job.id, next);
      best.worker.postMessage(next.job);
    }
    for (const s of this.slots) {
      if (s.inflight.size > 0) s.worker.ref();
      else s.worker.unref();
    }
  }

  private submit(path: string, aug: AugmentParams | null): Promise<Float32Array> {
    if (this.closed) return Promise.reject(new Error(`ImageLoader is closed; cannot load ${path}`));
    if (this.workerCount === 0) return preprocessImage(path, this.config, aug);
    return new Promise((resolve, reject) => {
      this.queue.push({ job: { id: this.nextId++, path, aug }, resolve, reject });
      this.pump();
    });
  }

  /**
   * Preprocesses images in parallel; result i is the (3, S, S) CHW array of paths[i]. Rejects with
   * the first failing file's error (the message names the file).
   * @example const [a, b] = await loader.load(['a.jpg', 'b.png'], { augment: true, seed: 3 });
   */
  load(paths: readonly string[], opts: LoadOptions = {}): Promise<Float32Array[]> {
    const seed = opts.seed ?? 0;
    const start = opts.startIndex ?? 0;
    return Promise.all(
      paths.map((p, i) => this.submit(p, opts.augment === true ? augmentParamsFor(seed, start + i, this.augmentConfig) : null)),
    );
  }

  /**
   * Batches in path order, `prefetch` batches decoded ahead of the one being consumed. Image i of
   * the list gets the augmentation draw of (seed, i) whatever the batch size.
   * @example for await (const b of loader.batches(paths, { batchSize: 16 })) train(b.data);
   */
  async *batches(
    paths: readonly string[],
    opts: { batchSize: number; augment?: boolean; seed?: number; prefetch?: number },
  ): AsyncGenerator<ImageBatch> {
    const { batchSize } = opts;
    const prefetch = opts.prefetch ?? 2;
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`ImageLoader.batches: batchSize is ${batchSize}; expected an integer >= 1`);
    if (!Number.isInteger(prefetch) || prefetch < 0) throw new Error(`ImageLoader.batches: prefetch is ${prefetch}; expected an integer >= 0`);
    const n = Math.ceil(paths.length / batchSize);
    const ahead: Array<Promise<Float32Array[]>> = [];
    let launched = 0;
    const launch = (): void => {
      const s = launched * batchSize;
      const p = this.load(paths.slice(s, s + batchSize), { augment: opts.augment, seed: opts.seed, startIndex: s });
      p.catch(() => undefined); // a failure surfaces when this batch is awaited, not as an unhandled rejection
      ahead.push(p);
      launched++;
    };
    const per = 3 * this.config.size * this.config.size;
    for (let b = 0; b < n; b++) {
      while (launched < n && launched <= b + prefetch) launch();
      const imgs = await (ahead.shift() as Promise<Float32Array[]>);
      const data = new Float32Array(imgs.length * per);
      imgs.forEach((x, i) => data.set(x, i * per));
      const start = b * batchSize;
      yield { start, count: imgs.length, paths: paths.slice(start, start + imgs.length), data };
    }
  }

  /**
   * Stops the workers. Jobs still queued are rejected; jobs a worker has started are let finish (their
   * callers get their images) before it is terminated: terminating a worker while libvips decodes in it
   * can abort the whole process, or leave terminate() pending forever (seen as a flaky SIGABRT in CI).
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const p of this.queue.splice(0)) p.reject(new Error(`${p.job.path}: ImageLoader closed before the image was loaded`));
    await Promise.all(this.slots.map((s) => (s.inflight.size === 0 ? undefined : new Promise<void>((resolve) => { s.drained = resolve; }))));
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }
}
