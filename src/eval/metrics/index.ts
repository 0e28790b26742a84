/** Evaluation metrics: pure functions on plain arrays (no tensors). One concept per file. */
export * from './retrieval.js';
export * from './grading.js';
export * from './referable.js';
export * from './calibration.js';
export * from './bootstrap.js';
export * from './subgroups.js';
export * from './spread.js';
