/**
 * Tensor files without the engine: safetensors read/write and PyTorch .bin/.pt state-dict reading.
 * @example
 *   import { readTorchStateDict, writeSafetensors } from './tensor/io/index.js';
 *   writeSafetensors('model.safetensors', readTorchStateDict('pytorch_model.bin'));
 */
export * from './raw.js';
export { encodeSafetensors, readSafetensors, readSafetensorsFile, writeSafetensors, type SafetensorsFile } from './safetensors.js';
export { readTorchCheckpoint, readTorchStateDict, type TorchCheckpoint, type TorchReadOptions } from './torch-bin.js';
export { readWholeFile, writeAtomic } from './file.js';
export { materializeStrided, type StridedView } from './strided.js';
