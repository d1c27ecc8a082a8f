// Host images (the report's PngImage: 8-bit gray, RGB or RGBA, row-major) onto canvases, each in a
// captioned <figure>. Canvases keep the image's own pixel size; CSS scales them up without smoothing.

import type { PngImage } from '../src/io/png.js';

export function imageToCanvas(img: PngImage, testId?: string): HTMLCanvasElement {
  const canvas = document.createElement('canvas');
  canvas.width = img.width;
  canvas.height = img.height;
  if (testId) canvas.dataset.testid = testId;
  const rgba = new Uint8ClampedArray(img.width * img.height * 4);
  const c = img.channels;
  for (let p = 0; p < img.width * img.height; p++) {
    const src = p * c;
    rgba[p * 4] = img.data[src]!;
    rgba[p * 4 + 1] = img.data[src + (c >= 3 ? 1 : 0)]!;
    rgba[p * 4 + 2] = img.data[src + (c >= 3 ? 2 : 0)]!;
    rgba[p * 4 + 3] = c === 4 ? img.data[src + 3]! : 255;
  }
  canvas.getContext('2d')!.putImageData(new ImageData(rgba, img.width, img.height), 0, 0);
  return canvas;
}

export function figure(img: PngImage, caption: string, testId?: string): HTMLElement {
  const fig = document.createElement('figure');
  fig.append(imageToCanvas(img, testId));
  const cap = document.createElement('figcaption');
  cap.textContent = caption;
  fig.append(cap);
  return fig;
}

/** A binary mask (p >= 0.5) as a gray image: white tumour on black. */
export function maskImage(prob: Float32Array, size: number, threshold = 0.5): PngImage {
  return { width: size, height: size, channels: 1, data: Uint8Array.from(prob, (p) => (p >= threshold ? 255 : 0)) };
}
