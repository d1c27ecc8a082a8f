// One patient's slice predictions stacked into NIfTI volumes: `predict --nifti` writes them
// (app/predict-volumes.ts), the web page offers them as downloads. Three volumes: NAME_prob
// (float32 probabilities), NAME_mask (uint8 0/1, the mask as drawn, post-processed where asked) and
// NAME_flair (the FLAIR channel in 0..1, to lay them over). A slice goes to z = its number - 1
// (kaggle_3m's <patient>_<n>.tif), so a number the patient lacks is a blank plane at its place and
// the volume keeps its geometry. Host arrays and bytes only: no file system, so the page can use it.

import { ArgumentError } from '../errors.js';
import { SLICE_FILE } from '../data/lgg-names.js';
import { encodeNiftiGz } from './nifti.js';

/** A slice's number in its kaggle_3m file name (`..._12.tif` is 12), or null for another name. */
export function sliceNumber(fileName: string): number | null {
  const m = SLICE_FILE.exec(fileName);
  return m ? Number(m[2]) : null;
}

export const VOLUME_KINDS = ['prob', 'mask', 'flair'] as const;
export type VolumeKind = (typeof VOLUME_KINDS)[number];

/** A patient's volumes as they fill: one plane per slice number up to the highest. */
export class SliceStack {
  readonly depth: number;
  /** Slice numbers below the highest that the patient lacks: blank planes. */
  readonly missing: number[];
  private readonly planes: Map<string, number>;
  private left: number;
  private readonly prob: Float32Array;
  private readonly mask: Uint8Array;
  private readonly flair: Float32Array;

  /**
   * `slices`: each slice's key (its path) and number. Two slices of one number are refused, the
   * message led by `where` (the folder or patient).
   */
  constructor(slices: readonly { key: string; number: number }[], private readonly size: number, where: string) {
    const seen = new Map<number, string>();
    for (const { key, number } of slices) {
      if (!Number.isInteger(number) || number < 1) throw new ArgumentError(`${where}: slice ${key} has no number >= 1 to place it by`);
      if (seen.has(number)) throw new ArgumentError(`${where} holds two slices numbered ${number} (${key}); a volume needs one per number`);
      seen.set(number, key);
    }
    this.depth = Math.max(...seen.keys());
    this.missing = Array.from({ length: this.depth }, (_, i) => i + 1).filter((n) => !seen.has(n));
    this.planes = new Map(slices.map(({ key, number }) => [key, number - 1]));
    this.left = slices.length;
    const voxels = size * size * this.depth;
    this.prob = new Float32Array(voxels);
    this.mask = new Uint8Array(voxels);
    this.flair = new Float32Array(voxels);
  }

  /** Places one slice (prob and mask [size²], rgb [size², 3] in 0..1); true once every slice is in. */
  place(key: string, prob: ArrayLike<number>, mask: ArrayLike<number>, rgb: ArrayLike<number>): boolean {
    const z = this.planes.get(key);
    if (z === undefined) throw new ArgumentError(`SliceStack: ${key} is not one of the slices planned`);
    const plane = this.size * this.size;
    const at = z * plane;
    for (let p = 0; p < plane; p++) {
      this.prob[at + p] = prob[p];
      this.mask[at + p] = mask[p] ? 1 : 0;
      this.flair[at + p] = rgb[p * 3 + 1];
    }
    this.planes.delete(key);
    return --this.left === 0;
  }

  /** The three volumes gzipped, in VOLUME_KINDS order; `by` leads each header's description. */
  encode(spacing: readonly [number, number, number], by: string): { kind: VolumeKind; bytes: Uint8Array }[] {
    const shape = [this.size, this.size, this.depth] as const;
    const volume = (data: Float32Array | Uint8Array, what: string) => encodeNiftiGz({ data, shape, spacing, description: `${by}: ${what}` });
    return [
      { kind: 'prob', bytes: volume(this.prob, 'p(tumour)') },
      { kind: 'mask', bytes: volume(this.mask, 'mask, p >= 0.5') },
      { kind: 'flair', bytes: volume(this.flair, 'FLAIR, 0..1') },
    ];
  }
}
