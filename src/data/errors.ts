// Errors of the data pipeline. A DataError always names the file (or folder) first, so a user
// with 3929 slices can find the one that is broken.

import { DawnetError } from '../errors.js';

/** A data file or folder that cannot be used: corrupt or truncated TIFF, slice without a mask, wrong size. */
export class DataError extends DawnetError {}
