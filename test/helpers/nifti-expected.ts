// The volume both NIfTI read-back tests write (nifti-interop: nifti-reader-js; nifti-nibabel:
// nibabel) and the affine each reader must find for it: src/io/nifti.ts's radiological placement,
// voxel (0, 0, 0) at the right-anterior corner, columns going left, rows posterior, slices up.
export const PROB_VOLUME = { shape: [3, 2, 4], spacing: [0.5, 0.75, 2.5], description: 'p(tumour)' } as const;

export const PROB_AFFINE = [
  [-0.5, 0, 0, 1],
  [0, -0.75, 0, 0.75],
  [0, 0, 2.5, 0],
  [0, 0, 0, 1],
];
