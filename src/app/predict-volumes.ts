// `predict --nifti`: each patient folder's predictions stacked into NIfTI volumes, for 3D Slicer,
// ITK-SNAP or nibabel (io/nifti-stack.ts: NAME_prob, NAME_mask and NAME_flair .nii.gz, slice n at
// z = n - 1, a missing number a blank plane, named in the log and in predictions.json). Each
// folder is written as soon as its last slice is predicted and then freed: a whole data set's
// volumes are never held at once.

import { writeFileAtomic } from '../io/files.js';
import { SliceStack, sliceNumber } from '../io/nifti-stack.js';

export interface VolumeFiles {
  folder: string;
  files: string[];
  /** Slice numbers below the highest that the folder lacks: blank planes. */
  missingSlices: number[];
}

interface Volume {
  name: string;
  folder: string;
  stack: SliceStack;
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
    size: number,
    private readonly spacing: readonly [number, number, number],
    private readonly outDir: string,
  ) {
    for (const [folder, slices] of folders) {
      const planned = slices.map((path) => ({ key: path, number: sliceNumber(path.split('/').pop()!)! }));
      const volume: Volume = { name: names.get(folder)!, folder, stack: new SliceStack(planned, size, `predict: ${folder}`) };
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
    this.byPath.delete(path);
    if (!v.stack.place(path, prob, mask, rgb)) return null;
    const files: string[] = [];
    for (const { kind, bytes } of v.stack.encode(this.spacing, 'dawnet predict')) {
      files.push(`${this.outDir}/${v.name}_${kind}.nii.gz`);
      await writeFileAtomic(files.at(-1)!, bytes);
    }
    const done: VolumeFiles = { folder: v.folder, files, missingSlices: v.stack.missing };
    this.written.push(done);
    return done;
  }
}
