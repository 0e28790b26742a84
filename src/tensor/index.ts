/** The tensor engine: the only TypeScript that knows libtorch (through native/). */
export { Tensor, where, type DType, type Device, type TypedArray, type TensorLike, type Reduction, type Sizes } from './tensor.js';
export { tidy, keep, disposeAll, liveTensors, noGrad, isGradEnabled } from './scope.js';
export * from './functional.js';
export { AdamW, clipGradNorm, zeroGrad, type ParamGroup, type AdamWOptions } from './optim.js';
export * from './runtime.js';
export { gradcheck, type GradcheckResult } from './gradcheck.js';
export { traceOps, isTracing, type Trace, type TracedCall, type TracedValue, type TraceArg } from './trace.js';
