// The options objects of layers and models: a key the constructor does not read is an error, since
// it would otherwise build the default silently: Conv2d's { kernel_size: 5 } gave a 3x3 kernel and
// unet's { init_features: 4 } 32 features. A name brought from Keras or PyTorch gets a hint
// naming dawnet's. Also how a layer's errors write what it was built with (windowRepr).

import { ArgumentError } from '../errors.js';
import { describeValue, expectKnownOptions, expectOptions, meantOption } from '../graph/args.js';

/** Keras and PyTorch names whose dawnet spelling is not just their camelCase. */
const RENAMED: Record<string, string> = { init_features: 'features', num_classes: 'classes', use_bias: 'bias', kernel_initializer: 'init' };

/** What to say about `key`: its note, or the known option it is another spelling of; '' if neither. */
function hintFor(key: string, known: readonly string[], notes: Record<string, string>): string {
  if (notes[key]) return notes[key];
  const ours = meantOption(key, known, RENAMED[key] ? [RENAMED[key]] : []);
  return ours ? `${key} is ${ours} in dawnet` : '';
}

/**
 * An options object (or undefined) whose keys are all in `known`: an ArgumentError naming `owner`
 * otherwise, listing the options, with a hint for snake_case names and for the keys in `notes`.
 * `example` shows the form when something other than an object comes.
 */
export function expectLayerOptions(owner: string, opts: unknown, known: readonly string[], example: string, notes: Record<string, string> = {}): void {
  expectOptions(owner, opts, example);
  if (opts === undefined) return;
  try {
    expectKnownOptions(owner, opts as object, known);
  } catch (e) {
    const hints = Object.keys(opts as object).filter((k) => !known.includes(k)).map((k) => hintFor(k, known, notes)).filter(Boolean);
    if (hints.length && e instanceof Error) e.message += ` (${hints.join('; ')})`;
    throw e;
  }
}

/**
 * A layer that takes nothing: an argument given to it (PyTorch's nn.Softmax(1), nn.ReLU(True),
 * Keras's keepdims) would otherwise be dropped without a word and the layer do something else.
 * `args` are the constructor's arguments, trailing undefineds allowed; `why` says what it does instead.
 */
export function noArguments(layer: string, args: readonly unknown[], why: string): void {
  const given = args.filter((a) => a !== undefined);
  if (given.length === 0) return;
  throw new ArgumentError(`${layer}: takes no arguments, got ${given.map(describeValue).join(', ')}: ${why}`);
}

/**
 * A conv or pool layer's configuration as its errors name it ('32→64, 3x3', then what differs
 * from the layer's defaults: 'stride 2', 'padding valid'), read from what it was built with.
 */
export function windowRepr(parts: string[], o: { stride?: number; dilation?: unknown; groups?: number; padding?: unknown }, defaults: { stride: number; padding: unknown }): string {
  const shown = (v: unknown) => (Array.isArray(v) ? `[${v.join(', ')}]` : String(v));
  const stride = o.stride ?? defaults.stride;
  if (stride !== 1) parts.push(`stride ${stride}`);
  if (o.dilation !== undefined && o.dilation !== 1) parts.push(`dilation ${shown(o.dilation)}`);
  if (o.groups !== undefined && o.groups !== 1) parts.push(`groups ${o.groups}`);
  if (o.padding !== undefined && o.padding !== defaults.padding) parts.push(`padding ${shown(o.padding)}`);
  return parts.join(', ');
}
