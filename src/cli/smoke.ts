// A first run on a fresh machine: acquire the adapter, run kernels, compare with the CPU reference.

import { KernelError } from '../errors.js';
import * as dn from '../index.js';
import { nd } from '../reference/array.js';
import { unaryForwardRef } from '../reference/elementwise.js';
import { parseArgs, type CommandSpec } from './args.js';

export const smokeSpec: CommandSpec = {
  name: 'smoke',
  summary: 'Acquires the GPU, runs a kernel and checks it against the CPU reference.',
  flags: {},
};

export async function runSmoke(args: string[]): Promise<void> {
  if (!parseArgs(smokeSpec, args)) return;
  await dn.init();
  console.log(`adapter: ${dn.info().name}`);
  const n = 4096;
  const data = Float32Array.from({ length: n }, (_, i) => Math.sin(i));
  const x = dn.tensor(data, [n]);
  const y = dn.sigmoid(x);
  const got = await y.toArray();
  const want = unaryForwardRef('sigmoid', nd(data, [n])).data;
  let worst = 0;
  for (let i = 0; i < n; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]));
  console.log(`sigmoid over ${n} values: max |gpu - cpu| = ${worst.toExponential(2)}`);
  x.dispose();
  y.dispose();
  dn.shutdown();
  // A KernelError (a DawnetError): the CLI prints the message, not a stack trace of smoke itself.
  if (!(worst <= 1e-5)) {
    throw new KernelError('sigmoid.forward', `the GPU's result differs from the CPU reference by ${worst} (tolerance 1e-5) on this adapter; \`dawnet info\` names it for a report`);
  }
}
