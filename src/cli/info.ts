import * as dn from '../index.js';

export async function runInfo(args: string[]): Promise<void> {
  if (args.includes('--help')) {
    console.log('usage: dawnet info [--json]\n\nPrints the WebGPU adapter dawnet uses, its features and the limits it requested.');
    return;
  }
  await dn.init();
  const info = dn.info();
  if (args.includes('--json')) {
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
