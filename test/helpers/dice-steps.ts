// A short training run for model tests: `steps` Adam steps of Dice loss on one batch, each in a
// scope, returning every step's loss (read back) and leaving nothing allocated but the net.

import * as dn from '../../src/index.js';

export async function diceSteps(net: dn.nn.Module, x: dn.Tensor, target: dn.Tensor, steps: number, lr: number): Promise<number[]> {
  const opt = new dn.optim.Adam(net.parameters(), { lr });
  const losses: number[] = [];
  for (let step = 0; step < steps; step++) {
    const loss = dn.scope(() => {
      opt.zeroGrad();
      const l = dn.diceLoss(net.forward(x), target);
      l.backward();
      opt.step();
      return l;
    });
    losses.push((await loss.toArray())[0]);
    loss.dispose();
  }
  opt.dispose();
  return losses;
}

/** Noisy volumes [B, d, h, w, 1], B = centres.length, each holding a ball (radius² given), and its mask. */
export function ballVolumes([d, h, w]: [number, number, number], centres: [number, number, number][], radius2: number, noise: ArrayLike<number>): { x: number[]; mask: number[] } {
  const per = d * h * w;
  const mask = Array.from({ length: centres.length * per }, (_, i) => {
    const [b, z, r, c] = [Math.floor(i / per), Math.floor(i / (h * w)) % d, Math.floor(i / w) % h, i % w];
    const [cz, cr, cc] = centres[b];
    return (z - cz) ** 2 + (r - cr) ** 2 + (c - cc) ** 2 <= radius2 ? 1 : 0;
  });
  return { x: mask.map((m, i) => m + 0.4 * noise[i]), mask };
}
