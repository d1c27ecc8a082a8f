// What the page exposes on `window.__dawnet` for scripts and the browser test: the adapter, the
// last probability map the Segment panel computed, and the Train panel's losses. Plain data only.

export interface SliceResult {
  file: string;
  /** Side of the square the slice was resized to before inference. */
  size: number;
  /** Upload, forward pass and readback, in milliseconds. */
  inferenceMs: number;
  tumourPixels: number;
}

export interface PageState {
  /** The adapter's name once WebGPU is up; null before or when there is none. */
  adapter: string | null;
  /** Why the page cannot run (no navigator.gpu, no adapter, device request failed). */
  gpuProblem: string | null;
  /** p(tumour) per pixel, row-major [size, size], of the slice segmented last. */
  lastProbabilities: Float32Array | null;
  results: SliceResult[];
  /** Training loss per step of the current (or last) run. */
  losses: number[];
}

export const pageState: PageState = {
  adapter: null,
  gpuProblem: null,
  lastProbabilities: null,
  results: [],
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
