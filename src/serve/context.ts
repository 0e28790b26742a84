/** What every route handler shares: the engine, the index and cases, the queue, the limits. */
import type { EmbeddingIndex } from '../index/index.js';
import type { CaseStore } from './cases.js';
import type { ServeEngine } from './engine.js';
import type { InferenceQueue } from './queue.js';

/** Resolved limits (defaults in app.ts). */
export interface ServeLimits {
  /** Largest uploaded image file in bytes (413 past it). */
  maxUploadBytes: number;
  /** Largest decoded image, width x height (413 past it, read from the header before decoding). */
  maxPixels: number;
  /** Longest note in characters (400 past it). */
  maxNoteChars: number;
}

export interface ServeContext {
  engine: ServeEngine;
  index: EmbeddingIndex | null;
  cases: CaseStore | null;
  queue: InferenceQueue;
  limits: ServeLimits;
  authRequired: boolean;
  /** Indexed exams (serve.json counts.images), null when unknown. */
  caseCount: number | null;
  /** Mean pairwise cosine of the indexed image and note embeddings (serve.json), null when unknown. */
  embeddingSpread: { image: number; note: number } | null;
}
