// The `dawnet` command. Each subcommand lives in its own file; this one only dispatches.

import { DawnetError } from '../errors.js';
import { nearest } from './args.js';
import { runBench } from '../../bench/main.js';
import { runConvert } from './convert.js';
import { runCv } from './cv.js';
import { runDemo } from './demo.js';
import { runEvalCommand } from './eval.js';
import { holdOpenWhile } from './hold-open.js';
import { runInfo } from './info.js';
import { runLrFind } from './lr-find.js';
import { runPredictCommand } from './predict.js';
import { runServe } from './serve.js';
import { runSmoke } from './smoke.js';
import { runSweep } from './sweep.js';
import { runSynth } from './synth.js';
import { runTrain } from './train.js';

const COMMANDS: Record<string, { summary: string; run: (args: string[]) => Promise<void> }> = {
  demo: { summary: 'the main job: train and evaluate a U-Net end to end (synthetic data unless --data), write the report', run: runDemo },
  info: { summary: 'print the WebGPU adapter, its features and limits', run: runInfo },
  smoke: { summary: 'run a kernel on the GPU and check it against the CPU reference', run: runSmoke },
  train: { summary: 'train the classifier or the U-Net on a kaggle_3m folder', run: runTrain },
  'lr-find': { summary: 'learning-rate range test: loss against an exponentially rising rate, a suggested rate, lr-find.html', run: runLrFind },
  eval: { summary: "test-split metrics of a run's best checkpoint, or of several runs' ensemble", run: runEvalCommand },
  bench: { summary: 'time the kernels against the device peak and TensorFlow.js on the same adapter', run: runBench },
  convert: { summary: 'convert PyTorch/Keras/safetensors weights to a dawnet .safetensors', run: runConvert },
  predict: { summary: 'segment or classify TIFF slices with a trained run', run: runPredictCommand },
  serve: { summary: 'serve the browser page (segment slices, train a small U-Net live) on localhost', run: runServe },
  sweep: { summary: 'train a grid of settings and print the comparison table', run: runSweep },
  cv: { summary: 'k-fold cross-validation by patient: one run per fold, the scores with their mean and spread, the folds\' ensemble', run: runCv },
  synth: { summary: 'write a synthetic LGG data set in the kaggle_3m layout', run: runSynth },
};

function usage(): string {
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}`);
  return (
    `usage: dawnet <command> [options]\n\ncommands:\n${lines.join('\n')}\n\nRun 'dawnet <command> --help' for a command's options.\n` +
    'Exit status: 0 done, 1 an error (a usage mistake included), 130 interrupted by Ctrl-C.'
  );
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(usage());
    return 0;
  }
  const command = COMMANDS[name];
  if (!command) {
    const guess = nearest(name, Object.keys(COMMANDS));
    console.error(`dawnet: unknown command '${name}'${guess ? ` (did you mean '${guess}'?)` : ''}. Commands: ${Object.keys(COMMANDS).join(', ')}`);
    return 1;
  }
  try {
    await holdOpenWhile(command.run(rest));
    // A command may set an exit status of its own (130 for an interrupted training run).
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (e) {
    const err = e as Error;
    // Usage mistakes, our own errors and the file system's (a missing or unreadable path, which
    // Node's message names) are one line; anything else is a bug worth its stack.
    // An op's own message already starts with the command's name ('predict: ...'): not twice.
    console.error(err.message.startsWith(`${name}: `) ? `dawnet ${err.message}` : `dawnet ${name}: ${err.message}`);
    if (!(err instanceof DawnetError) && !isFileSystemError(err)) console.error(err.stack);
    if (process.env.DAWNET_DEBUG) console.error(err.stack);
    return 1;
  }
}

/** Node's errors from a file-system call: a code such as ENOENT and the path at fault. */
function isFileSystemError(err: Error): boolean {
  const e = err as NodeJS.ErrnoException;
  return typeof e.code === 'string' && typeof e.syscall === 'string' && typeof e.path === 'string';
}

// Dawn keeps the process alive while its GPU object lives: exit explicitly.
main(process.argv.slice(2)).then((code) => process.exit(code));
