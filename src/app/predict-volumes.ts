// `predict --nifti`: each patient folder's predictions stacked into NIfTI volumes, for 3D Slicer,
// ITK-SNAP or nibabel: NAME_prob.nii.gz (float32 probabilities), NAME_mask.nii.gz (uint8 0/1, the
// mask as written beside it, post-processed where asked) and NAME_flair.nii.gz (the FLAIR channel
// in 0..1, to lay them over). A slice goes to z = its number - 1 (kaggle_3m's <folder>_<n>.tif),
// so a number missing from the folder is a blank plane at its place, named in the log and in
// predictions.json, and the volume keeps its geometry. Each folder is written as soon as its last
// slice is predicted and then freed: a whole data set's volumes are never held at once.

import { ArgumentError } from '../errors.js';
import { SLICE_FILE } from '../data/lgg-names.js';
import { writeFileAtomic } from '../io/files.js';
import { encodeNiftiGz } from '../io/nifti.js';

/** One patient folder's volume as it fills. */
interface Volume {
  name: string;
  depth: number;
  missing: number[];
  /** Slice path -> its plane (z). */
  planes: Map<string, number>;
  left: number;
  prob: Float32Array;
  mask: Uint8Array;
  flair: Float32Array;
}

export interface VolumeFiles {
  folder: string;
  files: string[];
  /** Slice numbers below the highest that the folder lacks: blank planes. */
  missingSlices: number[];
}

export class VolumeStacker {
  private readonly byPath = new Map<string, Volume>();
  /** The folders written so far, in order. */
  readonly written: VolumeFiles[] = [];

  /**
   * Plans a volume per folder; a folder holding two slices of one number is refused here, before
   * anything is predicted. `names` gives each folder its output name (unique in the run).
   */
  constructor(
    folders: ReadonlyMap<string, readonly string[]>,
    names: ReadonlyMap<string, string>,
    private readonly size: number,
    private readonly spacing: readonly [number, number, number],
    private readonly outDir: string,
  ) {
    for (const [folder, slices] of folders) {
      const numbers = slices.map((path) => Number(SLICE_FILE.exec(path.split('/').pop()!)![2]));
      const seen = new Set<number>();
      for (const [i, n] of numbers.entries()) {
        if (seen.has(n)) throw new ArgumentError(`predict: ${folder} holds two slices numbered ${n} (${slices[i]}); a volume needs one per number`);
        seen.add(n);
      }
      const depth = Math.max(...numbers);
      const missing = Array.from({ length: depth }, (_, i) => i + 1).filter((n) => !seen.has(n));
      const plane = size * size;
      const volume: Volume = {
        name: names.get(folder)!,
        depth,
        missing,
        planes: new Map(slices.map((path, i) => [path, numbers[i] - 1])),
        left: slices.length,
        prob: new Float32Array(plane * depth),
        mask: new Uint8Array(plane * depth),
        flair: new Float32Array(plane * depth),
      };
      for (const path of slices) this.byPath.set(path, volume);
    }
  }

  /**
   * Places one slice's prediction; when it completes its folder, writes the folder's volumes and
   * returns their files (null otherwise, and for a slice given on its own).
   */
  async add(folder: string | null, path: string, prob: Float32Array, mask: ArrayLike<number>, rgb: Float32Array): Promise<VolumeFiles | null> {
    const v = folder === null ? undefined : this.byPath.get(path);
    if (!v) return null;
    const plane = this.size * this.size;
    const at = v.planes.get(path)! * plane;
    v.prob.set(prob, at);
    for (let p = 0; p < plane; p++) {
      v.mask[at + p] = mask[p] ? 1 : 0;
      v.flair[at + p] = rgb[p * 3 + 1];
    }
    if (--v.left > 0) return null;
    for (const p of v.planes.keys()) this.byPath.delete(p);
    const shape = [this.size, this.size, v.depth] as const;
    const description = (what: string) => `dawnet predict: ${what}`;
    const files = [`${this.outDir}/${v.name}_prob.nii.gz`, `${this.outDir}/${v.name}_mask.nii.gz`, `${this.outDir}/${v.name}_flair.nii.gz`];
    await writeFileAtomic(files[0], encodeNiftiGz({ data: v.prob, shape, spacing: this.spacing, description: description('p(tumour)') }));
    await writeFileAtomic(files[1], encodeNiftiGz({ data: v.mask, shape, spacing: this.spacing, description: description('mask, p >= 0.5') }));
    await writeFileAtomic(files[2], encodeNiftiGz({ data: v.flair, shape, spacing: this.spacing, description: description('FLAIR, 0..1') }));
    const done: VolumeFiles = { folder: folder!, files, missingSlices: v.missing };
    this.written.push(done);
    return done;
  }
}
