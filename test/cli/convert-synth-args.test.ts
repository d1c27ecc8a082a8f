// Argument checks of `dawnet convert` and `dawnet synth` that need no GPU.
import { describe, expect, it } from 'vitest';
import { parseConvertArgs } from '../../src/cli/convert.js';
import { UsageError } from '../../src/cli/args.js';
import { checkSynthBounds, runSynth } from '../../src/cli/synth.js';

describe('convert arguments', () => {
  it('splits --key=value at the first = only', () => {
    expect(parseConvertArgs(['in.pt', '--out=w/x=1.safetensors'])!.out).toBe('w/x=1.safetensors');
    expect(parseConvertArgs(['in.pt', '--out', 'a=b.safetensors', '--model=unet'])).toMatchObject({ out: 'a=b.safetensors', model: 'unet' });
  });
});

describe('synth bounds', () => {
  it('refuses a --size or --patients too large with a UsageError', async () => {
    await expect(runSynth(['--out', '/tmp/never-written', '--size', '100000'])).rejects.toThrow(UsageError);
    await expect(runSynth(['--out', '/tmp/never-written', '--size', '100000'])).rejects.toThrow(/^--size must be/);
    expect(() => checkSynthBounds(64, 1_000_000)).toThrow(/^--patients must be/);
    expect(() => checkSynthBounds(64, 4)).not.toThrow();
  });
});
