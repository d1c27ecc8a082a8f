// NIfTI-1 writing (.nii, gzipped as .nii.gz): a patient's predicted volume in the format 3D Slicer,
// ITK-SNAP, FSLeyes and nibabel open. One 348-byte header, 4 bytes of (absent) extensions, then
// the voxels, x fastest, little-endian (nifti1.h, the NIfTI DFWG's definition).
//
// kaggle_3m's TIFFs record neither voxel size nor orientation. The volume is placed as axial
// slices are conventionally shown (radiological: the image's left is the patient's right, its top
// anterior), with slice numbers rising towards the head: in RAS+ world coordinates, columns run
// right to left (-x), rows anterior to posterior (-y), slices inferior to superior (+z). The
// spacing is the caller's (1 mm each way by default), as eval's --spacing.

import { ArgumentError } from '../errors.js';
// @ts-expect-error pako ships no type declarations; the one function used is declared below.
import pakoModule from 'pako';

const pako = pakoModule as { gzip: (data: Uint8Array, options: { level: number }) => Uint8Array };

export interface NiftiVolume {
  /** The voxels, x (columns) fastest, then y (rows), then z (slices): a stack of row-major slices. */
  data: Float32Array | Uint8Array;
  /** [columns, rows, slices]. */
  shape: readonly [number, number, number];
  /** Voxel size [dx, dy, dz] in mm (default 1, 1, 1). */
  spacing?: readonly [number, number, number];
  /** Up to 79 ASCII characters kept in the header's descrip field. */
  description?: string;
}

const HEADER_BYTES = 348;
const VOXEL_OFFSET = 352;
const DT_UINT8 = 2;
const DT_FLOAT32 = 16;
/** NIFTI_XFORM_ALIGNED_ANAT: coordinates aligned to anatomy, not the scanner's own (unknown here). */
const XFORM_ALIGNED = 2;
/** NIFTI_UNITS_MM. */
const UNITS_MM = 2;

/** The .nii file of `volume`. */
export function encodeNifti(volume: NiftiVolume): Uint8Array {
  const { data, shape } = volume;
  const [nx, ny, nz] = shape;
  if (![nx, ny, nz].every((d) => Number.isInteger(d) && d >= 1 && d <= 32767)) {
    throw new ArgumentError(`encodeNifti: shape [${shape.join(', ')}] must be three whole numbers from 1 to 32767 (the header stores them as shorts)`);
  }
  if (data.length !== nx * ny * nz) throw new ArgumentError(`encodeNifti: ${data.length} voxels do not fill [${shape.join(', ')}]`);
  const [dx, dy, dz] = volume.spacing ?? [1, 1, 1];
  if (![dx, dy, dz].every((d) => Number.isFinite(d) && d > 0)) throw new ArgumentError(`encodeNifti: spacing [${[dx, dy, dz].join(', ')}] must be positive`);
  const float = data instanceof Float32Array;
  const bytes = new Uint8Array(VOXEL_OFFSET + data.byteLength);
  const view = new DataView(bytes.buffer);
  const i16 = (at: number, v: number) => view.setInt16(at, v, true);
  const f32 = (at: number, v: number) => view.setFloat32(at, v, true);
  view.setInt32(0, HEADER_BYTES, true);
  bytes[38] = 'r'.charCodeAt(0);
  [3, nx, ny, nz, 1, 1, 1, 1].forEach((d, i) => i16(40 + 2 * i, d));
  i16(70, float ? DT_FLOAT32 : DT_UINT8);
  i16(72, float ? 32 : 8);
  // pixdim[0] is qfac: 1, a right-handed voxel grid.
  [1, dx, dy, dz, 1, 1, 1, 1].forEach((d, i) => f32(76 + 4 * i, d));
  f32(108, VOXEL_OFFSET);
  f32(112, 1); // scl_slope: values as stored
  bytes[123] = UNITS_MM;
  const text = (volume.description ?? '').replace(/[^\x20-\x7e]/g, '?').slice(0, 79);
  for (let i = 0; i < text.length; i++) bytes[148 + i] = text.charCodeAt(i);
  i16(252, XFORM_ALIGNED);
  i16(254, XFORM_ALIGNED);
  // The qform: a half turn about z (quaternion b, c, d = 0, 0, 1) flips x and y; offsets put voxel
  // (0, 0, 0) at the far right-anterior corner so that every centre has x, y >= 0.
  f32(264, 1);
  const origin = [(nx - 1) * dx, (ny - 1) * dy, 0];
  origin.forEach((o, i) => f32(268 + 4 * i, o));
  // The sform says the same as a matrix, rows x, y, z of [R·diag(spacing) | origin].
  const rows = [
    [-dx, 0, 0, origin[0]],
    [0, -dy, 0, origin[1]],
    [0, 0, dz, origin[2]],
  ];
  rows.forEach((row, r) => row.forEach((v, c) => f32(280 + 16 * r + 4 * c, v)));
  bytes.set([0x6e, 0x2b, 0x31, 0x00], 344); // "n+1\0": header and voxels in one file
  // Bytes 348-351 stay 0: no extensions.
  const voxels = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (float && !littleEndianHost) {
    for (let i = 0; i < data.length; i++) view.setFloat32(VOXEL_OFFSET + 4 * i, data[i], true);
  } else bytes.set(voxels, VOXEL_OFFSET);
  return bytes;
}

const littleEndianHost = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** The .nii.gz file of `volume` (gzip level 6; no timestamp, so the same volume gives the same bytes). */
export function encodeNiftiGz(volume: NiftiVolume): Uint8Array {
  return pako.gzip(encodeNifti(volume), { level: 6 });
}
