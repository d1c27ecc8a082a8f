import * as dn from '../index.js';
import { parseArgs, type CommandSpec } from './args.js';

export const infoSpec: CommandSpec = {
  name: 'info',
  summary: 'Prints the WebGPU adapter dawnet uses, its features and the limits it requested.',
  flags: { json: { type: 'boolean', help: 'print it as JSON', default: false } },
};

export async function runInfo(args: string[]): Promise<void> {
  const parsed = parseArgs(infoSpec, args);
  if (!parsed) return;
  await dn.init();
  const info = dn.info();
  if (parsed.flags.json) {
    console.log(JSON.stringify(info, null, 2));
  } else {
    console.log(`adapter:  ${info.name}`);
    console.log(`backend:  ${info.backend}`);
    console.log(`features: ${info.features.join(', ') || '(none)'}`);
    console.log('limits:');
    for (const [k, v] of Object.entries(info.limits).sort()) console.log(`  ${k.padEnd(44)} ${v}`);
  }
  dn.shutdown();
}
