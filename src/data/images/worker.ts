/**
 * Worker-thread entry of ImageLoader (loader.ts). Messages:
 *   in:  { id, path, aug: AugmentParams | null }      (the ImageConfig comes once, as workerData)
 *   out: { id, ok: true, data: Float32Array (3*S*S, transferred) } | { id, ok: false, message }
 * Several jobs may be in flight: sharp's decode runs on libuv threads while JS normalizes another.
 */
import { parentPort, workerData } from 'node:worker_threads';
import sharp from 'sharp';
import type { AugmentParams } from './augment.js';
import type { ImageConfig } from './config.js';
import { preprocessImage } from './preprocess.js';

export interface WorkerJob {
  id: number;
  path: string;
  aug: AugmentParams | null;
}

export type WorkerResult = { id: number; ok: true; data: Float32Array } | { id: number; ok: false; message: string };

if (parentPort === null) throw new Error('src/data/images/worker: must run as a worker thread (ImageLoader starts it)');
const port = parentPort;
const cfg = (workerData as { config: ImageConfig }).config;
// Parallelism comes from the workers: one libvips thread per image, and no operation cache
// (each training image is read once per epoch; caching only holds memory).
sharp.concurrency(1);
sharp.cache(false);

port.on('message', (job: WorkerJob) => {
  preprocessImage(job.path, cfg, job.aug).then(
    (data) => port.postMessage({ id: job.id, ok: true, data } satisfies WorkerResult, [data.buffer as ArrayBuffer]),
    (e: unknown) => port.postMessage({ id: job.id, ok: false, message: e instanceof Error ? e.message : String(e) } satisfies WorkerResult),
  );
});
