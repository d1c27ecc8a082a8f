// NIfTI-1 writing (src/io/nifti.ts), read back field by field at nifti1.h's offsets by a reader
// written here: the header nibabel and 3D Slicer check (sizeof_hdr 348, magic n+1, vox_offset 352,
// datatype and bitpix), the voxels x fastest, and the orientation the two transforms state.

import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { encodeNifti, encodeNiftiGz } from '../../src/io/nifti.js';
import { ArgumentError } from '../../src/errors.js';

function readHeader(bytes: Uint8Array) {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const shorts = (at: number, n: number) => Array.from({ length: n }, (_, i) => v.getInt16(at + 2 * i, true));
  const floats = (at: number, n: number) => Array.from({ length: n }, (_, i) => v.getFloat32(at + 4 * i, true));
  const text = (at: number, n: number) => String.fromCharCode(...bytes.subarray(at, at + n)).replace(/\0.*$/s, '');
  return {
    sizeofHdr: v.getInt32(0, true),
    dim: shorts(40, 8),
    datatype: v.getInt16(70, true),
    bitpix: v.getInt16(72, true),
    pixdim: floats(76, 8),
    voxOffset: v.getFloat32(108, true),
    sclSlope: v.getFloat32(112, true),
    xyztUnits: bytes[123],
    descrip: text(148, 80),
    qformCode: v.getInt16(252, true),
    sformCode: v.getInt16(254, true),
    quatern: floats(256, 3),
    qoffset: floats(268, 3),
    srow: [floats(280, 4), floats(296, 4), floats(312, 4)],
    magic: Array.from(bytes.subarray(344, 348)),
    extension: Array.from(bytes.subarray(348, 352)),
  };
}

describe('NIfTI-1', () => {
  it('writes a float32 volume with its header, voxels x fastest, and the orientation both transforms give', () => {
    // 3 columns, 2 rows, 4 slices; voxel (x, y, z) holds 100 z + 10 y + x.
    const data = Float32Array.from({ length: 24 }, (_, i) => 100 * Math.floor(i / 6) + 10 * (Math.floor(i / 3) % 2) + (i % 3));
    const bytes = encodeNifti({ data, shape: [3, 2, 4], spacing: [0.5, 0.75, 2.5], description: 'p(tumour)' });
    const h = readHeader(bytes);
    expect(bytes.length).toBe(352 + 24 * 4);
    expect([h.sizeofHdr, h.voxOffset, h.datatype, h.bitpix, h.sclSlope, h.xyztUnits]).toEqual([348, 352, 16, 32, 1, 2]);
    expect(h.magic).toEqual([0x6e, 0x2b, 0x31, 0]);
    expect(h.extension).toEqual([0, 0, 0, 0]);
    expect(h.dim).toEqual([3, 3, 2, 4, 1, 1, 1, 1]);
    expect(h.pixdim.slice(0, 4)).toEqual([1, 0.5, 0.75, 2.5]);
    expect(h.descrip).toBe('p(tumour)');
    expect([h.qformCode, h.sformCode]).toEqual([2, 2]);
    const back = new Float32Array(bytes.slice(352).buffer);
    expect(Array.from(back)).toEqual(Array.from(data));
    // World position of voxel (i, j, k) by the sform, and by the qform (R from the quaternion b, c, d).
    const sform = (i: number, j: number, k: number) => h.srow.map((r) => r[0] * i + r[1] * j + r[2] * k + r[3]);
    const [b, c, d] = h.quatern;
    const a = Math.sqrt(Math.max(0, 1 - b * b - c * c - d * d));
    const R = [
      [a * a + b * b - c * c - d * d, 2 * (b * c - a * d), 2 * (b * d + a * c)],
      [2 * (b * c + a * d), a * a + c * c - b * b - d * d, 2 * (c * d - a * b)],
      [2 * (b * d - a * c), 2 * (c * d + a * b), a * a + d * d - c * c - b * b],
    ];
    const qform = (i: number, j: number, k: number) => R.map((row, r) => row[0] * i * 0.5 + row[1] * j * 0.75 + row[2] * k * 2.5 + h.qoffset[r]);
    for (const [i, j, k] of [[0, 0, 0], [2, 1, 3], [1, 0, 2]]) expect(qform(i, j, k).map((x) => x + 0)).toEqual(sform(i, j, k).map((x) => x + 0));
    // Columns run to the patient's left (-x), rows to posterior (-y), slices up (+z), all within x, y, z >= 0.
    expect(sform(0, 0, 0)).toEqual([1, 0.75, 0]);
    expect(sform(2, 1, 3)).toEqual([0, 0, 7.5]);
  });

  it('writes uint8 masks, gzips without a timestamp (same volume, same bytes), and refuses what the header cannot hold', () => {
    const mask = Uint8Array.from({ length: 8 }, (_, i) => i % 2);
    const gz = encodeNiftiGz({ data: mask, shape: [2, 2, 2] });
    expect(Buffer.from(gz).equals(Buffer.from(encodeNiftiGz({ data: mask, shape: [2, 2, 2] })))).toBe(true);
    const raw = gunzipSync(gz);
    const h = readHeader(raw);
    expect([h.datatype, h.bitpix, raw.length]).toEqual([2, 8, 360]);
    expect(h.pixdim.slice(1, 4)).toEqual([1, 1, 1]);
    expect(Array.from(raw.subarray(352))).toEqual(Array.from(mask));
    expect(() => encodeNifti({ data: mask, shape: [2, 2, 3] })).toThrow(ArgumentError);
    expect(() => encodeNifti({ data: new Uint8Array(40000), shape: [40000, 1, 1] })).toThrow(/from 1 to 32767/);
    expect(() => encodeNifti({ data: mask, shape: [2, 2, 2], spacing: [1, 0, 1] })).toThrow(/must be positive/);
  });
});
