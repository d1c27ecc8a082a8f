// `dawnet eval RUN [--data DIR] [--json]`.

import { runEval } from '../app/eval-job.js';
import * as dn from '../index.js';
import { parseArgs, type CommandSpec } from './args.js';

export const evalSpec: CommandSpec = {
  name: 'eval',
  summary: "Evaluate a run's best checkpoint on its test split (the patients it never trained or validated on). Writes RUN/eval.json.",
  positionals: [{ name: 'RUN', help: 'run folder written by dawnet train' }],
  flags: {
    data: { type: 'string', help: "kaggle_3m folder (default: the one the run was trained on)" },
    json: { type: 'boolean', help: 'print the metrics as JSON instead of a table' },
  },
  examples: ['dawnet eval runs/unet', 'dawnet eval runs/vgg --data /data/kaggle_3m --json'],
};

export async function runEvalCommand(args: string[]): Promise<void> {
  const parsed = parseArgs(evalSpec, args);
  if (!parsed) return;
  const json = parsed.flags.json === true;
  await dn.init();
  try {
    const quiet: string[] = [];
    const result = await runEval(parsed.positionals[0], {
      data: parsed.flags.data as string | undefined,
      log: (m) => (json ? quiet.push(m) : console.log(m)),
    });
    if (json) console.log(JSON.stringify(result.json, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2));
  } finally {
    dn.shutdown();
  }
}
