// Every built-in model variant builds with each child, parameter and buffer name registered once
// (Module refuses a name taken already, so a variant that reused one would throw here), and its
// state dict holds every tensor it trains under a name of its own.

import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { AttentionGate } from '../../src/models/attention-gate.js';
import { unet, type UNetOptions } from '../../src/models/unet.js';
import { vgg16, vggClassifier } from '../../src/models/vgg16.js';
import { useGpu } from '../helpers/gpu.js';

useGpu();

/** One name per tensor: every parameter and buffer reachable under a name of its own. */
function expectDistinctNames(what: string, model: dn.Module): void {
  const entries = [...model.namedParameters(), ...model.namedBuffers()];
  expect(new Set(entries.map((e) => e.name)).size, what).toBe(entries.length);
  expect(new Set(entries.map((e) => e.tensor)).size, what).toBe(entries.length);
  expect(model.stateDict().size, what).toBe(entries.length);
}

describe('built-in models register each name once', () => {
  it('every U-Net variant (up-sampling, attention, norm) builds, its tensors each under a name of its own', () => {
    const ups = ['transpose', 'bilinear'] as const;
    const norms = ['batch', 'instance', 'group', 'none'] as const;
    for (const up of ups) {
      for (const attention of [false, true]) {
        for (const norm of norms) {
          const opts: UNetOptions = { features: 8, depth: 2, up, attention, norm, normGroups: 4 };
          const model = unet(opts);
          expectDistinctNames(JSON.stringify(opts), model);
          model.dispose();
        }
      }
    }
  });

  it("the full-size U-Nets keep their documented parameter counts and Buda's names", () => {
    const plain = unet();
    expect(plain.parameterCount()).toBe(7_763_041);
    expectDistinctNames('unet()', plain);
    plain.dispose();
    const gated = unet({ attention: true });
    expect(gated.parameterCount()).toBe(7_851_773);
    expect(gated.namedChildren().map(([n]) => n)).toEqual([
      'encoder1', 'encoder2', 'encoder3', 'encoder4', 'bottleneck',
      'upconv4', 'attention4', 'decoder4', 'upconv3', 'attention3', 'decoder3',
      'upconv2', 'attention2', 'decoder2', 'upconv1', 'attention1', 'decoder1', 'conv',
    ]);
    expectDistinctNames('unet({ attention: true })', gated);
    gated.dispose();
  });

  it('VGG16 with and without its top, the classifier and a lone attention gate build with distinct names', () => {
    const models: [string, dn.Module][] = [
      ['vgg16 without top', vgg16({ widthScale: 1 / 32 })],
      ['vgg16 with top', vgg16({ includeTop: true, widthScale: 1 / 32, classes: 5 })],
      ['vggClassifier', vggClassifier({ inputSize: 32, widthScale: 1 / 32, hidden: 8 })],
      ['attention gate', new AttentionGate(4, 6)],
    ];
    for (const [what, model] of models) {
      expectDistinctNames(what, model);
      model.dispose();
    }
  });
});
