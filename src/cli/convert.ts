// `dawnet convert IN --out OUT.safetensors`: rewrites downloaded weights (PyTorch, Keras HDF5,
// safetensors) under dawnet's names and layouts, so later loads need no conversion. Needs no GPU.

import { convertWeights, type WeightFormat } from '../io/load-weights.js';
import { parseArgs, UsageError, type CommandSpec } from './args.js';

export const convertSpec: CommandSpec = {
  name: 'convert',
  summary: 'Converts a weight file to a dawnet .safetensors (dawnet names, NHWC layouts).',
  positionals: [{ name: 'IN', help: 'a PyTorch .pt/.pth (zip or legacy), a Keras .h5, or a .safetensors file' }],
  flags: {
    out: { type: 'string', help: 'where to write the converted weights (written atomically)' },
    model: { type: 'string', help: "decides the naming; inferred from the file's names when left out", choices: ['vgg16', 'unet'] },
    format: { type: 'string', help: 'the input\'s format; by default detected from its first bytes', choices: ['auto', 'torch', 'keras-h5', 'safetensors'] },
  },
  examples: ['dawnet convert vgg16_notop.h5 --out weights/vgg16.safetensors', 'dawnet convert unet.pt --out weights/unet.safetensors --model unet'],
};

export interface ConvertArgs {
  input: string;
  out: string;
  model?: 'vgg16' | 'unet';
  format?: 'auto' | WeightFormat;
}

/** The input and options, checked (UsageErrors naming the option); null after --help. */
export function parseConvertArgs(args: string[]): ConvertArgs | null {
  const parsed = parseArgs(convertSpec, args);
  if (!parsed) return null;
  const out = parsed.flags.out as string | undefined;
  if (!out) throw new UsageError("convert needs --out OUT.safetensors (see 'dawnet convert --help')");
  // The output is always safetensors: under another format's name, PyTorch or Keras would fail on it.
  const other = /\.(pt|pth|pkl|ckpt|bin|h5|hdf5|keras)$/i.exec(out);
  if (other) throw new UsageError(`convert writes a .safetensors file, not ${other[0]}: give --out a name ending in .safetensors (got ${out})`);
  return {
    input: parsed.positionals[0],
    out,
    model: parsed.flags.model as ConvertArgs['model'],
    format: parsed.flags.format as ConvertArgs['format'],
  };
}

export async function runConvert(args: string[]): Promise<void> {
  const parsed = parseConvertArgs(args);
  if (!parsed) return;
  const { input, out, model, format } = parsed;
  const report = await convertWeights(input, out, { model, format });
  console.log(`${input}: ${report.format}, ${report.written.length} tensors named for ${report.model} -> ${out}`);
}
