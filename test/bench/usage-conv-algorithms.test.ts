// `dawnet bench --help` names every algorithm --conv-algorithm accepts (channel-lanes was accepted
// but missing from the help), and so does bench/README.md where it lists them.

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { USAGE } from '../../bench/options.js';
import { CONV_ALGORITHMS } from '../../src/kernels/conv2d-winograd-run.js';

describe('bench usage', () => {
  it('names each conv algorithm under --conv-algorithm', () => {
    const start = USAGE.indexOf('--conv-algorithm');
    const paragraph = USAGE.slice(start, USAGE.indexOf('\n  --', start + 1));
    for (const a of CONV_ALGORITHMS) expect(paragraph, a).toMatch(new RegExp(`\\b${a}\\b(?!-)`));
  });

  it('bench/README.md lists the same algorithms', () => {
    const readme = readFileSync(new URL('../../bench/README.md', import.meta.url), 'utf8');
    expect(readme).toContain(`--conv-algorithm ${CONV_ALGORITHMS.join('|')}`);
  });
});
