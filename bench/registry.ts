// Every case family, in the order the suite runs them. A family whose dawnet kernel module is
// missing (being written) or fails to load prints a note and is skipped, so the harness runs
// today and picks the family up once the module lands.

import type { BenchCase, CaseFamily } from './case.js';
import type { E2eCase } from './e2e.js';
import { augmentFamily } from './cases/augment.js';
import { batchnormFamily } from './cases/batchnorm.js';
import { conv2dFamily } from './cases/conv2d.js';
import { depthwiseFamily } from './cases/depthwise.js';
import { elementwiseFamily } from './cases/elementwise.js';
import { libraryFamily } from './cases/library.js';
import { matmulFamily } from './cases/matmul.js';
import { poolFamily } from './cases/pool.js';
import { reduceFamily } from './cases/reduce.js';
import { softmaxFamily } from './cases/softmax.js';
import { unetTrainCases } from './cases/unet-train.js';
import { unet3dTrainCases } from './cases/unet3d-train.js';
import { upsampleFamily } from './cases/upsample.js';
import { vggForwardCases } from './cases/vgg-forward.js';
import { volumeFamily } from './cases/volume.js';

export const FAMILIES: readonly CaseFamily[] = [
  elementwiseFamily,
  reduceFamily,
  conv2dFamily,
  depthwiseFamily,
  matmulFamily,
  poolFamily,
  upsampleFamily,
  batchnormFamily,
  softmaxFamily,
  libraryFamily,
  volumeFamily,
  augmentFamily,
];

/**
 * Every group a case can belong to, in the suite's order: what --group accepts. The conv2d family
 * also makes the naive kernels' races ('conv2d-naive'); 'e2e' holds the end-to-end cases.
 */
export const GROUPS: readonly string[] = ['e2e', ...FAMILIES.flatMap((f) => (f.group === 'conv2d' ? ['conv2d', 'conv2d-naive'] : [f.group]))];

export interface CaseFilter {
  /** Keep cases whose id matches. */
  only?: RegExp;
  /** Keep cases of these groups (e.g. 'conv2d', 'conv2d-naive'). */
  groups?: string[];
  /** Include the naive reference kernels' races (group names ending in '-naive'). */
  naive?: boolean;
}

export function keepCase(c: Pick<BenchCase, 'id' | 'group'>, filter: CaseFilter): boolean {
  if (filter.groups && !filter.groups.includes(c.group)) return false;
  if (!filter.naive && !filter.groups && c.group.endsWith('-naive')) return false;
  return !filter.only || filter.only.test(c.id);
}

export async function loadCases(scale: number, filter: CaseFilter = {}): Promise<BenchCase[]> {
  const out: BenchCase[] = [];
  for (const fam of FAMILIES) {
    const cases = await fam.cases(scale);
    if (cases) out.push(...cases.filter((c) => keepCase(c, filter)));
  }
  return out;
}

/** The end-to-end cases (group 'e2e'): U-Net training steps, then VGG16 forwards, two batch sizes each. */
export function loadE2eCases(scale: number, filter: CaseFilter = {}): E2eCase[] {
  return [...unetTrainCases(scale), ...vggForwardCases(scale), ...unet3dTrainCases(scale)].filter((c) => keepCase(c, filter));
}
