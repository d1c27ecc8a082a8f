// kaggle_3m's file names and the rules every reader of them shares (the scan, `dawnet predict`
// and the browser page): no Node imports, so the page bundles it as it is.

// A slice `<folder>_<n>.tif`, its mask `<folder>_<n>_mask.tif` (.tiff and any case too).
const MASK_SUFFIX = '_mask';
const TIFF_EXT = String.raw`\.tiff?`;

/** A kaggle_3m slice or mask file name: groups 1 the patient folder, 2 the slice number n, 3 '_mask' for a mask. */
export const SLICE_FILE = new RegExp(String.raw`^(.+)_(\d+)(${MASK_SUFFIX})?${TIFF_EXT}$`, 'i');

/**
 * A name ending as a mask does (`..._mask.tif`), numbered or not: predict refuses such a file as an
 * MRI and the page leaves it out. Every mask SLICE_FILE reads is one; no slice it reads is.
 */
export const MASK_FILE = new RegExp(`${MASK_SUFFIX}${TIFF_EXT}$`, 'i');

/** The patient folder a slice's file name starts with (`<folder>_<n>.tif`); null for a mask or any other name. */
export function slicePatient(name: string): string | null {
  const m = SLICE_FILE.exec(name);
  return m && !m[3] ? m[1]! : null;
}

/**
 * File and folder names in code-point order: the same on every machine. localeCompare follows the
 * machine's locale (Lithuanian puts TCGA_DU_A5TY before A5TP), so batch order would too.
 */
export const byCodePoint = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/**
 * Names a scan passes over without a word: hidden entries (`.DS_Store`, macOS's `._X_1.tif`
 * AppleDouble copies, `.git/`), which a folder copied from a Mac or a repository holds by the
 * thousand and which are never slices. `dawnet predict`'s folders and the page's do the same.
 */
export const isHidden = (name: string): boolean => name.startsWith('.');
/** A TIFF's file name, whatever it is called otherwise. */
export const TIFF_NAME = new RegExp(`${TIFF_EXT}$`, 'i');
