/**
 * Reads a state-dict file by its extension: .safetensors, or a PyTorch pickle (.bin, .pt, .pth).
 *
 * @example readStateDictFile('/models/vit/model.safetensors').size // 200
 */
import { existsSync } from 'node:fs';
import { readSafetensors, readTorchStateDict, type RawTensor } from '../../tensor/io/index.js';

export function readStateDictFile(path: string): Map<string, RawTensor> {
  if (!existsSync(path)) throw new Error(`weights file ${path} does not exist`);
  if (path.endsWith('.safetensors')) return readSafetensors(path);
  if (/\.(bin|pt|pth|ckpt)$/.test(path)) return readTorchStateDict(path);
  throw new Error(`weights file ${path}: unknown extension; expected .safetensors, .bin, .pt or .pth`);
}
