/** The web service: engine (model + preprocessing + calibration), HTTP app, index build, page. */
export { buildApp, DEFAULT_BATCHING, DEFAULT_LIMITS, DEFAULT_RATE_LIMIT, type ServeOptions, type ServeApp, type RateLimitOptions } from './app.js';
export { startServer, type StartOptions, type RunningServer } from './server.js';
export { ServeEngine, UNCALIBRATED, temperaturesFromSidecar, type ServeModel, type Temperatures, type GradeInput, type GradeOutput, type ScaleGrade, type PreparedImage } from './engine.js';
export { buildIndex, type BuildIndexOptions, type BuildIndexResult } from './build-index.js';
export { readSidecar, writeSidecar, SIDECAR_FILE, type IndexSidecar, type TemperatureInfo } from './sidecar.js';
export { parseFields, fieldArgs, FIELD_DEFS, type FieldDef } from './fields.js';
export { InferenceQueue, type QueueOptions, type BatchLane } from './queue.js';
export { HttpError } from './errors.js';
