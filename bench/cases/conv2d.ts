// conv2d in its three directions on the U-Net levels (batch 16, 3x3, cin = cout) and VGG16's conv
// layers (batch 32, 256x256 input), 'same' padding, stride 1. Compute bound: 2 flops per
// multiply-add, the same count for all three directions. The naive kernels (one thread per
// output) are raced against the tiled ones under group 'conv2d-naive' (run with --naive).
//
// tfjs: tf.conv2d, and the backend kernels Conv2DBackpropInput / Conv2DBackpropFilter (what
// tf.grads of a conv2d runs; tfjs's gradient registry is not loaded in Node, see peer-tfjs.ts).

import type * as TF from '@tensorflow/tfjs-core';
import type { Tensor } from '../../src/graph/tensor.js';
import { isCpuAdapterReport } from '../../src/gpu/adapter-kind.js';
import { runtime } from '../../src/gpu/runtime.js';
import {
  convFlops,
  dims,
  unetLevels,
  vggLayers,
  family,
  type AlternativeRun,
  type BenchCase,
  type CaseFamily,
  type ConvLayer,
  type Tfjs,
} from '../case.js';

type Kernels = typeof import('../../src/kernels/conv2d.js') &
  typeof import('../../src/kernels/conv2d-uniform-weights.js') &
  typeof import('../../src/kernels/conv2d-row-patch.js') &
  typeof import('../../src/kernels/conv2d-naive.js') &
  typeof import('../../src/kernels/conv2d-winograd-run.js') &
  typeof import('../../src/kernels/conv2d-winograd-fused.js') &
  typeof import('../../src/kernels/conv2d-tuning.js') &
  typeof import('../../src/kernels/conv2d-launch.js');

const PAD = 'same';

type Direction = 'forward' | 'backwardInput' | 'backwardWeight';

function tfjsSide(dir: Direction, l: ConvLayer): (tf: Tfjs, x: TF.Tensor[]) => TF.Tensor {
  const wShape: [number, number, number, number] = [l.k, l.k, l.cin, l.cout];
  const xShape: [number, number, number, number] = [l.n, l.h, l.w, l.cin];
  if (dir === 'forward') return (tf, [x, w]) => tf.conv2d(x as TF.Tensor4D, w as TF.Tensor4D, 1, PAD);
  if (dir === 'backwardInput') {
    return (tf, [dy, w]) =>
      tf.engine().runKernel('Conv2DBackpropInput', { dy, filter: w }, { strides: 1, pad: PAD, dataFormat: 'NHWC', inputShape: xShape });
  }
  return (tf, [dy, x]) =>
    tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { strides: 1, pad: PAD, dataFormat: 'NHWC', filterShape: wShape });
}

function dawnetSide(k: Kernels, dir: Direction, l: ConvLayer, naive: boolean): (x: Tensor[]) => Tensor {
  const opts = { stride: 1, padding: PAD } as const;
  const xShape = [l.n, l.h, l.w, l.cin];
  const wShape = [l.k, l.k, l.cin, l.cout];
  if (dir === 'forward') {
    const f = naive ? k.conv2dForwardNaive : k.conv2dForward;
    return ([x, w]) => f(x, w, null, opts);
  }
  if (dir === 'backwardInput') {
    const f = naive ? k.conv2dBackwardInputNaive : k.conv2dBackwardInput;
    return ([dy, w]) => f(dy, w, xShape, opts);
  }
  const f = naive ? k.conv2dBackwardWeightNaive : k.conv2dBackwardWeight;
  return ([dy, x]) => f(dy, x, wShape, opts);
}

function convCase(k: Kernels, dir: Direction, l: ConvLayer, naive: boolean): BenchCase {
  const x = { name: 'x', shape: [l.n, l.h, l.w, l.cin] };
  const w = { name: 'w', shape: [l.k, l.k, l.cin, l.cout] };
  const dy = { name: 'dy', shape: [l.n, l.h, l.w, l.cout] };
  const inputs = dir === 'forward' ? [x, w] : dir === 'backwardInput' ? [dy, w] : [dy, x];
  return {
    id: `conv2d.${dir}${naive ? '.naive' : ''}/${l.name}`,
    group: naive ? 'conv2d-naive' : 'conv2d',
    shape: `${dims(x.shape)} k${l.k} ->${l.cout}`,
    metric: 'flops',
    work: convFlops(l),
    inputs,
    dawnet: dawnetSide(k, dir, l, naive),
    tfjs: tfjsSide(dir, l),
    // Sums over up to 9·512 products (forward) or N·H·W (weight gradient) in different orders;
    // Winograd's transforms amplify float32 rounding (test/helpers/close.ts winogradTolerance:
    // up to ~1e-5 of the largest output at K = 64, growing like sqrt(K)).
    tolerance: dir === 'backwardWeight' ? 1e-3 : 5e-4,
    ...(naive || dir === 'backwardWeight' ? {} : { probeOperands: true }),
    ...(naive ? {} : { ...algorithms(k, dir, l), profileKernels: true }),
  };
}

/**
 * What the case runs (convAlgorithm) and, where another algorithm fits, the others, timed beside it
 * in the same run: direct, Winograd staged through memory (3x3 stride 1, every direction), fused
 * where its output channels come in vec4s (not for the weight gradient), and the uniform-weights
 * kernel (forwards whose weights fit a uniform buffer, Cout <= 64) and Winograd by it, the
 * channel-lanes and row-patch kernels (few inputs a pixel); on GPUs also the uniform-weights
 * ones and row-patch at their other pixel counts a thread ('uniform-weights P=1'); and the
 * conv as tuneConvs would run it ('tuned: ALGORITHM [TILE]', tuned just before, its choice in force
 * for its own samples only).
 */
function algorithms(k: Kernels, dir: Direction, l: ConvLayer): Pick<BenchCase, 'algorithm' | 'alternatives'> {
  const geometry = () => k.conv2dGeometry([l.n, l.h, l.w, l.cin], [l.k, l.k, l.cin, l.cout], { stride: 1, padding: PAD });
  return {
    algorithm: () => k.convAlgorithm(dir, geometry()),
    alternatives: async () => {
      if (!k.hasAlgorithmChoice(dir, geometry())) return [];
      const ran = k.convAlgorithm(dir, geometry());
      const others = k.CONV_ALGORITHMS.filter((a) => a !== ran && k.algorithmRuns(a, dir, geometry()));
      const forced: AlternativeRun[] = others.map((algorithm) => ({ algorithm, around: forcing(k, algorithm) }));
      const gpu = !isCpuAdapterReport(runtime().ctx.report);
      for (const v of pixelSides(k, dir, geometry(), gpu)) forced.push({ algorithm: `${v.algorithm} P=${v.pixels}`, around: forcing(k, v.algorithm, v.pixels) });
      // A forced algorithm overrides any tuning: then there is no tuned way to time.
      const tuned = k.convAlgorithmSetting() === 'auto' ? await tunedRun(k, dir, geometry()) : [];
      return [...forced, ...tuned];
    },
  };
}

/** The algorithms the benchmark times at other pixel counts a thread. */
type PixelAlgorithm = 'uniform-weights' | 'winograd-uniform' | 'row-patch';

/**
 * The uniform-weights kernel, Winograd by it, and the row-patch kernel at each other pixel count a
 * thread (pixelVariants, ROW_PATCH_PIXEL_VARIANTS) where they run this conv: on GPUs only, whose
 * registers decide the best count (CPU adapters run one pixel a thread by the uniform weights,
 * conv2d-uniform-weights.ts, and tune neither kernel).
 */
export function pixelSides(k: Kernels, dir: Direction, g: ReturnType<Kernels['conv2dGeometry']>, gpu: boolean): { algorithm: PixelAlgorithm; pixels: number }[] {
  if (!gpu) return [];
  const uniform = (['uniform-weights', 'winograd-uniform'] as const)
    .filter((a) => k.algorithmRuns(a, dir, g))
    .flatMap((algorithm) => {
      // The kernel's outputs: the conv's, or for Winograd its GEMM's N (dx has Cin).
      const outputs = algorithm === 'winograd-uniform' && dir === 'backwardInput' ? g.cin : g.cout;
      return k.pixelVariants(outputs).map((pixels) => ({ algorithm, pixels }));
    });
  const rowPatch = k.algorithmRuns('row-patch', dir, g) ? k.ROW_PATCH_PIXEL_VARIANTS.filter((p) => k.rowPatchLayout(g, p)).map((pixels) => ({ algorithm: 'row-patch' as const, pixels })) : [];
  return [...uniform, ...rowPatch];
}

/** A side that runs the step with `algorithm` forced (and its kernel at `pixels` a thread). */
function forcing(k: Kernels, algorithm: Parameters<Kernels['setConvAlgorithm']>[0], pixels?: number) {
  const setPixels = algorithm === 'row-patch' ? k.setRowPatchPixels : k.setUniformWeightsPixels;
  return <T>(step: () => T): T => {
    const before = k.setConvAlgorithm(algorithm);
    if (pixels) setPixels(pixels);
    try {
      return step();
    } finally {
      k.setConvAlgorithm(before);
      if (pixels) setPixels(null);
    }
  };
}

/** The conv tuned alone (tuneConv), as a side that runs with its choice in force (withConvTuning). */
async function tunedRun(k: Kernels, dir: Direction, g: ReturnType<Kernels['conv2dGeometry']>): Promise<AlternativeRun[]> {
  // Three samples a candidate rather than tuneConvs' five: a GPU's timestamps vary little, and
  // with every tile of every algorithm timed the tuning is what the conv cases' budget pays for.
  const t = await k.tuneConv({ direction: dir, geometry: g, family: k.defaultConvFamily() }, { reps: 3 });
  if (!t) return [];
  return [{ algorithm: `tuned: ${k.formatCandidate(t)}`, around: <T>(step: () => T): T => k.withConvTuning([t], step) }];
}

const DIRECTIONS: Direction[] = ['forward', 'backwardInput', 'backwardWeight'];

function cases(k: Kernels, scale: number): BenchCase[] {
  const out: BenchCase[] = [];
  for (const naive of [false, true]) {
    if (naive && typeof k.conv2dForwardNaive !== 'function') continue;
    for (const l of [...unetLevels(scale), ...vggLayers(scale)]) {
      for (const dir of DIRECTIONS) out.push(convCase(k, dir, l, naive));
    }
  }
  return out;
}

/** The conv2d modules: the GEMM kernels, the naive ones they race, and Winograd's choice and kernels. */
/** The conv kernels' modules, loaded when the group runs (exported for tests). */
export async function load(): Promise<Kernels> {
  return {
    ...(await import('../../src/kernels/conv2d.js')),
    ...(await import('../../src/kernels/conv2d-uniform-weights.js')),
    ...(await import('../../src/kernels/conv2d-row-patch.js')),
    ...(await import('../../src/kernels/conv2d-naive.js')),
    ...(await import('../../src/kernels/conv2d-winograd-run.js')),
    ...(await import('../../src/kernels/conv2d-winograd-fused.js')),
    ...(await import('../../src/kernels/conv2d-tuning.js')),
    ...(await import('../../src/kernels/conv2d-launch.js')),
  };
}

export const conv2dFamily: CaseFamily = family('conv2d', load, cases);
