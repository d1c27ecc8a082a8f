// The Segment panel's options, the browser's `dawnet predict --tta flip --min-lesion-size N
// --keep-largest`: the fields that set them (each keeps its last valid value; a bad entry is
// named next to the field) and the post-processing of one slice's mask, done as predict-job does
// it: threshold at 0.5, then postprocessMask in 2-D with predict's connectivity (8). The
// probabilities stay the model's; only the mask and the overlay lose the removed lesions.

import { PREDICT_CONNECTIVITY } from '../src/app/predict-job.js';
import { postprocessMask } from '../src/train/components.js';
import { byId, pageState, showMessage, type SegmentOptions } from './page-state.js';

export interface SliceMask {
  /** 1 where the drawn mask is tumour, else 0. */
  mask: Uint8Array;
  /** The probabilities with removed pixels set to 0: what the mask and the overlay are drawn from. */
  shown: Float32Array;
  removedPixels: number;
}

/** The slice's mask after the options' post-processing (none when minLesionSize is 0 and keepLargest off). */
export function maskSlice(prob: Float32Array, size: number, opts: SegmentOptions): SliceMask {
  const thresholded = Uint8Array.from(prob, (p) => (p >= 0.5 ? 1 : 0));
  if (opts.minLesionSize === 0 && !opts.keepLargest) return { mask: thresholded, shown: prob, removedPixels: 0 };
  const p = postprocessMask(thresholded, [size, size], { minSize: opts.minLesionSize, keepLargest: opts.keepLargest, connectivity: PREDICT_CONNECTIVITY });
  return { mask: p.mask, shown: prob.map((v, i) => (p.mask[i] ? v : 0)), removedPixels: p.removedVoxels };
}

/**
 * The field's text as a size in pixels, or why it is not one. The field is a text input (with a
 * numeric keypad on phones) rather than type="number", whose value reads '' for text like "abc"
 * or "1e", so the page could not say what was wrong with it.
 */
export function parseMinLesionSize(text: string): number | string {
  const t = text.trim();
  if (t === '') return 'Enter a size in pixels (0 turns it off).';
  // Plain decimal only: Number() would also take "0x1f" and "Infinity".
  if (!/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(t)) return `"${t}" is not a number: enter a whole number of pixels.`;
  const n = Number(t);
  if (n < 0) return `${t} is negative: the size must be 0 or more.`;
  if (n > Number.MAX_SAFE_INTEGER) return `${t} is too large.`;
  if (!Number.isInteger(n)) return `${t} is not a whole number of pixels.`;
  return n;
}

/**
 * Wires the option fields. `changed` runs after each change to a valid value, so the panel can
 * redraw the slices it shows; an invalid entry changes nothing and only says why.
 */
export function setupSegmentOptions(enabled: boolean, changed: () => void): void {
  const tta = byId<HTMLInputElement>('tta-input');
  const minSize = byId<HTMLInputElement>('min-lesion-input');
  const keepLargest = byId<HTMLInputElement>('keep-largest-input');
  const error = byId('min-lesion-error');
  for (const input of [tta, minSize, keepLargest]) input.disabled = !enabled;
  if (!enabled) return;
  const opts = pageState.segmentOptions;
  tta.checked = opts.tta === 'flip';
  minSize.value = String(opts.minLesionSize);
  keepLargest.checked = opts.keepLargest;
  tta.addEventListener('change', () => {
    opts.tta = tta.checked ? 'flip' : 'none';
    changed();
  });
  keepLargest.addEventListener('change', () => {
    opts.keepLargest = keepLargest.checked;
    changed();
  });
  // 'change' fires when an entry is committed (Enter or leaving the field), not on each keystroke,
  // so half-typed text such as "-" is not reported as an error while the user is still typing.
  minSize.addEventListener('change', () => {
    const parsed = parseMinLesionSize(minSize.value);
    const bad = typeof parsed === 'string';
    minSize.setAttribute('aria-invalid', String(bad));
    showMessage(error, bad ? `${parsed} Still using ${opts.minLesionSize}.` : null);
    if (bad || parsed === opts.minLesionSize) return;
    opts.minLesionSize = parsed;
    changed();
  });
}
