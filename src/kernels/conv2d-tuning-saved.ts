// Saved conv tunings (tuneConvs, conv2d-tuning.ts): the JSON form of a device's table, and taking
// one back, every field checked first, so a bad file changes nothing already tuned. A tuning names
// the adapter that timed it and is refused on another: what is fastest on one device says little
// about the next.

import { FormatError } from '../errors.js';
import { adapterName } from '../gpu/device.js';
import { runtime } from '../gpu/runtime.js';
import type { ConvGeometry } from './conv2d.js';
import { formatGemmTile, parseGemmTile } from './conv2d-tiled.js';
import { clearTunedConvs, GEOMETRY_FIELDS, setTunedConv, tunedConvs, type ConvCandidate, type TunedConv } from './conv2d-tuned.js';
import { algorithmRuns, CONV_ALGORITHMS, hasAlgorithmChoice, usesGemmTiles, type ConvAlgorithm } from './conv2d-winograd-run.js';
import { fusedFits } from './conv2d-winograd-fused.js';
import { formatFusedTile, parseFusedTile } from './conv2d-winograd-fused-layout.js';
import { winogradShape } from './conv2d-winograd.js';

/** The tuned choices of this device, as saveConvTuning writes them. */
export interface ConvTuning {
  format: 'dawnet-conv-tuning';
  version: 1;
  /** dn.info().name of the adapter that timed them. */
  adapter: string;
  convs: TunedConv[];
}

/** This device's tuned choices, to save as JSON (saveConvTuning) and load in a later run. */
export function convTuning(): ConvTuning {
  const rt = runtime();
  return { format: 'dawnet-conv-tuning', version: 1, adapter: adapterName(rt.ctx.report), convs: tunedConvs(rt.device) };
}

/** Forgets this device's tuned choices: convAlgorithm's rule again everywhere. */
export function clearConvTuning(): void {
  clearTunedConvs(runtime().device);
}

/**
 * Takes tuned choices made earlier (convTuning's object, or its JSON text), after checking every
 * field; `source` names where they came from in errors (a file name). Choices from another adapter
 * are refused: what is fastest on one device says little about the next. Returns how many were taken.
 */
export function applyConvTuning(data: unknown, source = 'applyConvTuning: tuning'): number {
  const rt = runtime();
  const t = parseTuning(typeof data === 'string' ? parseJson(data, source) : data, source);
  const here = adapterName(rt.ctx.report);
  if (t.adapter !== here) throw new FormatError(`${source}: tuned on "${t.adapter}", but this adapter is "${here}"; run tuneConvs here instead`);
  for (const c of t.convs) setTunedConv(rt.device, c);
  return t.convs.length;
}

function parseJson(text: string, source: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new FormatError(`${source}: not JSON (${(e as Error).message})`);
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function parseTuning(v: unknown, source: string): ConvTuning {
  if (!isObject(v) || v.format !== 'dawnet-conv-tuning') throw new FormatError(`${source}: not a dawnet conv tuning (no format "dawnet-conv-tuning")`);
  if (v.version !== 1) throw new FormatError(`${source}: version ${String(v.version)}; this dawnet reads version 1`);
  if (typeof v.adapter !== 'string' || !Array.isArray(v.convs)) throw new FormatError(`${source}: needs "adapter" (a string) and "convs" (a list)`);
  return { format: 'dawnet-conv-tuning', version: 1, adapter: v.adapter, convs: v.convs.map((c, i) => parseConv(c, `${source}: convs[${i}]`)) };
}

function parseConv(c: unknown, where: string): TunedConv {
  if (!isObject(c)) throw new FormatError(`${where} is not an object`);
  const { direction, family, algorithm, geometry, ms, clock } = c;
  if (direction !== 'forward' && direction !== 'backwardInput' && direction !== 'backwardWeight') throw new FormatError(`${where}: direction ${JSON.stringify(direction)} is not "forward", "backwardInput" or "backwardWeight"`);
  if (family !== 'tiled' && family !== 'subgroup') throw new FormatError(`${where}: family ${JSON.stringify(family)} is not "tiled" or "subgroup"`);
  if (!CONV_ALGORITHMS.includes(algorithm as ConvAlgorithm)) throw new FormatError(`${where}: algorithm ${JSON.stringify(algorithm)} is not one of ${CONV_ALGORITHMS.join(', ')}`);
  if (!isObject(geometry)) throw new FormatError(`${where}: no geometry`);
  const g = {} as ConvGeometry;
  for (const f of GEOMETRY_FIELDS) {
    const x = geometry[f];
    if (typeof x !== 'number' || !Number.isInteger(x) || x < (f.startsWith('pad') ? 0 : 1)) throw new FormatError(`${where}: geometry.${f} is ${JSON.stringify(x)}, not a ${f.startsWith('pad') ? 'non-negative' : 'positive'} integer`);
    g[f] = x;
  }
  if (!hasAlgorithmChoice(direction, g)) throw new FormatError(`${where}: a ${g.kh}x${g.kw} ${direction} at stride ${g.sh}x${g.sw} with ${g.cin} channels in and ${g.cout} out has no choice of algorithm (Winograd runs 3x3 at stride 1, the uniform-weights kernel forwards whose weights fit a uniform buffer)`);
  if (!algorithmRuns(algorithm as ConvAlgorithm, direction, g) && algorithm !== 'winograd-fused') throw new FormatError(`${where}: ${algorithm as string} cannot run this ${direction}`);
  if (algorithm === 'winograd-fused') {
    if (direction === 'backwardWeight') throw new FormatError(`${where}: the fused kernel has no weight gradient`);
    if (!fusedFits(winogradShape(direction, g).n)) throw new FormatError(`${where}: the fused kernel cannot run ${winogradShape(direction, g).n} output channels`);
  }
  const tile = c.tile === undefined ? undefined : parseTile(c.tile, family === 'tiled' && usesGemmTiles(algorithm as ConvAlgorithm), where);
  const groups = c.groups === undefined ? undefined : parseGroups(c.groups, algorithm === 'winograd-fused', where);
  const fusedTile = c.fusedTile === undefined ? undefined : parseSavedFusedTile(c.fusedTile, algorithm === 'winograd-fused', where);
  const times: Partial<Record<ConvAlgorithm, number>> = {};
  for (const [a, t] of Object.entries(isObject(ms) ? ms : {})) if (CONV_ALGORITHMS.includes(a as ConvAlgorithm) && typeof t === 'number') times[a as ConvAlgorithm] = t;
  // What the choice was made from: kept where well formed, for reading; nothing runs by it.
  const timed = Array.isArray(c.timed)
    ? c.timed.filter((t): t is ConvCandidate & { ms: number } => isObject(t) && CONV_ALGORITHMS.includes(t.algorithm as ConvAlgorithm) && typeof t.ms === 'number' && (t.tile === undefined || typeof t.tile === 'string'))
    : undefined;
  return { direction, family, algorithm: algorithm as ConvAlgorithm, ...(tile ? { tile } : {}), ...(groups ? { groups } : {}), ...(fusedTile ? { fusedTile } : {}), geometry: g, ms: times, ...(timed ? { timed } : {}), clock: clock === 'wall' ? 'wall' : 'gpu' };
}

/** A saved number of channel groups: what setFusedGroups takes, for the fused kernel only. */
function parseGroups(groups: unknown, fused: boolean, where: string): number {
  if (!fused) throw new FormatError(`${where}: channel groups (${JSON.stringify(groups)}) for a conv that is not run by the fused kernel`);
  if (groups !== 1 && groups !== 2 && groups !== 4 && groups !== 8) throw new FormatError(`${where}: groups ${JSON.stringify(groups)} is not 1, 2, 4 or 8`);
  return groups;
}

/** A saved tile of the fused kernel (formatFusedTile's), for the fused kernel only. */
function parseSavedFusedTile(tile: unknown, fused: boolean, where: string): string {
  if (!fused) throw new FormatError(`${where}: a fused kernel tile (${JSON.stringify(tile)}) for a conv that is not run by the fused kernel`);
  if (typeof tile !== 'string') throw new FormatError(`${where}: fusedTile ${JSON.stringify(tile)} is not a string`);
  try {
    return formatFusedTile(parseFusedTile(tile));
  } catch (e) {
    throw new FormatError(`${where}: ${(e as Error).message}`);
  }
}

/** A saved tile, checked as setConvTile's are; only the tiled family's direct and staged Winograd GEMMs take one. */
function parseTile(tile: unknown, takesTile: boolean, where: string): string {
  if (!takesTile) throw new FormatError(`${where}: a tile (${JSON.stringify(tile)}) for a conv whose kernel takes none (only the tiled family's direct and Winograd GEMMs do)`);
  if (typeof tile !== 'string') throw new FormatError(`${where}: tile ${JSON.stringify(tile)} is not a string`);
  try {
    return formatGemmTile(parseGemmTile(tile));
  } catch (e) {
    throw new FormatError(`${where}: ${(e as Error).message}`);
  }
}
