// model.summary(): the table's rows and totals, and the forward pass behind its output shapes
// leaving the model exactly as it was (running statistics, training flags, dropout counters,
// methods, memory).

import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { useGpu } from '../helpers/gpu.js';

useGpu();

const rowsOf = (table: string) => table.split('\n').slice(2).filter((l) => l && !l.startsWith('parameters:'));

describe('Module.summary', () => {
  it('a U-Net: one row per module, their parameters adding up to the total, output shapes, fused ReLUs', () => {
    dn.setInitSeed(1);
    const net = dn.models.unet({ features: 4, depth: 2 });
    const table = net.summary([2, 16, 16, 3]);
    const rows = rowsOf(table);
    const modules = 1 + net.namedChildren().length + net.namedChildren().reduce((n, [, c]) => n + c.namedChildren().length, 0);
    expect(rows.length).toBe(modules);
    expect(rows[0]).toMatch(/^\(model\)\s+UNet\s+\[2,16,16,1\]/);
    expect(rows.find((r) => r.startsWith('upconv2 '))).toMatch(/ConvTranspose2d\s+\[2,8,8,8\]\s+520$/);
    expect(rows.find((r) => r.startsWith('encoder1.enc1relu1 '))).toContain('(fused above)');
    const own = rows.map((r) => Number(r.match(/([\d,]+)$/)?.[1].replace(/,/g, '') ?? 0));
    expect(own.reduce((a, b) => a + b, 0)).toBe(net.parameterCount());
    expect(table).toContain(`parameters: ${net.parameterCount().toLocaleString('en-US')} (trainable ${net.parameterCount().toLocaleString('en-US')}, frozen 0)`);
    net.dispose();
  });

  it('its forward pass changes nothing: running statistics, training flags, dropout counters, methods, memory', async () => {
    const model = dn.models.vggClassifier({ inputSize: 32, widthScale: 0.125, hidden: 8, freezeBase: true });
    const unet = dn.models.unet({ features: 4, depth: 1 });
    const x = dn.full([1, 32, 32, 3], 0.3);
    // One training step's worth of dropout calls and batch-norm updates, so there is state to keep.
    dn.noGrad(() => dn.scope(() => void model.forward(x)));
    dn.noGrad(() => dn.scope(() => void unet.forward(x)));
    unet.module('encoder1').eval();
    const counters = model.namedScalarState();
    const stats = await Promise.all(unet.namedBuffers().map((b) => b.tensor.toArray()));
    const flags = [model, unet].flatMap((m) => m.namedChildren().map(([, c]) => c.training));
    const before = dn.memory().bytesInUse;
    const bn = unet.module('encoder1.enc1norm1') as dn.nn.BatchNorm2d;
    const methods = [bn.forward, bn.forwardRelu];

    expect(model.summary([1, 32, 32, 3])).toContain('[1,1]');
    expect(unet.summary([1, 32, 32, 3])).toContain('[1,32,32,1]');

    expect(dn.memory().bytesInUse).toBe(before);
    expect(model.namedScalarState()).toEqual(counters);
    expect(await Promise.all(unet.namedBuffers().map((b) => b.tensor.toArray()))).toEqual(stats);
    expect([model, unet].flatMap((m) => m.namedChildren().map(([, c]) => c.training))).toEqual(flags);
    expect(model.training && unet.training).toBe(true);
    // The methods summary patched to record shapes are the ones the module had before.
    expect([bn.forward, bn.forwardRelu]).toEqual(methods);
    expect(bn.forward).toBe(methods[0]);
    for (const t of [x]) t.dispose();
    model.dispose();
    unet.dispose();
  });

  it('a module called more than once shows each distinct output shape and its number of calls', () => {
    class TwoConvs extends dn.nn.Module {
      conv1 = new dn.nn.Conv2d(3, 4, { kernelSize: 3, padding: 'same' });
      conv2 = new dn.nn.Conv2d(4, 8, { kernelSize: 3, padding: 'same', stride: 2 });
      relu = new dn.nn.ReLU();
      forward(x: dn.Tensor): dn.Tensor {
        return this.relu.forward(this.conv2.forward(this.relu.forward(this.conv1.forward(x))));
      }
    }
    const net = new TwoConvs();
    const rows = rowsOf(net.summary([1, 8, 8, 3]));
    expect(rows.find((r) => r.startsWith('relu '))).toMatch(/ReLU\s+\[1,8,8,4\], \[1,4,4,8\] \(2 calls\)$/);
    // Called twice more on the second conv's output: that shape three times.
    class Again extends TwoConvs {
      override forward(x: dn.Tensor): dn.Tensor {
        return this.relu.forward(this.relu.forward(super.forward(x)));
      }
    }
    const again = new Again();
    expect(rowsOf(again.summary([1, 8, 8, 3])).find((r) => r.startsWith('relu '))).toMatch(/ReLU\s+\[1,8,8,4\], \[1,4,4,8\] ×3 \(4 calls\)$/);
    again.dispose();
    expect(rows.find((r) => r.startsWith('conv1 '))).toMatch(/Conv2d\s+\[1,8,8,4\]\s+112$/);
    net.dispose();
  });

  it('without an input shape: no output column, no forward pass', () => {
    const net = new dn.nn.Sequential(['fc', new dn.nn.Linear(3, 2)], ['act', new dn.nn.ReLU()]);
    net.freeze('fc.bias');
    const table = net.summary();
    expect(table.split('\n')[0]).toMatch(/^module\s+class\s+parameters$/);
    expect(table).toContain('parameters: 8 (trainable 6, frozen 2); buffers: 0 values');
    net.dispose();
  });
});
