// The run report's pieces: the PNG encoder (checked with node:zlib, an independent inflater), the
// outline/overlay utilities on hand-drawn masks, and the HTML report opened in headless Chromium.
// No GPU is involved, so this file does not call useGpu().

import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { crc32 as zlibCrc32, deflateSync, inflateSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { FormatError, ShapeError } from '../../src/errors.js';
import { adler32, crc32, decodePng, encodePng, pngDataUri, zlibStore, type PngImage } from '../../src/io/png.js';
import { maskOutline, overlay, probabilityToGray, tile, toRgb8 } from '../../src/report/overlay.js';
import { renderReport, writeReport, type ReportData, type ReportSample } from '../../src/report/html.js';
import { rng } from '../helpers/rng.js';

const inflate = (b: Uint8Array): Uint8Array => new Uint8Array(inflateSync(b));

interface Chunk {
  type: string;
  data: Uint8Array;
  crc: number;
  start: number;
}

function chunks(png: Uint8Array): Chunk[] {
  const view = new DataView(png.buffer, png.byteOffset, png.byteLength);
  const out: Chunk[] = [];
  for (let o = 8; o < png.length; ) {
    const len = view.getUint32(o);
    out.push({
      type: String.fromCharCode(...png.subarray(o + 4, o + 8)),
      data: png.subarray(o + 8, o + 8 + len),
      crc: view.getUint32(o + 8 + len),
      start: o,
    });
    o += 12 + len;
  }
  return out;
}

function image(width: number, height: number, channels: 1 | 3 | 4, pattern: string, seed: number): PngImage {
  const r = rng(seed);
  const data = new Uint8Array(width * height * channels);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width * channels; x++) {
      const i = y * width * channels + x;
      if (pattern === 'noise') data[i] = Math.floor(r() * 256);
      else if (pattern === 'hgrad') data[i] = (x * 7) & 0xff;
      else if (pattern === 'vgrad') data[i] = (y * 11 + (x % channels) * 40) & 0xff;
      else data[i] = 77;
    }
  }
  return { width, height, channels, data };
}

const PNG_CASES = [
  { width: 5, height: 3, channels: 3, pattern: 'noise' },
  { width: 1, height: 1, channels: 1, pattern: 'const' },
  { width: 17, height: 9, channels: 1, pattern: 'hgrad' },
  { width: 13, height: 11, channels: 4, pattern: 'vgrad' },
  { width: 31, height: 7, channels: 3, pattern: 'hgrad' },
  { width: 8, height: 8, channels: 4, pattern: 'noise' },
] as const;

describe('png', () => {
  it('CRC-32 and Adler-32 match their published check values', () => {
    const ascii = (s: string): Uint8Array => Uint8Array.from(s, (c) => c.charCodeAt(0));
    expect(crc32(ascii('123456789'))).toBe(0xcbf43926);
    expect(crc32(ascii('IEND'))).toBe(0xae426082);
    expect(adler32(ascii('Wikipedia'))).toBe(0x11e60398);
    expect(adler32(new Uint8Array(0))).toBe(1);
  });

  it.each(PNG_CASES)('encodes $width x $height x $channels ($pattern): signature, IHDR, CRCs, pixels', async (c) => {
    const img = image(c.width, c.height, c.channels, c.pattern, 7 + c.width);
    const png = await encodePng(img);
    expect([...png.subarray(0, 8)]).toEqual([137, 80, 78, 71, 13, 10, 26, 10]);
    const list = chunks(png);
    expect(list.map((k) => k.type)).toEqual(['IHDR', 'IDAT', 'IEND']);
    for (const k of list) {
      expect(k.crc, `CRC of ${k.type}`).toBe(zlibCrc32(png.subarray(k.start + 4, k.start + 8 + k.data.length)));
    }
    const ihdr = new DataView(list[0].data.buffer, list[0].data.byteOffset, 13);
    expect(list[0].data.length).toBe(13);
    expect([ihdr.getUint32(0), ihdr.getUint32(4)]).toEqual([c.width, c.height]);
    expect([...list[0].data.subarray(8)]).toEqual([8, { 1: 0, 3: 2, 4: 6 }[c.channels], 0, 0, 0]);
    const raw = inflate(list[1].data);
    const stride = c.width * c.channels;
    expect(raw.length).toBe(c.height * (stride + 1));
    for (let y = 0; y < c.height; y++) expect(raw[y * (stride + 1)]).toBeLessThanOrEqual(4);
    const back = await decodePng(png, { inflate });
    expect(back.channels).toBe(c.channels);
    expect([back.width, back.height]).toEqual([c.width, c.height]);
    expect(back.data).toEqual(img.data);
  });

  it('rows pick different filters on different content, and every filter unfilters exactly', async () => {
    const used = new Set<number>();
    for (const pattern of ['noise', 'hgrad', 'vgrad', 'const']) {
      const img = image(24, 12, 3, pattern, 3);
      const png = await encodePng(img, { compress: (b) => new Uint8Array(deflateSync(b)) });
      const raw = inflate(chunks(png)[1].data);
      for (let y = 0; y < 12; y++) used.add(raw[y * (24 * 3 + 1)]);
      expect((await decodePng(png, { inflate })).data).toEqual(img.data);
    }
    expect(used.size).toBeGreaterThanOrEqual(3);
  });

  it('the stored-block fallback is a valid zlib stream, across several 64 KiB blocks', async () => {
    const bytes = image(300, 500, 1, 'noise', 11).data; // 150000 bytes: three stored blocks
    expect(inflate(zlibStore(bytes))).toEqual(bytes);
    expect(inflate(zlibStore(new Uint8Array(0)))).toEqual(new Uint8Array(0));
    const img = image(9, 5, 3, 'noise', 2);
    const png = await encodePng(img, { compress: zlibStore });
    expect((await decodePng(png, { inflate })).data).toEqual(img.data);
  });

  it('decodes with the platform DecompressionStream, and makes a data URI', async () => {
    const img = image(6, 4, 4, 'vgrad', 1);
    expect((await decodePng(await encodePng(img))).data).toEqual(img.data);
    const uri = await pngDataUri(img);
    expect(uri.startsWith('data:image/png;base64,iVBORw0KGgo')).toBe(true);
  });

  it('rejects bad images and corrupt files', async () => {
    await expect(encodePng({ width: 2, height: 2, channels: 3, data: new Uint8Array(11) })).rejects.toBeInstanceOf(ShapeError);
    await expect(encodePng({ width: 0, height: 2, channels: 1, data: new Uint8Array(0) })).rejects.toBeInstanceOf(ShapeError);
    await expect(encodePng({ width: 1, height: 1, channels: 2 as 3, data: new Uint8Array(2) })).rejects.toBeInstanceOf(ShapeError);
    const png = await encodePng(image(4, 4, 1, 'noise', 5));
    const corrupt = png.slice();
    corrupt[chunks(png)[1].start + 9] ^= 0xff;
    await expect(decodePng(corrupt, { inflate })).rejects.toBeInstanceOf(FormatError);
    await expect(decodePng(png.subarray(1), { inflate })).rejects.toBeInstanceOf(FormatError);
  });
});

/** Masks drawn as text: '#' inside, '.' outside. */
function mask(rows: string[]): Float32Array {
  return Float32Array.from(rows.join(''), (c) => (c === '#' ? 1 : 0));
}
const draw = (out: Uint8Array, width: number): string[] =>
  Array.from({ length: out.length / width }, (_, y) => [...out.subarray(y * width, (y + 1) * width)].map((v) => (v ? '#' : '.')).join(''));

describe('overlay', () => {
  it('outlines keep the mask pixels with a 4-neighbour outside', () => {
    const square = mask(['.....', '.###.', '.###.', '.###.', '.....']);
    expect(draw(maskOutline(square, 5, 5), 5)).toEqual(['.....', '.###.', '.#.#.', '.###.', '.....']);
    // the plus: only the centre has all four neighbours inside (diagonals do not count)
    const plus = mask(['.....', '..#..', '.###.', '..#..', '.....']);
    expect(draw(maskOutline(plus, 5, 5), 5)).toEqual(['.....', '..#..', '.#.#.', '..#..', '.....']);
    // the image border counts as outside, as in OpenCV
    expect(draw(maskOutline(mask(['###', '###', '###']), 3, 3), 3)).toEqual(['###', '#.#', '###']);
    // at or above the threshold is inside, as the metrics, eval's post-processing and predict's mask
    // PNG threshold a prediction (p >= 0.5): a pixel scored as tumour is drawn as tumour
    expect([...maskOutline(Float32Array.from([0.49999, 0.5]), 1, 2)]).toEqual([0, 1]);
    expect(() => maskOutline(new Float32Array(5), 2, 2)).toThrow(ShapeError);
  });

  it('draws a prediction of exactly 0.5, which the metrics count, as the prediction: outline and fill', () => {
    const black = { width: 2, height: 1, channels: 3 as const, data: new Uint8Array(6) };
    const out = overlay(black, undefined, Float32Array.from([0.5, 0.49999]), { fillAlpha: 0.5 });
    expect([...out.data]).toEqual([255, 32, 32, 0, 0, 0]);
  });

  it('toRgb8 clips, maps channels, shows one channel as gray and can stretch', () => {
    const img = Float32Array.from([0, 0.5, 1, /**/ -0.2, 1.3, 0.25]);
    expect([...toRgb8(img, 1, 2).data]).toEqual([0, 128, 255, 0, 255, 64]);
    expect([...toRgb8(img, 1, 2, { mapping: [2, 1, 0] }).data]).toEqual([255, 128, 0, 64, 255, 0]);
    expect([...toRgb8(Float32Array.from([0.2, 1]), 2, 1).data]).toEqual([51, 51, 51, 255, 255, 255]);
    // stretch: channel 0 spans -0.2..0 -> 1, 0; channel 1 spans 0.5..1.3 -> 0, 1; channel 2 1..0.25
    expect([...toRgb8(img, 1, 2, { stretch: true }).data]).toEqual([255, 0, 255, 0, 255, 0]);
    expect(() => toRgb8(img, 1, 2, { mapping: [0, 1, 3] })).toThrow(ShapeError);
    expect(() => toRgb8(new Float32Array(7), 1, 2)).toThrow(ShapeError);
  });

  it('draws truth green, prediction red, shared outline yellow, and fills translucently', () => {
    const rgb = toRgb8(new Float32Array(4 * 4 * 3).fill(0.4), 4, 4); // gray 102
    const truth = mask(['##..', '##..', '....', '....']);
    const pred = mask(['###.', '###.', '###.', '....']);
    const out = overlay(rgb, truth, pred);
    const px = (y: number, x: number): number[] => [...out.data.subarray((y * 4 + x) * 3, (y * 4 + x) * 3 + 3)];
    expect(px(0, 0)).toEqual([255, 230, 0]); // on both outlines
    expect(px(1, 1)).toEqual([0, 230, 64]); // truth's edge, inside the prediction's interior
    expect(px(0, 2)).toEqual([255, 32, 32]); // prediction only
    expect(px(2, 2)).toEqual([255, 32, 32]);
    expect(px(3, 3)).toEqual([102, 102, 102]); // untouched
    expect([...rgb.data.subarray(0, 3)]).toEqual([102, 102, 102]); // the input is not modified
    const onlyTruth = overlay(rgb, mask(['....', '.##.', '.##.', '....']));
    expect([...onlyTruth.data.subarray(5 * 3, 5 * 3 + 3)]).toEqual([0, 230, 64]);
    const big = mask(['###.', '###.', '###.', '....']);
    const filled = overlay(rgb, big, undefined, { fillAlpha: 0.5 });
    // the centre (1,1) is inside but not on the outline: half gray, half green
    expect([...filled.data.subarray(5 * 3, 5 * 3 + 3)]).toEqual([51, 166, 83]);
    expect(() => overlay(rgb, new Float32Array(3))).toThrow(ShapeError);
  });

  it('probabilityToGray and tile', () => {
    const gray = probabilityToGray(Float32Array.from([0, 0.5, 1, 2, -1, NaN]), 2, 3);
    expect(gray.channels).toBe(1);
    expect([...gray.data]).toEqual([0, 128, 255, 255, 0, 0]);
    const a: PngImage = { width: 2, height: 2, channels: 1, data: Uint8Array.from([10, 20, 30, 40]) };
    const b: PngImage = { width: 1, height: 1, channels: 4, data: Uint8Array.from([200, 100, 0, 128]) };
    const t = tile([a, b, a], 2, { gap: 1, background: [0, 0, 255] });
    expect([t.width, t.height]).toEqual([7, 7]); // 2 cells of 2 + 3 gaps, each way
    const px = (y: number, x: number): number[] => [...t.data.subarray((y * 7 + x) * 3, (y * 7 + x) * 3 + 3)];
    expect(px(0, 0)).toEqual([0, 0, 255]);
    expect(px(1, 1)).toEqual([10, 10, 10]);
    expect(px(2, 2)).toEqual([40, 40, 40]);
    // RGBA over blue at alpha 128/255
    expect(px(1, 4)).toEqual([100, 50, 127]);
    expect(px(2, 5)).toEqual([0, 0, 255]); // the smaller image leaves the rest of its cell empty
    expect(px(4, 1)).toEqual([10, 10, 10]); // third image starts the second row
    expect(px(5, 5)).toEqual([0, 0, 255]); // the grid's last cell stays empty
    expect(() => tile([], 2)).toThrow(ShapeError);
  });
});

function disc(size: number, cy: number, cx: number, r: number): Float32Array {
  const m = new Float32Array(size * size);
  for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) m[y * size + x] = (y - cy) ** 2 + (x - cx) ** 2 <= r * r ? 1 : 0;
  return m;
}

function slice(size: number, seed: number, lesion: Float32Array): Float32Array {
  const r = rng(seed);
  const img = new Float32Array(size * size * 3);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const brain = Math.max(0, 1 - ((y - size / 2) ** 2 + (x - size / 2) ** 2) / (size * size * 0.2));
      const p = (y * size + x) * 3;
      img[p] = 0.6 * brain + 0.05 * r();
      img[p + 1] = 0.5 * brain + 0.4 * lesion[y * size + x] + 0.05 * r();
      img[p + 2] = 0.55 * brain + 0.05 * r();
    }
  }
  return img;
}

function syntheticReport(task: 'classify' | 'segment'): ReportData {
  const S = 32;
  const samples: ReportSample[] = [0, 1, 2, 3].map((i) => {
    const truth = i === 3 ? new Float32Array(S * S) : disc(S, 12 + i * 2, 14 + i, 4 + i);
    const pred = disc(S, 13 + i * 2, 15 + i, 4 + i);
    return { image: slice(S, 40 + i, truth), height: S, width: S, truth, pred, caption: `slice ${i} · Dice ${(0.9 - i * 0.2).toFixed(2)}` };
  });
  const lesion = disc(S, 16, 16, 6);
  const flipped = Float32Array.from({ length: S * S }, (_, p) => lesion[Math.floor(p / S) * S + (S - 1 - (p % S))]);
  return {
    title: `dawnet ${task} run <synthetic>`,
    task,
    config: { model: task === 'segment' ? 'unet' : 'vgg16', epochs: 3, batchSize: 8, lr: 1e-3, imageSize: 32, seed: 42, augment: { flip: true, rotate: 15 }, dataDir: '/data/lgg-mri' },
    adapter: 'llvmpipe (Mesa lavapipe, Vulkan)',
    history: [
      { epoch: 1, loss: 0.9, val_loss: 0.95, dice: 0.3, val_dice: 0.28, val_iou: 0.2, lr: 1e-3 },
      { epoch: 2, loss: 0.6, val_loss: 0.7, dice: 0.5, val_dice: 0.47, val_iou: 0.35, lr: 5e-4 },
      { epoch: 3, loss: 0.45, val_loss: 0.62, dice: 0.62, val_dice: 0.58, val_iou: 0.44, lr: 2.5e-4 },
    ],
    classCounts: { train: { positive: 980, negative: 1650 }, val: { positive: 140, negative: 230 }, test: { positive: 255, negative: 474 } },
    samples,
    confusion: task === 'classify' ? { tp: 120, fp: 18, tn: 212, fn: 20 } : undefined,
    sliceDice: task === 'segment' ? [0.91, 0.85, null, 0.42, 0.05, 1, 0.77, 0.66, null, 0.88] : undefined,
    emptyPolicy: task === 'segment' ? 'skip' : undefined,
    augmentPreview: [{ before: { ...samples[0], pred: undefined, caption: 'original' }, after: { image: slice(S, 99, flipped), height: S, width: S, truth: flipped, caption: 'flipped' } }],
    testMetrics: task === 'segment' ? { loss: 0.61, dice: 0.6123, iou: 0.47 } : { loss: 0.3, accuracy: 0.9, auc: 0.95 },
  };
}

function chartSpecs(html: string): { reason: string; charts: { id: string; config: { data: { datasets: { data: number[] }[] } } }[] } {
  const m = /<script type="application\/json" id="chart-specs">([\s\S]*?)<\/script>/.exec(html);
  return JSON.parse(m![1]);
}

describe('report html', () => {
  it('makes one chart per logged quantity, a Dice histogram, and escapes text', async () => {
    const html = await renderReport({ ...syntheticReport('segment'), chartJsSource: '/* not needed here */' });
    const specs = chartSpecs(html);
    expect(specs.charts.map((c) => c.id)).toEqual(['chart-loss', 'chart-dice', 'chart-iou', 'chart-lr', 'chart-class-counts', 'chart-dice-hist']);
    expect(specs.charts[0].config.data.datasets.map((d) => d.data)).toEqual([[0.9, 0.6, 0.45], [0.95, 0.7, 0.62]]);
    // bins of 0.1: 0.05 | 0.42 | 0.66 | 0.77 | 0.85, 0.88 | 0.91, 1 (1 falls in the last bin); nulls in none
    expect(specs.charts[5].config.data.datasets[0].data).toEqual([1, 0, 0, 0, 1, 0, 1, 1, 2, 2]);
    expect(html).toContain('dawnet segment run &lt;synthetic&gt;');
    expect(html).not.toContain('<synthetic>');
    expect(html).toContain('policy &quot;skip&quot;');
    // 8 scored: mean 5.54 / 8; the median of an even count is the mean of the two middle values
    // (numpy.median): (0.77 + 0.85) / 2, not the lower one
    expect(html).toContain('8 of 10 slices scored; mean Dice <b>0.6925</b>, median 0.81.');
    const ownWords = await renderReport({ ...syntheticReport('segment'), emptyPolicy: 'both empty count as 1', chartJsSource: '' });
    expect(ownWords).toContain('Empty slices: both empty count as 1.');
    for (const key of ['model', 'epochs', 'batchSize', 'lr', 'imageSize', 'seed', 'augment', 'dataDir']) expect(html).toContain(`>${key}</th>`);
    expect(html).not.toMatch(/<(script|link|img)[^>]+(src|href)="https?:/); // nothing from the network
  });

  it("draws a classifier's Grad-CAM maps under the outlines, with their legend, only where samples have them", async () => {
    const plain = syntheticReport('classify');
    const S = 32;
    // Evidence on the left half of every slice.
    const heat = Float32Array.from({ length: S * S }, (_, p) => (p % S < S / 2 ? 1 : 0));
    const withHeat = { ...plain, samples: plain.samples!.map((s) => ({ ...s, heat })), chartJsSource: '' };
    const [a, b] = await Promise.all([renderReport({ ...plain, chartJsSource: '' }), renderReport(withHeat)]);
    const images = (html: string) => [...html.matchAll(/data-testid="sample-image" src="([^"]+)"/g)].map((m) => m[1]);
    expect(a).not.toContain('data-testid="heat-legend"');
    expect(b).toContain('data-testid="heat-legend"');
    expect(images(a).length).toBe(4);
    images(b).forEach((uri, i) => expect(uri).not.toBe(images(a)[i]));
  });

  it('inlines Chart.js from node_modules when no source is given', async () => {
    const html = await renderReport({ ...syntheticReport('classify'), samples: undefined, augmentPreview: undefined });
    expect(html.length).toBeGreaterThan(150_000);
    expect(html).toContain('data-testid="confusion-table"');
    expect(html).not.toContain('data-testid="chart-dice-hist"');
  });

  it('shows each test volume with its Dice, HD95 and ASSD, a missing value as a dash', async () => {
    const volumeScores = [
      { volume: 'TCGA_A <1>', dice: 0.8123, hd95: 2.5, assd: 0.75 },
      { volume: 'TCGA_B', dice: 0, hd95: null, assd: null },
      { volume: 'TCGA_C', dice: 0.5, hd95: Infinity, assd: Infinity },
    ];
    const html = await renderReport({ ...syntheticReport('segment'), volumeScores, surfaceNote: 'HD95 & ASSD in pixels.', chartJsSource: '' });
    const table = /<table class="counts" data-testid="volume-table">([\s\S]*?)<\/table>/.exec(html)![1];
    const rows = [...table.matchAll(/<tr><th scope="row">(.*?)<\/th>(.*?)<\/tr>/g)].map((m) => [m[1], ...[...m[2].matchAll(/<td>(.*?)<\/td>/g)].map((c) => c[1])]);
    expect(rows).toEqual([
      ['TCGA_A &lt;1&gt;', '0.8123', '2.5', '0.75'],
      ['TCGA_B', '0', '—', '—'],
      ['TCGA_C', '0.5', 'Infinity', 'Infinity'],
    ]);
    expect(html).toContain('HD95 &amp; ASSD in pixels.');
    expect(await renderReport({ ...syntheticReport('segment'), chartJsSource: '' })).not.toContain('data-testid="volume-table"');
  });
});

const CHROMIUM = '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium) console.warn(`report browser tests skipped: ${CHROMIUM} is missing`);

describe('report in headless Chromium', () => {
  let browser: Browser | undefined;
  let dir = '';
  const resultsDir = fileURLToPath(new URL('../../test-results/', import.meta.url));

  beforeAll(async () => {
    if (!hasChromium) return;
    dir = await mkdtemp(join(tmpdir(), 'dawnet-report-'));
    await mkdir(resultsDir, { recursive: true });
    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
    });
  });
  afterAll(async () => {
    await browser?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function open(data: ReportData, name: string) {
    const file = join(dir, `${name}.html`);
    await writeReport(file, data);
    const page = await browser!.newPage({ viewport: { width: 1280, height: 900 } });
    const problems: string[] = [];
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(`console error: ${m.text()}`);
    });
    page.on('request', (r) => {
      if (!r.url().startsWith('file:') && !r.url().startsWith('data:')) problems.push(`network request: ${r.url()}`);
    });
    await page.goto(pathToFileURL(file).href, { waitUntil: 'load' });
    return { page, problems, file };
  }

  for (const task of ['segment', 'classify'] as const) {
    it.skipIf(!hasChromium)(`${task}: charts drawn, images loaded, no errors`, async () => {
      const { page, problems, file } = await open(syntheticReport(task), task);
      expect((await readFile(file, 'utf8')).startsWith('<!doctype html>')).toBe(true);
      await page.waitForSelector('body[data-charts="ready"]', { timeout: 20_000 });
      const state = await page.evaluate(() => {
        const canvases = [...document.querySelectorAll<HTMLCanvasElement>('canvas[data-testid^="chart-"]')];
        const inked = canvases.map((c) => {
          const px = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
          let n = 0;
          for (let i = 3; i < px.length; i += 4) if (px[i] > 0) n++;
          return { id: c.dataset.testid, width: c.width, inked: n };
        });
        const images = [...document.images].map((i) => ({ id: i.dataset.testid, w: i.naturalWidth, done: i.complete }));
        const chart = (window as unknown as { Chart: { instances: Record<string, unknown> } }).Chart;
        return {
          inked,
          images,
          instances: Object.keys(chart.instances).length,
          sections: [...document.querySelectorAll('section[data-testid]')].map((s) => s.getAttribute('data-testid')),
          bannerHidden: document.getElementById('chart-error')!.hidden,
        };
      });
      expect(problems).toEqual([]);
      expect(state.bannerHidden).toBe(true);
      expect(state.inked.length).toBe(task === 'segment' ? 6 : 5);
      expect(state.instances).toBe(state.inked.length);
      for (const c of state.inked) expect(c.inked, `drawn pixels in ${c.id}`).toBeGreaterThan(500);
      expect(state.images.length).toBe(6); // 4 validation slices + one before/after pair
      for (const img of state.images) expect(img.w, `${img.id} naturalWidth`).toBe(32);
      const last = task === 'segment' ? 'section-dice' : 'section-confusion';
      expect(state.sections).toEqual(['section-settings', 'section-curves', 'section-classes', 'section-samples', last, 'section-augment', 'section-test']);
      await page.screenshot({ path: join(resultsDir, task === 'segment' ? 'report.png' : 'report-classify.png'), fullPage: true });
      await page.close();
    });
  }

  it.skipIf(!hasChromium)('says so on the page when Chart.js does not load', async () => {
    const { page, problems } = await open({ ...syntheticReport('segment'), chartJsSource: '/* Chart.js missing */' }, 'no-chart');
    await page.waitForSelector('body[data-charts="failed"]', { timeout: 20_000 });
    const banner = page.getByTestId('chart-error');
    expect(await banner.isVisible()).toBe(true);
    expect(await banner.textContent()).toContain('Chart.js did not load');
    expect(problems).toEqual([]);
    await page.close();
  });
});

// Node 20's recursive mkdir retries forever under /proc; writeReport creates its folder one by one.
describe.runIf(process.platform === 'linux')('writeReport into a folder that cannot be made', () => {
  it('fails at once, naming the folder', async () => {
    await expect(writeReport('/proc/dawnet-no-such/report/index.html', syntheticReport('segment'))).rejects.toThrow(
      /cannot create folder \/proc\/dawnet-no-such\/report:/,
    );
  }, 10_000);
});
