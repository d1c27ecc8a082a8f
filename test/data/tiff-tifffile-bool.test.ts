// A boolean mask written by Python's tifffile, `tifffile.imwrite('m.tif', m)` with m a bool array
// (tifffile 2023.2.3): 1-bit samples, True as bit 1, and PhotometricInterpretation WhiteIsZero.
// tifffile reads True back where the bit is 1; so must we, or every such mask comes out inverted.
// The bytes below are that file, for this mask (written by, with numpy as np):
//   m = np.zeros((5, 12), bool); m[1:4, 2:9] = True; m[2, 10] = True; tifffile.imwrite('bool.tif', m)

import { describe, expect, it } from 'vitest';
import { decodeSlice, resizeNearest } from '../../src/data/slice-decode.js';
import { decodeTiff, encodeTiff } from '../../src/data/tiff.js';

const TIFFFILE_BOOL =
  'SUkqAAgAAAANAAABBAABAAAADAAAAAEBBAABAAAABQAAAAMBAwABAAAAAQAAAAYBAwABAAAAAAAAAA4BAgATAAAAqgAAABEBBAABAAAA8AAAABUBAwABAAAAAQAAABYBBAABAAAABQAAABcBBAABAAAACgAAABoBBQABAAAAzgAAABsBBQABAAAA1gAAACgBAwABAAAAAQAAADEBAgAMAAAA3gAAAAAAAAB7InNoYXBlIjogWzUsIDEyXX0AAAAAAAAAAAAAAAAAAAAAAAABAAAAAQAAAAEAAAABAAAAdGlmZmZpbGUucHkAAAAAAAAAAAA/gD+gP4AAAA==';

function expectedMask(): number[] {
  const m = new Array<number>(5 * 12).fill(0);
  for (let y = 1; y < 4; y++) for (let x = 2; x < 9; x++) m[y * 12 + x] = 255;
  m[2 * 12 + 10] = 255;
  return m;
}

describe("decodeTiff on tifffile's bool masks", () => {
  it('reads True as 255, as tifffile reads it back', () => {
    const img = decodeTiff(Buffer.from(TIFFFILE_BOOL, 'base64'), 'bool.tif');
    expect([img.width, img.height, img.channels]).toEqual([12, 5, 1]);
    expect([...img.data]).toEqual(expectedMask());
  });

  it('so decodeSlice finds the tumour where it is', () => {
    const slice = encodeTiff({ width: 12, height: 5, channels: 3, data: new Uint8Array(180) });
    const decoded = decodeSlice(slice, Buffer.from(TIFFFILE_BOOL, 'base64'), 12, { image: 's.tif', mask: 'bool.tif' });
    // 12x5 stretched to the working size 12x12, nearest-neighbour, as every non-square slice.
    expect([...decoded.mask]).toEqual([...resizeNearest(expectedMask().map((v) => v / 255), 12, 5, 1, 12, 12)]);
  });
});
