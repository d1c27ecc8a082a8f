// A synthetic stand-in for the LGG data set, written in exactly kaggle_3m's layout (patient
// folders of `<folder>_<n>.tif` slices and `_mask.tif` masks, data.csv with 18 columns) so the
// whole pipeline can run without the real download. Each patient is a brain phantom followed
// through its slices: skull ring, CSF rim, grey/white texture from smooth 3-D noise, ventricles
// (dark in FLAIR), a smooth bias field and noise. Channels mimic pre-contrast T1 (bright skull
// marrow), FLAIR and post-contrast T1 (bright vessels). One irregular FLAIR-bright tumour runs
// through about 35 % of a patient's slices, growing then shrinking; its contrast varies from
// patient to patient, an unlabelled faint halo and small FLAIR-bright spots elsewhere keep a plain
// threshold from solving it. Everything derives from the seed: same seed, same bytes.

import { DataError } from './errors.js';
import { deriveSeed, seededRandom } from './split.js';
import { encodeTiff } from './tiff.js';
import { makeFolder, nodeFs } from '../io/files.js';

export const LGG_CSV_COLUMNS = [
  'Patient', 'RNASeqCluster', 'MethylationCluster', 'miRNACluster', 'CNCluster', 'RPPACluster', 'OncosignCluster',
  'COCCluster', 'histological_type', 'neoplasm_histologic_grade', 'tumor_tissue_site', 'laterality', 'tumor_location',
  'gender', 'age_at_initial_pathologic', 'race', 'ethnicity', 'death01',
] as const;

export interface SynthOptions {
  patients: number;
  seed: number;
  /** Slice size in pixels (default 256, the real data set's). */
  size?: number;
  /** Inclusive range of slices per patient (default [20, 88], the real data set's). */
  slicesPerPatient?: [number, number];
}

export interface SyntheticPatient {
  /** Folder name, e.g. `TCGA_DU_5851_19950428`. */
  folder: string;
  /** data.csv key, e.g. `TCGA_DU_5851`. */
  patient: string;
  /** Per slice: RGB image [S, S, 3] and mask [S, S] (0 or 255), 8-bit. */
  slices: { image: Uint8Array; mask: Uint8Array }[];
  csvRow: string[];
}

export interface SynthSummary {
  dir: string;
  folders: string[];
  slices: number;
  tumourSlices: number;
}

type Random = () => number;
const between = (r: Random, lo: number, hi: number) => lo + (hi - lo) * r();
const smooth = (t: number) => t * t * (3 - 2 * t);
const clamp01 = (v: number) => (v < 0 ? 0 : v > 1 ? 1 : v);

/** Smooth 3-D value noise in [0, 1]: a random lattice, trilinear with smoothstep weights. */
function valueNoise(r: Random, cells: number, depth: number): Noise3 {
  const n = cells + 1;
  const d = depth + 1;
  const lattice = Float32Array.from({ length: n * n * d }, r);
  return (u, v, w) => {
    const x = clamp01(u) * cells;
    const y = clamp01(v) * cells;
    const z = clamp01(w) * depth;
    const x0 = Math.min(Math.floor(x), cells - 1);
    const y0 = Math.min(Math.floor(y), cells - 1);
    const z0 = Math.min(Math.floor(z), depth - 1);
    const fx = smooth(x - x0);
    const fy = smooth(y - y0);
    const fz = smooth(z - z0);
    const at = (i: number, j: number, k: number) => lattice[((z0 + k) * n + (y0 + j)) * n + (x0 + i)]!;
    const plane = (k: number) =>
      (at(0, 0, k) * (1 - fx) + at(1, 0, k) * fx) * (1 - fy) + (at(0, 1, k) * (1 - fx) + at(1, 1, k) * fx) * fy;
    return plane(0) * (1 - fz) + plane(1) * fz;
  };
}

/** Roughly standard normal from four uniforms: cheap and plenty for image noise. */
function gaussian(r: Random): number {
  return (r() + r() + r() + r() - 2) * 1.7320508;
}

function patientName(r: Random, taken: Set<string>): { patient: string; folder: string } {
  const sites = ['CS', 'DU', 'EZ', 'FG', 'HT'];
  for (;;) {
    const site = sites[Math.floor(r() * sites.length)]!;
    const code = String(1000 + Math.floor(r() * 9000));
    const patient = `TCGA_${site}_${code}`;
    if (taken.has(patient)) continue;
    taken.add(patient);
    const date = `${1985 + Math.floor(r() * 20)}${String(1 + Math.floor(r() * 12)).padStart(2, '0')}${String(1 + Math.floor(r() * 28)).padStart(2, '0')}`;
    return { patient, folder: `${patient}_${date}` };
  }
}

function csvRow(r: Random, patient: string): string[] {
  const pick = (lo: number, hi: number, na = 0.15) => (r() < na ? 'NA' : String(lo + Math.floor(r() * (hi - lo + 1))));
  return [
    patient, pick(1, 4), pick(1, 5), pick(1, 3), pick(1, 3), pick(1, 4), pick(1, 3), pick(1, 3, 0.05),
    pick(1, 3, 0.02), pick(1, 2, 0.02), pick(1, 1, 0.02), pick(1, 3, 0.05), pick(1, 5, 0.05), pick(1, 2, 0),
    pick(20, 75, 0.02), pick(1, 3, 0.1), pick(1, 2, 0.3), pick(0, 1, 0.02),
  ];
}

/** Everything that stays fixed across one patient's slices. Lengths are fractions of the image side. */
interface Phantom {
  slices: number;
  head: { cx: number; cy: number; a: number; b: number; cos: number; sin: number };
  /** Intensity gain per channel (scanner variation) and noise level. */
  gain: [number, number, number];
  noise: number;
  tissue: Noise3;
  texture: Noise3;
  bias: Noise3;
  tumour: {
    /** Centre slice and length in slices: the radius grows then shrinks over that range. */
    zc: number;
    span: number;
    rMax: number;
    cx: number;
    cy: number;
    harmonics: { k: number; a: number; phase: number; drift: number }[];
    flair: number;
    enhances: boolean;
  };
  /** Small FLAIR-bright lesions that are not tumour: one slice each. */
  spots: { z: number; x: number; y: number; rad: number; c: number }[];
}
type Noise3 = (u: number, v: number, w: number) => number;

function drawPhantom(r: Random, slices: number): Phantom {
  const cx = 0.5 + between(r, -0.03, 0.03);
  const cy = 0.5 + between(r, -0.03, 0.03);
  const a = between(r, 0.34, 0.4);
  const b = between(r, 0.4, 0.46);
  const tilt = between(r, -0.15, 0.15);
  const gain: [number, number, number] = [between(r, 0.85, 1.15), between(r, 0.85, 1.15), between(r, 0.85, 1.15)];
  const noise = between(r, 0.015, 0.035);
  const tissue = valueNoise(r, 6, 4);
  const texture = valueNoise(r, 24, 8);
  const bias = valueNoise(r, 2, 1);
  // About 35 % of slices on average; the centre stays well inside the brain.
  const span = between(r, 0.2, 0.5) * slices;
  const zc = between(r, 0.3, 0.7) * slices;
  const rMax = between(r, 0.05, 0.14);
  const angle = r() * 2 * Math.PI;
  const dist = between(r, 0.1, 0.5);
  const harmonics = [2, 3, 4, 5].map((k) => ({ k, a: between(r, 0, 0.28 / (k - 1)), phase: r() * 2 * Math.PI, drift: between(r, -0.3, 0.3) }));
  const tumour = {
    zc, span, rMax, harmonics,
    cx: cx + Math.cos(angle) * dist * a,
    cy: cy + Math.sin(angle) * dist * b,
    flair: between(r, 0.1, 0.38),
    enhances: r() < 0.4,
  };
  const spots = Array.from({ length: Math.floor(between(r, 0, 5)) }, () => ({
    z: Math.floor(r() * slices), x: cx + between(r, -0.6, 0.6) * a, y: cy + between(r, -0.6, 0.6) * b, rad: between(r, 0.008, 0.025), c: between(r, 0.08, 0.3),
  }));
  return { slices, head: { cx, cy, a, b, cos: Math.cos(tilt), sin: Math.sin(tilt) }, gain, noise, tissue, texture, bias, tumour, spots };
}

/** What varies from slice to slice: the head's cross-section, the ventricles', the tumour's radius. */
function sliceGeometry(ph: Phantom, k: number): { z: number; a: number; b: number; ventricle: number; tumourRadius: number } {
  const z = (k + 0.5) / ph.slices;
  const section = Math.sqrt(Math.max(0.05, 1 - ((z - 0.5) / 0.62) ** 2));
  const t = 1 - ((k + 0.5 - ph.tumour.zc) / (ph.tumour.span / 2)) ** 2;
  return {
    z,
    a: ph.head.a * section,
    b: ph.head.b * section,
    ventricle: 0.16 * Math.max(0, 1 - ((z - 0.55) / 0.22) ** 2),
    tumourRadius: t > 0 ? ph.tumour.rMax * Math.sqrt(t) : 0,
  };
}

/** Pre-contrast T1, FLAIR, post-contrast T1. Skull marrow and scalp are bright before contrast; CSF is dark in all three. */
const SKULL = [0.82, 0.33, 0.6];
const CSF = [0.12, 0.1, 0.14];

/**
 * One pixel's three channel values before gain, bias and noise, written to out[0..2];
 * out[3] is 1 inside the tumour mask. (u, v) in [0, 1], (ex, ey) in head-ellipse units.
 */
function brainPixel(ph: Phantom, g: ReturnType<typeof sliceGeometry>, k: number, u: number, v: number, ex: number, ey: number, rho: number, S: number, out: Float64Array): void {
  out[3] = 0;
  if (rho > 0.9) {
    out.set(SKULL);
    return;
  }
  if (rho > 0.86) {
    out.set(CSF);
    return;
  }
  const { z } = g;
  const wm = smooth(clamp01((ph.tissue(u, v, z) - 0.35) * 2.5));
  const fine = ph.texture(u, v, z) - 0.5;
  let c0 = 0.44 + 0.14 * wm + 0.06 * fine;
  let c1 = 0.44 - 0.07 * wm + 0.06 * fine;
  let c2 = 0.47 + 0.09 * wm + 0.05 * fine;
  // Ventricles: two tilted lobes, dark in every channel and most of all in FLAIR.
  const vr = g.ventricle;
  const lobe = Math.min(Math.hypot((ex - 0.14) / 0.55, (ey + 0.08) / 1.3), Math.hypot((ex + 0.14) / 0.55, (ey + 0.08) / 1.3));
  if (vr > 0 && lobe < vr) {
    [c0, c1, c2] = [0.16, 0.09, 0.18];
    if (lobe > vr * 0.7) c2 = 0.7; // choroid plexus along the wall enhances
  } else if (vr > 0 && lobe < vr * 1.25) {
    c1 += 0.1; // periventricular FLAIR caps: bright, not tumour
  }
  for (const s of ph.spots) if (s.z === k && Math.hypot(u - s.x, v - s.y) < s.rad) c1 += s.c;
  const tr = g.tumourRadius;
  if (tr > 0) {
    const t = ph.tumour;
    const dx = u - t.cx;
    const dy = v - t.cy;
    const theta = Math.atan2(dy, dx);
    let shape = 1;
    for (const h of t.harmonics) shape += h.a * Math.cos(h.k * theta + h.phase + h.drift * k);
    const edge = tr * shape * (0.85 + 0.3 * ph.texture(u * 0.5, v * 0.5, z));
    const d = Math.hypot(dx, dy);
    if (d < edge && rho < 0.84) out[3] = 1;
    // The image edge is soft (about two pixels wide) and a faint unlabelled halo surrounds it.
    const ramp = clamp01((edge - d) * S * 0.5 + 0.5);
    const inside = ramp * (0.75 + 0.5 * ph.texture(u * 2, v * 2, z));
    const halo = d < edge * 1.3 ? Math.max(0, 0.25 * (1 - ramp) * (1 - (d - edge) / (edge * 0.3))) : 0;
    c1 += t.flair * (inside + halo);
    c0 -= 0.08 * inside;
    if (t.enhances) c2 += 0.25 * inside * clamp01((d / edge - 0.6) * 4); // rim enhancement
  }
  out[0] = c0;
  out[1] = c1;
  out[2] = c2;
}

function renderSlice(ph: Phantom, k: number, S: number, r: Random): { image: Uint8Array; mask: Uint8Array } {
  const g = sliceGeometry(ph, k);
  const { cx, cy, cos, sin } = ph.head;
  const image = new Uint8Array(S * S * 3);
  const mask = new Uint8Array(S * S);
  const px = new Float64Array(4);
  for (let y = 0; y < S; y++) {
    for (let x = 0; x < S; x++) {
      const u = (x + 0.5) / S;
      const v = (y + 0.5) / S;
      const ex = ((u - cx) * cos + (v - cy) * sin) / g.a;
      const ey = (-(u - cx) * sin + (v - cy) * cos) / g.b;
      const rho = Math.sqrt(ex * ex + ey * ey);
      px.fill(0);
      if (rho <= 1) {
        brainPixel(ph, g, k, u, v, ex, ey, rho, S, px);
        const field = 0.9 + 0.2 * ph.bias(u, v, g.z); // smooth coil-sensitivity bias
        for (let c = 0; c < 3; c++) px[c] = px[c]! * field * ph.gain[c]!;
      }
      if (Math.hypot(u - cx, v - (cy - g.b * 0.93)) < 0.015) px[2] = 0.85; // sagittal sinus: bright after contrast only
      const o = (y * S + x) * 3;
      for (let c = 0; c < 3; c++) image[o + c] = Math.round(255 * clamp01(Math.abs(px[c]! + ph.noise * gaussian(r))));
      if (px[3]) mask[y * S + x] = 255;
    }
  }
  return { image, mask };
}

/** Renders one patient's slices in memory (browser-safe). `index` picks the patient within the seed. */
export function synthesizePatient(index: number, options: SynthOptions, taken = new Set<string>()): SyntheticPatient {
  const S = options.size ?? 256;
  const [minSlices, maxSlices] = options.slicesPerPatient ?? [20, 88];
  const r = seededRandom(deriveSeed(options.seed, index));
  const { patient, folder } = patientName(r, taken);
  const n = minSlices + Math.floor(r() * (maxSlices - minSlices + 1));
  const phantom = drawPhantom(r, n);
  // Each slice has its own noise stream, so a slice does not depend on the ones rendered before it.
  const slices = Array.from({ length: n }, (_, k) => renderSlice(phantom, k, S, seededRandom(deriveSeed(options.seed, index, k + 1))));
  return { folder, patient, slices, csvRow: csvRow(r, patient) };
}

/** Writes a kaggle_3m-shaped synthetic data set into `dir` (patient folders and data.csv directly inside). */
export async function writeSyntheticDataset(dir: string, options: SynthOptions): Promise<SynthSummary> {
  const size = options.size ?? 256;
  const [lo, hi] = options.slicesPerPatient ?? [20, 88];
  if (!Number.isInteger(options.patients) || options.patients < 1) throw new DataError(`${dir}: synth needs patients >= 1, got ${options.patients}`);
  if (!Number.isInteger(size) || size < 8) throw new DataError(`${dir}: synth needs an integer size >= 8, got ${size}`);
  if (!Number.isInteger(lo) || !Number.isInteger(hi) || lo < 1 || hi < lo) throw new DataError(`${dir}: slicesPerPatient must be integers 1 <= min <= max, got [${lo}, ${hi}]`);
  const fs = await nodeFs();
  await makeFolder(dir);
  const taken = new Set<string>();
  const folders: string[] = [];
  const rows: string[][] = [];
  let slices = 0;
  let tumourSlices = 0;
  for (let p = 0; p < options.patients; p++) {
    const patient = synthesizePatient(p, options, taken);
    const folderPath = `${dir}/${patient.folder}`;
    await makeFolder(folderPath);
    for (let k = 0; k < patient.slices.length; k++) {
      const { image, mask } = patient.slices[k]!;
      const stem = `${folderPath}/${patient.folder}_${k + 1}`;
      await fs.writeFile(`${stem}.tif`, encodeTiff({ width: size, height: size, channels: 3, data: image }));
      await fs.writeFile(`${stem}_mask.tif`, encodeTiff({ width: size, height: size, channels: 1, data: mask }));
      slices++;
      if (mask.some((m) => m !== 0)) tumourSlices++;
    }
    folders.push(patient.folder);
    rows.push(patient.csvRow);
  }
  const csv = [LGG_CSV_COLUMNS.join(','), ...rows.map((row) => row.join(','))].join('\n') + '\n';
  await fs.writeFile(`${dir}/data.csv`, csv);
  return { dir, folders, slices, tumourSlices };
}
