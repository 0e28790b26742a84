/** Report charts: Vega-Lite specs rendered to PNG (see render.ts for the pipeline and font needs). */
export * from './render.js';
export * from './confusion.js';
export * from './roc.js';
export * from './recall.js';
export * from './training.js';
export * from './reliability.js';
export * from './scatter.js';
export * from './embed2d.js';
export * from './ladder.js';
