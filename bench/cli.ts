// Runs the benchmark on its own: `node <bundle of bench/cli.ts> [options]` (see bench/main.ts).
// Dawn's GPU object keeps Node alive, so the process exits explicitly when the run is over.

import { runBench } from './main.js';

runBench(process.argv.slice(2)).then(
  () => process.exit(0),
  (e: Error) => {
    console.error(`dawnet bench: ${e.name === 'Error' ? '' : `${e.name}: `}${e.message}`);
    if (process.env.DAWNET_DEBUG) console.error(e.stack);
    process.exit(1);
  },
);
