// `dawnet bench`'s options: their usage text and parser, shared by the Node CLI (bench/main.ts)
// and the browser page (bench/web.ts).

import { UsageError } from '../src/cli/args.js';
import { parseGemmTile } from '../src/kernels/conv2d-tiled.js';
import { CONV_ALGORITHMS, type ConvAlgorithm } from '../src/kernels/conv2d-winograd-run.js';
import { GROUPS, type CaseFilter } from './registry.js';
import { DEFAULT_TIMING, type ClockOption, type TimingOptions } from './timing.js';

export const USAGE = `usage: dawnet bench [options]

Times dawnet against TensorFlow.js (WebGPU backend) on the same adapter and against the
device's measured peaks: end-to-end cases first (a U-Net training step and a VGG16 forward in
images per second, with dawnet's peak GPU memory next to the step's minimum), then each kernel.

options:
  --scale S         divide batch and spatial sizes by S (default: 8 on a CPU adapter such as
                    lavapipe, 1 on a GPU); U-Net levels at batch 16, VGG16 at batch 32, 256x256;
                    end-to-end cases run at that batch and half of it
  --only REGEX      run only cases whose id matches (e.g. 'conv2d.forward', 'unet-l3')
  --group A,B       run only these groups (${groupList()})
  --naive           also race the naive reference kernels (conv2d-naive)
  --warmup N        warm-up runs per case and side (default ${DEFAULT_TIMING.warmup})
  --reps N          timed samples per case and side (default ${DEFAULT_TIMING.reps})
  --min-sample-ms T repeat short ops within a sample until it lasts T ms (default ${DEFAULT_TIMING.minSampleMs});
                    S, N and SECONDS are whole numbers, T may have a fraction
  --clock C         auto (default): GPU timestamps when dawnet's and tfjs's devices both have
                    'timestamp-query', else wall clock on both; gpu: timestamps on each side
                    that has them (a ratio between clocks uses both walls); wall: wall clock.
                    Wall times are recorded in every case
  --no-tfjs         time dawnet only
  --no-check        do not compare dawnet's output with tfjs's
  --no-peak         skip the FMA and copy peak measurements
  --no-e2e          skip the end-to-end cases (U-Net training step, VGG16 forward)
  --no-memory       do not measure the end-to-end cases' peak GPU memory
  --fused-groups G  the fused Winograd kernel's channel vec4s per workgroup at most: 1, 2, 4 or
                    8 (default 8: 32 channels; 576 threads at the default tile, fewer where the
                    device allows fewer)
  --no-beside       time neither the operand probe nor the other conv algorithms beside the
                    conv cases, nor the end-to-end steps under them or tuned (what the tile
                    comparisons of scripts/gpu-run.sh need)
  --budget SECONDS  start no new case after this long (the rest are listed as skipped)
  --out FILE        JSON path (default bench/results/<adapter>.json, the adapter's record the
                    READMEs are generated from; where that file exists, a new file beside it,
                    bench/results/<adapter>.<UTC date-time>.json, and the default is left as it
                    is: give --out bench/results/<adapter>.json to replace it)
  --markdown [FILE] print the run's full benchmark section (as bench/README.md keeps it) after the run; given a record
                    written by an earlier run (any path that is not an option), print its
                    section and run nothing
  --tuning RECORD   what tuning chose in a record, against what the rules ran: each conv case's
                    tuned side and each end-to-end step's changed convs; runs nothing
  --compare A B     compare two records (before and after a change, or two adapters): each
                    case's speedup, whether it exceeds the runs' spread, and its speedup
                    measured against tfjs; runs nothing
  --checks          run every op on the GPU against the CPU reference, forward and backward,
                    and exit (non-zero status when one differs)
  --conv-tile T     one tile, BMxBNxBK/TMxTN (e.g. 256x64x8/8x8), for every GEMM of the tiled
                    conv family, Winograd's included (default: the rule's by the conv and
                    algorithm, ruleGemmTile): compare tiles on one machine in one sitting
  --conv-algorithm A  auto (default: on GPUs Winograd F(4x4, 3x3) for the 3x3 stride-1 forwards
                    and backward inputs it suits and their weight gradients from 32 input
                    channels, and row-patch for forwards over at most 4 channels, see
                    convAlgorithm), direct, winograd,
                    winograd-fused (Winograd in one kernel; both wherever they fit, and the
                    weight gradients of 3x3 stride-1 convs by the staged Winograd) or
                    uniform-weights (forwards whose weights fit a uniform buffer, at most 64
                    output channels: VGG16's conv1_1, the U-Net's first level) or
                    winograd-uniform (the staged Winograd, its GEMMs by the uniform-weights
                    kernel: the U-Net's l1 and l2) or channel-lanes (forwards with few
                    inputs a pixel, K*Cin <= 36, and output channels in vec4s) or row-patch
                    (the same convs up to 64 output channels, a strip of a row a workgroup)
                    or winograd-f2 (Winograd F(2x2, 3x3) in one kernel, output channels in
                    32s); the others
                    are timed beside each conv either way, unless --no-beside; with auto
                    the end-to-end steps are also timed after tuneConvs ('tuned')
  --list            print the case ids and exit

A selection (--group, --only, --no-e2e) that matches no case is an error, before anything runs.`;

export interface BenchOptions {
  scale: number | null;
  filter: CaseFilter;
  timing: TimingOptions;
  clock: ClockOption;
  tfjs: boolean;
  check: boolean;
  peak: boolean;
  out: string | null;
  list: boolean;
  e2e: boolean;
  memory: boolean;
  budgetS: number | null;
  /** The tiled conv family's tile for every GEMM (parseGemmTile), or null for the rule's (ruleGemmTile). */
  convTile: string | null;
  /** --conv-algorithm: 'auto' leaves the choice to convAlgorithm. */
  convAlgorithm: 'auto' | ConvAlgorithm;
  /** true: print after the run; a path: render that record instead of running. */
  markdown: boolean | string;
  /** Two records to compare instead of running (BASE, NEW). */
  compare: [string, string] | null;
  /** A record whose tuning to summarise instead of running. */
  tuning: string | null;
  checks: boolean;
  /** --fused-groups: channel vec4s per workgroup of the fused Winograd kernel (null: its default). */
  fusedGroups: 1 | 2 | 4 | 8 | null;
  /** Time the conv cases' operand probe and other algorithms beside them (--no-beside: not). */
  beside: boolean;
}

/** The groups for the usage text, wrapped to its column. */
function groupList(): string {
  const lines: string[] = [];
  let line = '';
  for (const [i, g] of GROUPS.entries()) {
    const word = i < GROUPS.length - 1 ? `${g},` : g;
    // The first line starts after '--group A,B       run only these groups (', the others at column 20.
    if (line && line.length + word.length > (lines.length ? 72 : 52)) {
      lines.push(line);
      line = '';
    }
    line += line ? ` ${word}` : word;
  }
  return [...lines, line].join(`\n${' '.repeat(20)}`);
}

/**
 * The value of option `name`, args[i]: a missing one, an empty one, or another option in its
 * place (`--out --markdown`, `--tuning --reps 3`) is a usage error, so that no option silently
 * falls back to its default (--out's is the record the README is made from).
 */
function valueAt(args: string[], i: number, name: string, what: string): string {
  const v = args[i];
  if (v === undefined) throw new UsageError(`${name} needs ${what}`);
  if (v === '' || isOption(v)) throw new UsageError(`${name} needs ${what}, got ${v === '' ? "''" : `the option '${v}'`}`);
  return v;
}

const isOption = (v: string): boolean => v.startsWith('--') || v === '-h';

/** A whole number >= min, written in plain digits ('2.5', '1e1', '0x10' are refused). */
function intArg(name: string, v: string, min: number): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || n < min) throw new UsageError(`${name} needs a whole number >= ${min}, got '${v}'`);
  return n;
}

/** A number >= min, a fraction allowed. */
function numberArg(name: string, v: string, min: number): number {
  const n = Number(v);
  if (!/^\d+(\.\d+)?$/.test(v) || n < min) throw new UsageError(`${name} needs a number >= ${min}, got '${v}'`);
  return n;
}

function clockArg(v: string): ClockOption {
  if (v === 'auto' || v === 'gpu' || v === 'wall') return v;
  throw new UsageError(`--clock needs auto, gpu or wall, got '${v}'`);
}

function regexArg(name: string, v: string): RegExp {
  try {
    return new RegExp(v);
  } catch (e) {
    throw new UsageError(`${name}: '${v}' is not a regular expression (${(e as Error).message})`);
  }
}

/** --group's names, each one of GROUPS. */
function groupsArg(v: string): string[] {
  const groups = v.split(',').filter((s) => s);
  const unknown = groups.filter((g) => !GROUPS.includes(g));
  if (!groups.length || unknown.length) {
    throw new UsageError(`--group: ${groups.length ? `unknown group${unknown.length > 1 ? 's' : ''} ${unknown.map((g) => `'${g}'`).join(', ')}` : `no group in '${v}'`} (groups: ${GROUPS.join(', ')})`);
  }
  return groups;
}

/**
 * The command line as a shell reads it back: each word that holds anything beyond letters,
 * digits and , . / : = @ % + - _ in single quotes, so a recorded command such as
 * `--only 'backwardWeight/(unet|vgg)'` can be pasted into a shell as it stands.
 */
export function shellCommand(words: readonly string[]): string {
  return words.map((w) => (/^[\w,./:=@%+-]+$/.test(w) ? w : `'${w.replace(/'/g, "'\\''")}'`)).join(' ');
}

export function parseBenchArgs(args: string[]): BenchOptions | null {
  const o: BenchOptions = {
    scale: null,
    filter: {},
    timing: { ...DEFAULT_TIMING },
    clock: 'auto',
    tfjs: true,
    check: true,
    peak: true,
    out: null,
    list: false,
    e2e: true,
    memory: true,
    budgetS: null,
    convTile: null,
    convAlgorithm: 'auto',
    markdown: false,
    compare: null,
    tuning: null,
    checks: false,
    beside: true,
    fusedGroups: null,
  };
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const take = (what: string) => valueAt(args, ++i, a, what);
    if (a === '--help' || a === '-h') return null;
    else if (a === '--scale') o.scale = intArg(a, take('a whole number'), 1);
    else if (a === '--only') o.filter.only = regexArg(a, take('a regular expression'));
    else if (a === '--group') o.filter.groups = groupsArg(take('group names'));
    else if (a === '--naive') o.filter.naive = true;
    else if (a === '--warmup') o.timing.warmup = intArg(a, take('a whole number'), 0);
    else if (a === '--reps') o.timing.reps = intArg(a, take('a whole number'), 1);
    else if (a === '--min-sample-ms') o.timing.minSampleMs = numberArg(a, take('a number of ms'), 0);
    else if (a === '--clock') o.clock = clockArg(take('auto, gpu or wall'));
    else if (a === '--no-tfjs') o.tfjs = false;
    else if (a === '--no-check') o.check = false;
    else if (a === '--no-peak') o.peak = false;
    else if (a === '--out') o.out = take('a file');
    else if (a === '--list') o.list = true;
    else if (a === '--no-e2e') o.e2e = false;
    else if (a === '--no-memory') o.memory = false;
    else if (a === '--no-beside') o.beside = false;
    else if (a === '--fused-groups') {
      const v = take('1, 2, 4 or 8');
      const n = Number(v);
      if (n !== 1 && n !== 2 && n !== 4 && n !== 8) throw new UsageError(`--fused-groups needs 1, 2, 4 or 8, got '${v}'`);
      o.fusedGroups = n;
    }
    else if (a === '--budget') o.budgetS = intArg(a, take('a whole number of seconds'), 1);
    else if (a === '--conv-tile') {
      o.convTile = take('a tile, BMxBNxBK/TMxTN');
      try {
        parseGemmTile(o.convTile); // a bad tile fails here, before any GPU work
      } catch (e) {
        throw new UsageError(`--conv-tile: ${(e as Error).message}`);
      }
    }
    else if (a === '--conv-algorithm') {
      const names = ['auto', ...CONV_ALGORITHMS];
      const v = take(`${names.slice(0, -1).join(', ')} or ${names.at(-1)}`);
      if (!names.includes(v as ConvAlgorithm)) throw new UsageError(`--conv-algorithm needs ${names.slice(0, -1).join(', ')} or ${names.at(-1)}, got '${v}'`);
      o.convAlgorithm = v as 'auto' | ConvAlgorithm;
    }
    else if (a === '--checks') o.checks = true;
    else if (a === '--tuning') o.tuning = take('a record file');
    else if (a === '--compare') {
      const what = 'two record files, BASE and NEW';
      o.compare = [take(what), take(what)];
    }
    else if (a === '--markdown') {
      // Its record is optional: whatever follows that is not an option is the record to render.
      const v = args[i + 1];
      if (v === '') throw new UsageError("--markdown takes a record file or nothing, got ''");
      o.markdown = v !== undefined && !isOption(v) ? args[++i] : true;
    }
    else throw new UsageError(`unknown option '${a}' (see --help)`);
  }
  return o;
}

