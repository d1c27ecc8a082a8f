// Options one task reads are refused for the other, naming the option and what reads it:
// `train segment --weights x.h5` failed deep in the model ("no sub-module 'base'") and
// `classify --depth 2` was silently ignored.

import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/cli/args.js';
import { checkTaskFlags, givenFlags } from '../../src/cli/train.js';

describe('task options', () => {
  it('refuses the other task’s options, with --name=value too, and passes each task’s own and the shared ones', () => {
    const refused: [Parameters<typeof checkTaskFlags>[0], string[], RegExp][] = [
      ['segment', ['--weights', 'vgg.h5'], /^--weights is for classify \(the classifier's VGG16 base; segment trains its U-Net from scratch\); segment does not read it$/],
      ['segment', ['--width-scale=0.5'], /^--width-scale is for classify/],
      ['classify', ['--depth', '2'], /^--depth is for segment \(the U-Net's levels\); classify does not read it$/],
      ['classify', ['--features', '8'], /^--features is for segment/],
      ['classify', ['--attention'], /^--attention is for segment/],
      ['classify', ['--norm', 'instance'], /^--norm is for segment/],
    ];
    for (const [task, args, message] of refused) {
      const call = () => checkTaskFlags(task, givenFlags(args));
      expect(call, args.join(' ')).toThrow(UsageError);
      expect(call, args.join(' ')).toThrow(message);
    }
    expect(() => checkTaskFlags('segment', givenFlags(['--features', '8', '--depth', '3', '--norm', 'group', '--lr', '1e-3']))).not.toThrow();
    expect(() => checkTaskFlags('classify', givenFlags(['--weights', 'vgg.h5', '--width-scale', '0.25', '--batch', '8']))).not.toThrow();
  });
});
