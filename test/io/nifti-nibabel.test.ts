// dawnet's NIfTI volumes read by nibabel, the NIfTI library of neuroimaging's Python tools
// (Debian's python3-nibabel, which `npm test`'s set-up installs; skipped with a message without
// it). nibabel checks the header's fields itself (diagnose_binaryblock), works out the qform from
// the quaternion by its own code, and names the axes' directions in RAS+ world coordinates: the
// volume placed radiologically (src/io/nifti.ts) runs columns to the patient's left, rows to
// posterior and slices up, L P S. A second implementation of the format's arithmetic beside
// test/io/nifti-interop.test.ts's nifti-reader-js.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeNiftiGz } from '../../src/io/nifti.js';
import { PROB_AFFINE, PROB_VOLUME } from '../helpers/nifti-expected.js';

const PYTHON = '/usr/bin/python3';
const hasNibabel = spawnSync(PYTHON, ['-c', 'import nibabel'], { stdio: 'ignore' }).status === 0;
if (!hasNibabel) console.warn(`nibabel check skipped: no nibabel for ${PYTHON} (apt-get install python3-nibabel)`);

/** What nibabel makes of each file: a JSON line per path. */
const READ = `
import gzip, json, sys
import numpy as np
import nibabel as nib
for path in sys.argv[1:]:
    img = nib.load(path)
    h = img.header
    print(json.dumps({
        # The file's own header bytes: loading fixes some problems in the header it keeps.
        'problems': nib.Nifti1Header.diagnose_binaryblock(gzip.open(path).read(348)),
        'shape': list(img.shape),
        'zooms': [float(z) for z in h.get_zooms()],
        'dtype': str(h.get_data_dtype()),
        'units': list(h.get_xyzt_units()),
        'codes': [int(h['qform_code']), int(h['sform_code'])],
        'qform': h.get_qform().tolist(),
        'sform': h.get_sform().tolist(),
        'axes': list(nib.aff2axcodes(img.affine)),
        'description': h['descrip'].item().decode(),
        'voxels': np.asarray(img.dataobj).ravel(order='F').tolist(),
    }))
`;

const dir = mkdtempSync(join(tmpdir(), 'dawnet-nibabel-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function readWithNibabel(...paths: string[]): Record<string, unknown>[] {
  const run = spawnSync(PYTHON, ['-c', READ, ...paths], { encoding: 'utf8' });
  expect(run.stderr, 'nibabel').toBe('');
  expect(run.status).toBe(0);
  return run.stdout.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
}

describe.skipIf(!hasNibabel)('NIfTI read by nibabel', () => {
  it('a float32 probability volume and a uint8 mask: clean headers, dims, spacing, orientation, voxels', () => {
    const prob = Float32Array.from({ length: 3 * 2 * 4 }, (_, i) => i / 23);
    const mask = Uint8Array.from([0, 1, 1, 0, 1, 0, 0, 1]);
    const probPath = join(dir, 'p_prob.nii.gz');
    const maskPath = join(dir, 'p_mask.nii.gz');
    writeFileSync(probPath, encodeNiftiGz({ data: prob, ...PROB_VOLUME }));
    writeFileSync(maskPath, encodeNiftiGz({ data: mask, shape: [2, 2, 2] }));
    const [p, m] = readWithNibabel(probPath, maskPath);

    expect(p.problems, 'nibabel finds nothing wrong in the header').toBe('');
    expect(p.shape).toEqual([3, 2, 4]);
    expect(p.zooms).toEqual([0.5, 0.75, 2.5]);
    expect([p.dtype, p.units, p.codes, p.description]).toEqual(['float32', ['mm', 'unknown'], [2, 2], 'p(tumour)']);
    const affine = PROB_AFFINE;
    expect(p.sform).toEqual(affine);
    // nibabel's qform, from the quaternion by its own arithmetic (in float64 from float32 fields).
    (p.qform as number[][]).forEach((row, r) => row.forEach((v, c) => expect(v).toBeCloseTo(affine[r][c], 6)));
    expect(p.axes).toEqual(['L', 'P', 'S']);
    expect(p.voxels).toEqual(Array.from(prob));

    expect(m.problems).toBe('');
    expect([m.shape, m.dtype, m.axes]).toEqual([[2, 2, 2], 'uint8', ['L', 'P', 'S']]);
    expect(m.voxels).toEqual(Array.from(mask));
  });
});
