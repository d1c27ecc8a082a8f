// Initialisers against PyTorch's and Keras's fan rules, where a port that asks for the same
// initialiser by name expects the same distribution.
import { describe, expect, it } from 'vitest';
import { ConvTranspose2d } from '../../src/nn/layers.js';
import { fans, initValues } from '../../src/nn/init.js';
import { useGpu } from '../helpers/gpu.js';

useGpu();

describe('ConvTranspose2d fans', () => {
  it("fanIn is k·k·outChannels, as Keras's compute_fans on [kh, kw, filters, in] and PyTorch's on [in, out, kh, kw]", async () => {
    // Keras: fan_in = shape[-2] · kh·kw with kernel (kh, kw, filters, in); PyTorch:
    // _calculate_fan_in_and_fan_out(ConvTranspose2d(4, 2, 3).weight) is (18, 36), fan_in = out · 9.
    expect(fans([3, 3, 2, 4])).toEqual({ fanIn: 18, fanOut: 36 });
    // He uniform's bound is sqrt(6 / fanIn): in 8, out 2, 2x2 gives fanIn 8, bound 0.866 (0.433 were fanIn k·k·in).
    const layer = new ConvTranspose2d(8, 2, { kernelSize: 2, init: 'heUniform', seed: 3 });
    const w = await layer.weight.toArray();
    const bound = Math.sqrt(6 / 8);
    const largest = Math.max(...w.map(Math.abs));
    expect(largest).toBeLessThanOrEqual(bound);
    expect(largest).toBeGreaterThan(0.9 * bound);
    expect(Array.from(w)).toEqual(Array.from(initValues('heUniform', [2, 2, 2, 8], 3)));
    layer.dispose();
  });
});
