// The options of the losses (loss.ts, overlap-loss.ts, focal-loss.ts, regression-loss.ts): each
// loss names the keys it reads, and anything else is refused by name, since an option no one reads
// leaves its default in place ({ reductoin: 'sum' } would average, silently).

import { ArgumentError } from '../errors.js';
import { expectKnownOptions, expectOptionalBoolean, expectOptions } from '../graph/args.js';

/** Other libraries' names for a loss option: PyTorch's legacy reduce and size_average. */
const OTHER_NAMES: Readonly<Record<string, readonly string[]>> = { reduce: ['reduction'], size_average: ['reduction'] };
/** Options that ask a loss to apply the sigmoid itself (Keras's from_logits). */
const LOGITS_FLAGS = ['from_logits', 'fromLogits'];

/** What to do with logits, for the losses that take probabilities. */
export const PROBABILITIES = {
  bce: 'give logits to bceWithLogits, or dn.sigmoid(z) here',
  focal: 'give logits to sigmoidFocalLoss, or dn.sigmoid(z) here',
  overlap: 'apply dn.sigmoid(z) (dn.softmax(z) with perChannel) to logits first',
} as const;

/**
 * A loss's options object: unknown keys are ArgumentErrors naming the loss and the key (an option
 * no one reads leaves its default in place: { reductoin: 'sum' } would average), other libraries'
 * spellings (snake_case, PyTorch's reduce) named with ours. A loss of probabilities given Keras's
 * from_logits says what to do with logits (`probabilities`). perSample and perChannel, where
 * known, must be booleans: a string 'false' would be truthy.
 */
export function expectLossOptions(op: string, options: unknown, known: readonly string[], example: string, probabilities?: string): void {
  expectOptions(op, options, example);
  const o = (options ?? {}) as Record<string, unknown>;
  const flag = probabilities && LOGITS_FLAGS.find((k) => k in o);
  if (flag) throw new ArgumentError(`${op}: unknown option '${flag}'; ${op} takes probabilities: ${probabilities}`);
  expectKnownOptions(op, o, known, { spellings: OTHER_NAMES });
  for (const key of ['perSample', 'perChannel']) if (known.includes(key)) expectOptionalBoolean(op, key, o[key]);
}
