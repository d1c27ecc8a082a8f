// One Dice-loss training step of `net` on (x, y) from a clean pool peak, read back: the loss, every
// parameter's gradient, the state after it (batch norm running statistics) and the peak of GPU
// memory the step added. For comparing two ways of running the same model (checkpointing); the net
// is disposed.

import * as dn from '../../src/index.js';

export async function stepState(net: dn.nn.Module, x: dn.Tensor, y: dn.Tensor) {
  net.train();
  await dn.sync();
  const before = dn.memory().bytesInUse;
  dn.resetPeakMemory();
  const loss = dn.scope(() => {
    const l = dn.diceLoss(net.forward(x), y);
    l.backward();
    return l;
  });
  const out = {
    peak: dn.memory().peakBytesInUse - before,
    loss: await loss.item(),
    grads: await Promise.all(net.parameters().map((p) => p.grad!.toArray())),
    state: await Promise.all([...net.stateDict().values()].map((t) => t.toArray())),
  };
  loss.dispose();
  net.dispose();
  return out;
}
