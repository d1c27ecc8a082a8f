// The `dawnet` command. Each subcommand lives in its own file; this one only dispatches.

import { runInfo } from './info.js';
import { runSmoke } from './smoke.js';
import { runSynth } from './synth.js';

const COMMANDS: Record<string, { summary: string; run: (args: string[]) => Promise<void> }> = {
  info: { summary: 'print the WebGPU adapter, its features and limits', run: runInfo },
  smoke: { summary: 'run a kernel on the GPU and check it against the CPU reference', run: runSmoke },
  synth: { summary: 'write a synthetic LGG data set in the kaggle_3m layout', run: runSynth },
};

function usage(): string {
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}`);
  return `usage: dawnet <command> [options]\n\ncommands:\n${lines.join('\n')}\n\nRun 'dawnet <command> --help' for a command's options.`;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(usage());
    return 0;
  }
  const command = COMMANDS[name];
  if (!command) {
    console.error(`dawnet: unknown command '${name}'. Commands: ${Object.keys(COMMANDS).join(', ')}`);
    return 2;
  }
  try {
    await command.run(rest);
    return 0;
  } catch (e) {
    const err = e as Error;
    console.error(`dawnet ${name}: ${err.name === 'Error' ? '' : `${err.name}: `}${err.message}`);
    if (process.env.DAWNET_DEBUG) console.error(err.stack);
    return 1;
  }
}

// Dawn keeps the process alive while its GPU object lives: exit explicitly.
main(process.argv.slice(2)).then((code) => process.exit(code));
