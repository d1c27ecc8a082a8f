// The Segment panel's NIfTI downloads: the segmented slices on show stacked by patient, as
// `dawnet predict --nifti` stacks a patient folder (src/io/nifti-stack.ts): NAME_prob, NAME_mask
// (as drawn, post-processed where asked) and NAME_flair .nii.gz, slice n at z = n - 1, a missing
// number a blank plane, 1 mm voxels (kaggle_3m's TIFFs record none). A patient is a folder and
// kaggle_3m prefix (slice-input.ts volumeOf); one with fewer than two numbered slices on show, or
// whose slices were resized to different sides (an older checkpoint), is not offered.

import { SliceStack, sliceNumber } from '../src/io/nifti-stack.js';
import { byId, pageState, type PatientVolumes } from './page-state.js';
import type { SliceInput } from './slice-input.js';

/** A segmented slice as the panel shows it: its input, p(tumour) per pixel, the mask drawn. */
export interface SegmentedSlice extends SliceInput {
  prob: Float32Array;
  mask: ArrayLike<number>;
}

/** The object URLs of the links on show, revoked when they are replaced. */
let urls: string[] = [];

/** A name for a patient's files: its prefix, with the folder's last part where two folders share it. */
function fileStem(patient: string, folder: string | null, clash: boolean): string {
  return clash && folder ? `${folder.split('/').pop()}_${patient}` : patient;
}

/** Stacks the slices by patient and shows a download link per volume; returns what it offered. */
export function offerVolumes(slices: readonly SegmentedSlice[]): PatientVolumes[] {
  for (const url of urls) URL.revokeObjectURL(url);
  urls = [];
  const groups = new Map<string, SegmentedSlice[]>();
  for (const s of slices) {
    if (sliceNumber(s.file) === null) continue;
    groups.set(s.volume.key, [...(groups.get(s.volume.key) ?? []), s]);
  }
  const kept = [...groups.values()].filter((g) => g.length >= 2 && g.every((s) => s.size === g[0].size));
  const patients = kept.map((g) => g[0].volume.patient);
  const offered: PatientVolumes[] = [];
  const list = document.createElement('ul');
  for (const group of kept) {
    const { patient, folder } = group[0].volume;
    const stem = fileStem(patient, folder, patients.filter((p) => p === patient).length > 1);
    const stack = new SliceStack(group.map((s) => ({ key: s.file, number: sliceNumber(s.file)! })), group[0].size, stem);
    for (const s of group) stack.place(s.file, s.prob, s.mask, s.rgb);
    const item = document.createElement('li');
    const gaps = stack.missing.length ? `, slices ${stack.missing.join(', ')} missing (blank planes)` : '';
    item.append(`${stem}: ${group.length} slices${gaps}: `);
    const files: string[] = [];
    for (const { kind, bytes } of stack.encode([1, 1, 1], 'dawnet page')) {
      const name = `${stem}_${kind}.nii.gz`;
      const link = document.createElement('a');
      link.href = URL.createObjectURL(new Blob([bytes as BlobPart], { type: 'application/gzip' }));
      link.download = name;
      link.textContent = name;
      link.dataset.testid = 'volume-link';
      urls.push(link.href);
      files.push(name);
      item.append(link, ' ');
    }
    list.append(item);
    offered.push({ patient: stem, slices: group.length, missing: stack.missing, files });
  }
  const panel = byId('volumes');
  panel.replaceChildren(...(offered.length ? [document.createTextNode('NIfTI volumes of the patients on show (for 3D Slicer, ITK-SNAP, nibabel; 1 mm voxels):'), list] : []));
  panel.hidden = offered.length === 0;
  pageState.volumes = offered;
  return offered;
}
