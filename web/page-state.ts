// What the page exposes on `window.__dawnet` for scripts and the browser test: the adapter, the
// Segment panel's options, its last probability map and mask (a classifier's: p(tumour) and its
// Grad-CAM map), and the Train panel's losses.
// Plain data only.

import type { TtaMode } from '../src/train/tta.js';

/** A patient's NIfTI downloads: the file names offered, and the slice numbers left blank. */
export interface PatientVolumes {
  patient: string;
  slices: number;
  missing: number[];
  files: string[];
}

export interface SliceResult {
  file: string;
  /** Side of the square the slice was resized to before inference. */
  size: number;
  /** Upload, forward pass(es) and readback, in milliseconds: both passes with flip TTA. */
  inferenceMs: number;
  tta: TtaMode;
  /** Segmentation: pixels of the drawn mask, after post-processing. */
  tumourPixels?: number;
  /** Segmentation: pixels post-processing took out of the thresholded mask (0 when it is off). */
  removedPixels?: number;
  /** Classification: the classifier's p(tumour) (under the TTA in force). */
  pTumour?: number;
}

/** What `dawnet predict` calls --tta, --min-lesion-size and --keep-largest. */
export interface SegmentOptions {
  tta: TtaMode;
  /** Lesions (8-connected components of a slice's mask) under this many pixels are removed; 0 is off. */
  minLesionSize: number;
  keepLargest: boolean;
}

export interface PageState {
  /** The adapter's name once WebGPU is up; null before or when there is none. */
  adapter: string | null;
  /** Why the page cannot run (no navigator.gpu, no adapter, device request failed). */
  gpuProblem: string | null;
  /** The options in force: the last valid value of each field. */
  segmentOptions: SegmentOptions;
  /** p(tumour) per pixel, row-major [size, size], of the slice segmented last, as the model gave it. */
  lastProbabilities: Float32Array | null;
  /** The drawn mask of that slice, 0 or 1 per pixel, after post-processing. */
  lastMask: Uint8Array | null;
  /** The Grad-CAM map, row-major [size, size] in [0, 1], of the slice classified last. */
  lastHeatMap: Float32Array | null;
  /** The patients whose segmented slices are offered as NIfTI volumes (volumes.ts). */
  volumes: PatientVolumes[];
  results: SliceResult[];
  /** Passes of the Segment panel over its slices, so a script can wait for the next one. */
  renders: number;
  /** Training loss per step of the current (or last) run. */
  losses: number[];
}

export const pageState: PageState = {
  adapter: null,
  gpuProblem: null,
  segmentOptions: { tta: 'none', minLesionSize: 0, keepLargest: false },
  lastProbabilities: null,
  lastMask: null,
  lastHeatMap: null,
  volumes: [],
  results: [],
  renders: 0,
  losses: [],
};

declare global {
  interface Window {
    __dawnet: PageState;
  }
}

/** Marks a stage on <body data-NAME="value"> so that tests and styles can wait on it. */
export function setStage(name: string, value: string): void {
  document.body.dataset[name] = value;
}

/** Shows `message` in the element (or hides it when null). */
export function showMessage(el: HTMLElement, message: string | null): void {
  el.textContent = message ?? '';
  el.hidden = message === null;
}

export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`page: element #${id} is missing from index.html`);
  return el as T;
}
