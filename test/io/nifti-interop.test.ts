// dawnet's NIfTI files as another program reads them: nifti-reader-js (the reader behind the
// Papaya viewer, a dev dependency for this test only) parses the gzipped header, gets the voxels
// back, turns the qform's quaternion into the same matrix as the sform, and names the orientation
// the header states: columns and rows flipped (patient right to left, anterior to posterior), z up.

import * as nifti from 'nifti-reader-js';
import { describe, expect, it } from 'vitest';
import { encodeNiftiGz } from '../../src/io/nifti.js';
import { PROB_AFFINE, PROB_VOLUME } from '../helpers/nifti-expected.js';

const arrayBuffer = (b: Uint8Array): ArrayBuffer => b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;

describe('NIfTI read by nifti-reader-js', () => {
  it('reads a float32 volume: dims, spacing, voxels, and one orientation in both transforms', () => {
    const data = Float32Array.from({ length: 3 * 2 * 4 }, (_, i) => i * 0.5);
    const gz = arrayBuffer(encodeNiftiGz({ data, ...PROB_VOLUME }));
    expect(nifti.isCompressed(gz)).toBe(true);
    const raw = nifti.decompress(gz) as ArrayBuffer;
    expect(nifti.isNIFTI1(raw)).toBe(true);
    const h = nifti.readHeader(raw) as nifti.NIFTI1;
    expect(h.dims.slice(0, 4)).toEqual([3, 3, 2, 4]);
    expect(h.pixDims.slice(1, 4)).toEqual([0.5, 0.75, 2.5]);
    expect([h.datatypeCode, h.numBitsPerVoxel, h.vox_offset, h.description]).toEqual([16, 32, 352, 'p(tumour)']);
    const sform = PROB_AFFINE;
    expect(h.affine).toEqual(sform);
    const fromQuaternion = h.convertNiftiQFormToNiftiSForm(h.quatern_b, h.quatern_c, h.quatern_d, h.qoffset_x, h.qoffset_y, h.qoffset_z, h.pixDims[1], h.pixDims[2], h.pixDims[3], h.pixDims[0]);
    expect(fromQuaternion).toEqual(sform);
    expect(h.convertNiftiSFormToNEMA(h.affine)).toBe('XYZ--+');
    expect(Array.from(new Float32Array(nifti.readImage(h, raw)))).toEqual(Array.from(data));
  });

  it('reads a uint8 mask', () => {
    const mask = Uint8Array.from([0, 1, 1, 0, 1, 0, 0, 1]);
    const raw = nifti.decompress(arrayBuffer(encodeNiftiGz({ data: mask, shape: [2, 2, 2] }))) as ArrayBuffer;
    const h = nifti.readHeader(raw) as nifti.NIFTI1;
    expect([h.datatypeCode, h.numBitsPerVoxel]).toEqual([2, 8]);
    expect(Array.from(new Uint8Array(nifti.readImage(h, raw)))).toEqual(Array.from(mask));
  });
});
