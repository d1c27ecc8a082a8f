// `dawnet convert IN --out OUT.safetensors`: rewrites downloaded weights (PyTorch, Keras HDF5,
// safetensors) under dawnet's names and layouts, so later loads need no conversion. Needs no GPU.

import { convertWeights, type WeightFormat } from '../io/load-weights.js';
import { ShapeError } from '../errors.js';

const USAGE = `usage: dawnet convert IN --out OUT.safetensors [--model vgg16|unet] [--format auto|torch|keras-h5|safetensors]

Converts a weight file to a dawnet .safetensors (dawnet names, NHWC layouts):
  IN                 a PyTorch .pt/.pth (zip or legacy), a Keras .h5, or a .safetensors file
  --out PATH         where to write the converted weights (written atomically)
  --model NAME       vgg16 or unet: decides the naming; inferred from the file's names when left out
  --format NAME      the input's format; by default detected from its first bytes`;

export function parseConvertArgs(args: string[]): { input: string; out: string; model?: 'vgg16' | 'unet'; format?: 'auto' | WeightFormat } {
  const positional: string[] = [];
  const flags: Record<string, string> = {};
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a.startsWith('--')) {
      // Split at the first '=' only: the value may hold more (--out=w/x=1.safetensors).
      const eq = a.indexOf('=');
      const key = eq < 0 ? a.slice(2) : a.slice(2, eq);
      const inline = eq < 0 ? undefined : a.slice(eq + 1);
      const value = inline ?? args[++i];
      if (value === undefined) throw new ShapeError(`convert: option --${key} needs a value\n\n${USAGE}`);
      flags[key] = value;
    } else positional.push(a);
  }
  for (const key of Object.keys(flags)) {
    if (!['out', 'model', 'format'].includes(key)) throw new ShapeError(`convert: unknown option --${key}\n\n${USAGE}`);
  }
  if (positional.length !== 1 || !flags.out) throw new ShapeError(`convert: needs one input file and --out\n\n${USAGE}`);
  if (flags.model && !['vgg16', 'unet'].includes(flags.model)) throw new ShapeError(`convert: --model must be vgg16 or unet, not '${flags.model}'`);
  if (flags.format && !['auto', 'torch', 'keras-h5', 'safetensors'].includes(flags.format)) {
    throw new ShapeError(`convert: --format must be auto, torch, keras-h5 or safetensors, not '${flags.format}'`);
  }
  const model = flags.model as 'vgg16' | 'unet' | undefined;
  return { input: positional[0], out: flags.out, model, format: flags.format as WeightFormat | undefined };
}

export async function runConvert(args: string[]): Promise<void> {
  if (args.includes('--help') || args.includes('-h')) {
    console.log(USAGE);
    return;
  }
  const { input, out, model, format } = parseConvertArgs(args);
  const report = await convertWeights(input, out, { model, format });
  console.log(`${input}: ${report.format}, ${report.written.length} tensors named for ${report.model} -> ${out}`);
}
