/**
 * Mixed precision: bf16 autocast, as torch.autocast does it. Inside `withAutocast`, libtorch runs
 * matmuls, linear layers and convolutions in bfloat16 while parameters, reductions, norms, softmax
 * and losses stay in float32 (libtorch's own autocast op lists); the backward pass runs outside the
 * scope, and AdamW updates the float32 parameters. Meant for CUDA. libtorch's CPU autocast exists
 * (the unit tests use it on a plain MLP), but in libtorch 1.13 it does not cast LayerNorm inputs, so
 * a transformer fails there ("expected scalar type BFloat16 but found Float"): the run config
 * therefore allows train.precision 'bfloat16' only with a CUDA device.
 *
 * @example
 *   const device = autocastDevice('bfloat16', params); // 'cuda' | 'cpu' | null
 *   const out = withAutocast(device, () => model.forward(batch, fwd));
 */
import { nativeAutocast, type Tensor } from '../tensor/index.js';

/** Checks the precision setting against where the parameters live; throws with the reason. */
export function checkPrecision(precision: 'float32' | 'bfloat16', params: readonly Tensor[]): void {
  if (precision === 'float32') return;
  const devices = [...new Set(params.map((p) => p.device.split(':')[0]))];
  if (devices.length !== 1) throw new Error(`bf16 autocast needs all parameters on one device type, found ${devices.join(', ')}`);
  const nonF32 = params.find((p) => p.dtype !== 'float32');
  if (nonF32) throw new Error(`bf16 autocast keeps float32 master weights: found a ${nonF32.dtype} parameter ${nonF32.toString()}`);
}

/** The device type whose autocast to switch on for this precision, or null for float32. */
export function autocastDevice(precision: 'float32' | 'bfloat16', params: readonly Tensor[]): 'cpu' | 'cuda' | null {
  if (precision === 'float32') return null;
  return params[0]?.device.startsWith('cuda') ? 'cuda' : 'cpu';
}

/** Runs fn with autocast on for the device (no-op for null); always restores the previous state. */
export function withAutocast<R>(device: 'cpu' | 'cuda' | null, fn: () => R): R {
  if (device === null) return fn();
  const prev = nativeAutocast(device, true, 'bfloat16');
  try {
    return fn();
  } finally {
    nativeAutocast(device, prev, 'bfloat16');
  }
}
