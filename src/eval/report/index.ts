/** The evaluation report: Markdown tables + PNG charts from EvalResult objects. */
export * from './format.js';
export * from './claims.js';
export * from './columns.js';
export * from './md.js';
export * from './sections.js';
export * from './details.js';
export * from './charts.js';
export * from './write.js';
export * from './ladder.js';
