// An error leaving a layer's forward names the layer: called alone, by its class and configuration;
// inside a model, by its path from the model's root, written once however many levels it passes.
// The error keeps its class and the op's whole message after the name; a lost device's error (one
// object every later call throws again) passes unchanged.

import { describe, expect, it } from 'vitest';
import * as dn from '../../src/index.js';
import { useGpu } from '../helpers/gpu.js';

useGpu();

const { Conv2d, ReLU, Sequential } = dn.nn;

/** What `run` throws; the test fails if it returns. */
function thrown(run: () => unknown): Error {
  try {
    dn.scope(() => void run());
  } catch (e) {
    return e as Error;
  }
  throw new Error('nothing thrown');
}

/** A model whose conv sits three levels down: Net > body (Sequential) > block (Sequential) > conv1. */
class Net extends dn.Module {
  readonly conv1 = new Conv2d(3, 8, { stride: 2 });
  // Conv2d then ReLU: the Sequential runs the pair as one fused call (forwardRelu).
  readonly body = new Sequential(['block', new Sequential(['conv1', this.conv1], ['relu', new ReLU()])]);
  forward(x: dn.Tensor): dn.Tensor {
    return this.body.forward(x);
  }
}

/** What conv2d itself says of `layer` run on `x`, with no layer around it. */
const opMessage = (x: dn.Tensor, layer: InstanceType<typeof Conv2d>) =>
  thrown(() => dn.conv2d(x, layer.weight, layer.bias, { stride: layer.opts.stride ?? 1, padding: 'same' })).message;

describe('layer errors name the layer', () => {
  it('a Conv2d called alone: its class and configuration, then the op message whole', () => {
    const conv = new Conv2d(3, 8);
    const x = dn.zeros([1, 8, 8, 4]);
    const error = thrown(() => conv.forward(x));
    expect(error).toBeInstanceOf(dn.ShapeError);
    expect(error.message).toBe('Conv2d 3→8, 3x3: conv2d: input has 4 channels but the weight expects 3 (input [1,8,8,4], weight [3,3,3,8])');
    // A layer's own check names it already: not named twice.
    const linear = new dn.nn.Linear(4, 2);
    expect(thrown(() => linear.forward(dn.zeros([2, 2, 4])))).toBeInstanceOf(dn.ShapeError);
    expect(thrown(() => linear.forward(dn.zeros([2, 2, 4]))).message).toMatch(/^Linear: expects \[N, 4\] input/);
    for (const t of [x, conv, linear]) t.dispose();
  });

  it('inside Sequentials inside a Module: the path from the root, named once, the same through the fused path', () => {
    const net = new Net();
    const x = dn.zeros([1, 8, 8, 4]);
    const error = thrown(() => net.forward(x));
    expect(error).toBeInstanceOf(dn.ShapeError);
    expect(error.message).toBe(`Net body.block.conv1 (Conv2d 3→8, 3x3, stride 2): ${opMessage(x, net.conv1)}`);
    // The same layer run alone afterwards is named by where it ran, not by the earlier path.
    expect(thrown(() => net.conv1.forward(x)).message).toBe(`Conv2d 3→8, 3x3, stride 2: ${opMessage(x, net.conv1)}`);
    x.dispose();
    net.dispose();
  });

  it('a disposed input keeps its DisposedError class, alone and through the model', () => {
    const net = new Net();
    const x = dn.zeros([1, 8, 8, 3]);
    x.dispose();
    const alone = thrown(() => net.conv1.forward(x));
    const nested = thrown(() => net.forward(x));
    for (const e of [alone, nested]) expect(e).toBeInstanceOf(dn.DisposedError);
    expect(alone.message).toBe(`Conv2d 3→8, 3x3, stride 2: ${opMessage(x, net.conv1)}`);
    expect(nested.message).toBe(`Net body.block.conv1 (Conv2d 3→8, 3x3, stride 2): ${opMessage(x, net.conv1)}`);
    // Something not a tensor: ArgumentError, kept.
    expect(thrown(() => net.forward([1, 2] as never))).toBeInstanceOf(dn.ArgumentError);
    net.dispose();
  });

  it('a lost device passes through unchanged: the same object, no layer named', () => {
    const lost = new dn.DeviceLostError('GPU device lost (destroyed): gone');
    class Lost extends dn.Module {
      forward(): dn.Tensor {
        throw lost;
      }
    }
    const net = new Sequential(['a', new Sequential(['b', new Lost()])]);
    for (let i = 0; i < 2; i++) {
      expect(thrown(() => net.forward(dn.zeros([1])))).toBe(lost);
      expect(lost.message).toBe('GPU device lost (destroyed): gone');
    }
  });

  it('the configuration is written only once an error happens, and a broken one hides nothing', () => {
    let calls = 0;
    class Counted extends Conv2d {
      override extraRepr(): string {
        calls++;
        return super.extraRepr();
      }
    }
    class Broken extends Conv2d {
      override extraRepr(): string {
        throw new Error('broken');
      }
    }
    const counted = new Counted(3, 4);
    const broken = new Broken(3, 4);
    const [good, bad] = [dn.zeros([1, 4, 4, 3]), dn.zeros([1, 4, 4, 5])];
    dn.scope(() => void counted.forward(good));
    expect(calls).toBe(0);
    expect(thrown(() => counted.forward(bad)).message).toMatch(/^Counted 3→4, 3x3: conv2d: input has 5 channels/);
    expect(calls).toBe(1);
    const error = thrown(() => broken.forward(bad));
    expect(error).toBeInstanceOf(dn.ShapeError);
    expect(error.message).toMatch(/^Broken: conv2d: input has 5 channels/);
    for (const t of [good, bad, counted, broken]) t.dispose();
  });
});

describe('layer errors inside the models', () => {
  it('VGG16 fed 4 channels names its first conv by its path from the root', () => {
    const vgg = dn.models.vgg16({ widthScale: 1 / 32 });
    const x = dn.zeros([1, 8, 8, 4]);
    const error = thrown(() => vgg.forward(x));
    expect(error).toBeInstanceOf(dn.ShapeError);
    expect(error.message).toBe('Vgg16 features.block1_conv1 (Conv2d 3→2, 3x3): conv2d: input has 4 channels but the weight expects 3 (input [1,8,8,4], weight [3,3,3,2])');
    x.dispose();
    vgg.dispose();
  });

  it('a tiny U-Net: its own input check unprefixed; a fault in its first conv named by its path', () => {
    const net = dn.models.unet({ features: 2, depth: 1 });
    const wrong = dn.zeros([1, 4, 4, 4]);
    // The U-Net checks the channels before any conv runs, naming itself: it is not named again.
    const own = thrown(() => net.forward(wrong));
    expect(own).toBeInstanceOf(dn.ShapeError);
    expect(own.message).toMatch(/^UNet: expects \[N, H, W, 3\] input, got/);
    const x = dn.zeros([1, 4, 4, 3]);
    const conv = net.module('encoder1.enc1conv1') as InstanceType<typeof Conv2d>;
    conv.weight.dispose();
    const error = thrown(() => net.forward(x));
    expect(error).toBeInstanceOf(dn.DisposedError);
    expect(error.message).toMatch(/^UNet encoder1\.enc1conv1 \(Conv2d 3→2, 3x3\): conv2d: weight w .* was used after dispose\(\)$/);
    for (const t of [wrong, x, net]) t.dispose();
  });

  it('an attention U-Net: a fault inside a gate (reached through gate(), not forward) named by its path', () => {
    const net = dn.models.unet({ features: 2, depth: 1, attention: true });
    // 4x4: the bottleneck's batch norm sees 2x2 pixels, more than the one value it refuses.
    const x = dn.zeros([1, 4, 4, 3]);
    (net.module('attention1.W_x.0') as InstanceType<typeof Conv2d>).weight.dispose();
    const error = thrown(() => net.forward(x));
    expect(error).toBeInstanceOf(dn.DisposedError);
    expect(error.message).toMatch(/^UNet attention1\.W_x\.0 \(Conv2d 2→1, 1x1, padding valid\): conv2d: weight w /);
    x.dispose();
    net.dispose();
  });

  it('controls: the right inputs run', () => {
    const net = new Net();
    const unet = dn.models.unet({ features: 2, depth: 1 });
    const shapes = dn.scope(() => [net.forward(dn.zeros([1, 8, 8, 3])).shape, unet.forward(dn.zeros([1, 4, 4, 3])).shape]);
    expect(shapes).toEqual([[1, 4, 4, 8], [1, 4, 4, 1]]);
    net.dispose();
    unet.dispose();
  });
});
