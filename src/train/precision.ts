/**
 * Mixed precision. bf16 training needs autocast (run matmuls/convs in bf16 while parameters,
 * reductions and the optimizer stay in float32). The engine cannot do that today:
 *   - the addon exposes no autocast switch (at::autocast::set_enabled / set_autocast_gpu_dtype);
 *   - the loop cannot cast a model's parameters itself: TrainableModel.forward reads its own
 *     tensors, and `.to('bfloat16')` returns new tensors the model never sees.
 * Faking it (casting only the batch) would fail on the first fp32 x bf16 matmul or silently train
 * in float32, so 'bfloat16' is refused with an explicit error instead. Enabling it needs either an
 * addon `setAutocast(enabled, dtype)` called around forward, or models built with bf16 parameters
 * plus float32 master weights in the loop.
 *
 * @example checkPrecision('float32', params) // ok; checkPrecision('bfloat16', cpuParams) throws 'bf16 requires CUDA ...'
 */
import { cudaIsAvailable, type Tensor } from '../tensor/index.js';

export function checkPrecision(precision: 'float32' | 'bfloat16', params: readonly Tensor[]): void {
  if (precision === 'float32') return;
  const onCuda = params.some((p) => p.device.startsWith('cuda'));
  if (!cudaIsAvailable() || !onCuda) {
    throw new Error(`bf16 requires CUDA: precision 'bfloat16' is for models on a CUDA device (CUDA available: ${cudaIsAvailable()}, ` +
      `model parameters on: ${[...new Set(params.map((p) => p.device))].join(', ')}); use precision 'float32' on CPU`);
  }
  throw new Error("bf16 requires autocast in the engine addon, which this build lacks (see src/train/precision.ts); use precision 'float32'");
}
