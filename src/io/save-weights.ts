// The inverse of loadWeights for dawnet's own models: their parameters and buffers written as a
// .safetensors file under their state_dict names (PyTorch's names for the U-Net, dawnet's for the
// rest), float32, read back from the GPU in one round trip. loadWeights reads it back by name,
// and safetensors readers elsewhere (Python's safetensors, Hugging Face) read it as it is.

import { ArgumentError } from '../errors.js';
import { describeValue } from '../graph/args.js';
import { readTensors } from '../graph/tensor.js';
import { Module } from '../nn/module.js';
import { writeFileAtomic } from './files.js';
import { expectMetadata, encodeSafetensors, type HostTensor } from './safetensors.js';

/** The model's state_dict as .safetensors bytes (for the browser, a download; in Node, saveWeights). */
export async function encodeWeights(model: Module, metadata: Record<string, string> = {}): Promise<Uint8Array<ArrayBuffer>> {
  if (!(model instanceof Module)) throw new ArgumentError(`encodeWeights: model must be a Module, got ${describeValue(model)}`);
  expectMetadata('encodeWeights', metadata);
  const state = [...model.stateDict()];
  const values = await readTensors(state.map(([, t]) => t));
  const tensors = new Map<string, HostTensor>(state.map(([name, t], i) => [name, { shape: [...t.shape], data: values[i] }]));
  return encodeSafetensors(tensors, { format: 'dawnet-weights-1', ...metadata });
}

/** Writes the model's weights to `path` atomically: a crash mid-write leaves the old file whole. */
export async function saveWeights(model: Module, path: string, metadata: Record<string, string> = {}): Promise<void> {
  if (typeof path !== 'string' || path === '') throw new ArgumentError(`saveWeights: path must be a file path, got ${describeValue(path)}`);
  if (!(model instanceof Module)) throw new ArgumentError(`saveWeights: model must be a Module, got ${describeValue(model)}`);
  expectMetadata('saveWeights', metadata);
  await writeFileAtomic(path, await encodeWeights(model, metadata), 'saveWeights');
}
