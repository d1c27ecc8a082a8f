// A run's full benchmark section from its record (bench/README.md's tables; the README's short
// summary of it is bench/summary.ts's): the adapter, the date, the exact command, the measured
// peaks, then the rows grouped (end-to-end first, then each kernel family in suite order), each
// with dawnet's and tfjs's time and rate, tfjs time / dawnet time, and dawnet's % of peak, and
// last the issue's bars with the misses. `dawnet bench --markdown [record.json]` prints it.
// Times are on the run's clock (GPU timestamps or wall); a cell on the other clock says so, and
// with GPU timestamps a last column gives the wall medians. A row whose outputs differed from
// tfjs's says so beside its ratio.

import { evaluateBars, mib, type Bar } from './bars.js';
import type { E2eResult } from './e2e.js';
import { alternativesOf, type CaseResult } from './harness.js';
import type { Clock } from './timing.js';
import { fmaUnrollNote, laneAccessLine, ms, profileLine, type BenchRecord } from './report.js';

const UNITS = { flops: 'GFLOP/s', bytes: 'GB/s', images: 'img/s' } as const;

/** A cell on another clock than the run's says which. */
function offClock(clock: Clock | null | undefined, runClock: Clock): string {
  return clock && clock !== runClock ? ` (${clock === 'wall' ? 'wall clock' : 'GPU time'})` : '';
}

function side(s: CaseResult['dawnet'] | null, metric: CaseResult['metric'], runClock: Clock): string {
  if (!s) return '-';
  if ('error' in s) return 'error';
  return `${ms(s.timing.medianMs)} ms (${ms(s.rate)} ${UNITS[metric]})${offClock(s.clock ?? 'wall', runClock)}`;
}

function pct(s: CaseResult['dawnet']): string {
  return 'timing' in s && s.pctPeak !== null ? s.pctPeak.toFixed(1) : '-';
}

/** A failed output check, said beside the ratio: the row's numbers time work that came out wrong. */
export function checkMark(r: CaseResult): string {
  if (!r.check || r.check.ok) return '';
  const where = r.check.output ? ` in ${r.check.output}` : '';
  return `, outputs differ${where} (${r.check.maxRelErr.toExponential(1)} > ${r.check.tolerance})`;
}

/** tfjs / dawnet, marked where on another clock than the run's or where the outputs differed. */
export function ratio(r: CaseResult, runClock: Clock): string {
  return `${r.ratio === null ? '-' : `${r.ratio.toFixed(2)}x${offClock(r.ratioClock ?? 'wall', runClock)}`}${checkMark(r)}`;
}

/** Wall medians of both sides. */
function wall(r: CaseResult): string {
  const w = (s: CaseResult['dawnet'] | null) => (s && 'timing' in s && s.wall ? ms(s.wall.medianMs) : '-');
  return r.tfjs ? `${w(r.dawnet)} / ${w(r.tfjs)} ms` : `${w(r.dawnet)} ms`;
}

/**
 * dawnet's other algorithms timed beside the row (conv cases where Winograd fits, and end-to-end
 * steps on GPUs), on dawnet's clock: the column appears where a table has any, before the wall
 * clock's, which the introduction calls the last.
 */
const besideHead = 'other algorithms beside it (dawnet)';
const besideCell = (r: CaseResult): string => alternativesOf(r).map((a) => `${a.algorithm} ${ms(a.ms)} ms${a.pairedMs === undefined ? '' : ` (${(a.pairedMs / a.ms).toFixed(2)}x as fast as untuned, ${ms(a.pairedMs)} ms, interleaved with it)`}`).join(', ') || '-';
const hasBeside = (rows: CaseResult[]): boolean => rows.some((r) => alternativesOf(r).length > 0);

/** The run's clock: dawnet's (records from before the choice are wall clock). */
export function runClockOf(rec: BenchRecord): Clock {
  return rec.clock?.dawnet ?? 'wall';
}

function escape(s: string): string {
  return s.replace(/\|/g, '\\|');
}

export function table(head: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.map(escape).join(' | ')} |`;
  return [line(head), `|${head.map(() => ' --- ').join('|')}|`, ...rows.map(line)].join('\n');
}

function e2eTable(rows: E2eResult[], runClock: Clock): string {
  const gpu = runClock !== 'wall';
  const beside = hasBeside(rows);
  return table(
    ['case', 'shape', 'dawnet', 'tfjs', 'tfjs / dawnet', '% of peak', 'dawnet peak memory', 'tfjs peak memory', 'minimum', 'dawnet / minimum', ...(beside ? [besideHead] : []), ...(gpu ? ['wall clock (dawnet / tfjs)'] : [])],
    rows.map((r) => {
      const m = r.memory && 'ratio' in r.memory ? r.memory : null;
      const tm = r.tfjsMemory && 'peakBytes' in r.tfjsMemory ? r.tfjsMemory : null;
      return [
        r.id,
        r.shape,
        side(r.dawnet, 'images', runClock),
        side(r.tfjs, 'images', runClock),
        ratio(r, runClock),
        pct(r.dawnet),
        m ? mib(m.peakBytes) : '-',
        tm ? mib(tm.peakBytes) : '-',
        m ? mib(m.minimum.total) : '-',
        m ? `${m.ratio.toFixed(2)}x` : '-',
        ...(beside ? [besideCell(r)] : []),
        ...(gpu ? [wall(r)] : []),
      ];
    }),
  );
}

/** The case id, marked where it ran Winograd (its rate and % of peak count direct flops). */
const ALGORITHM_LABELS: Record<string, string> = { winograd: 'Winograd', 'winograd-fused': 'fused Winograd', 'uniform-weights': 'uniform weights', 'winograd-uniform': 'Winograd, uniform-weights GEMMs', 'channel-lanes': 'channel lanes', 'row-patch': 'row patch', 'winograd-f2': 'fused Winograd F(2x2)' };
const caseCell = (r: CaseResult): string => (r.algorithm && ALGORITHM_LABELS[r.algorithm] ? `${r.id} (${ALGORITHM_LABELS[r.algorithm]})` : r.id);

function groupTable(rows: CaseResult[], runClock: Clock): string {
  const gpu = runClock !== 'wall';
  const beside = hasBeside(rows);
  return table(
    ['case', 'shape', 'dawnet', 'tfjs', 'tfjs / dawnet', '% of peak', ...(beside ? [besideHead] : []), ...(gpu ? ['wall clock (dawnet / tfjs)'] : [])],
    rows.map((r) => [caseCell(r), r.shape, side(r.dawnet, r.metric, runClock), side(r.tfjs, r.metric, runClock), ratio(r, runClock), pct(r.dawnet), ...(beside ? [besideCell(r)] : []), ...(gpu ? [wall(r)] : [])]),
  );
}

/** What the times are: the clock's sentence for the introduction. */
function clockSentence(rec: BenchRecord): string {
  if (runClockOf(rec) === 'wall') return 'wall clock around enqueue and wait for the queue';
  return (
    'GPU time from timestamp queries: for dawnet the sum of its compute passes\' spans (one pass per command buffer), for tfjs ' +
    "tf.time's kernelMs, the sum over its kernels of one timestamped pass each; neither counts copies, uploads, submission or " +
    `the CPU's encoding, which the wall clock (enqueue to queue drained, in the last column) does` +
    (rec.clock?.quantized ? '; Dawn rounded each timestamp to 65.5 us' : '')
  );
}

/**
 * Where the launch case's ratio is on wall clock in a GPU-timed run (BenchCase.ratioOnWall), why;
 * nothing for records from before.
 */
function launchSentence(rec: BenchRecord): string {
  const onWall = rec.rows.filter((r) => r.id.startsWith('launch/') && r.ratioClock === 'wall');
  if (runClockOf(rec) === 'wall' || !onWall.length) return '';
  return (
    ` ${onWall.map((r) => r.id).join(', ')} divide${onWall.length === 1 ? 's' : ''} wall medians too: on GPU time dawnet's sample is one pass ` +
    "holding dozens of its one-element dispatches against tfjs's pass per kernel, which for a kernel this small favours dawnet by construction."
  );
}

/** A bar's verdict in one line, without its misses: 'NAME, TARGET: missed by 2 of 15 (NOTE)'. */
export function barStatus(b: Bar): string {
  const status = b.checked === 0 ? 'not measured' : b.misses.length === 0 ? `met by all ${b.checked} cases` : `missed by ${b.misses.length} of ${b.checked}`;
  return `${b.name}, ${b.target}: ${status}${b.note ? ` (${b.note})` : ''}`;
}

function barList(bars: Bar[]): string {
  const out: string[] = [];
  for (const b of bars) {
    out.push(`- ${barStatus(b)}`);
    for (const m of b.misses) out.push(`  - \`${m.id}\` ${m.value}: ${m.limit}`);
  }
  return out.join('\n');
}

/** Where and when a record was measured: 'Measured on **ADAPTER** on DATE (dawnet at COMMIT)'. */
export function measuredOn(rec: BenchRecord): string {
  return `Measured on **${rec.adapter}** on ${rec.date.slice(0, 10)}${rec.commit ? ` (dawnet at ${rec.commit})` : ''}`;
}

export function markdownReport(rec: BenchRecord): string {
  const t = rec.timing as { reps?: number; warmup?: number };
  const lines = [
    '## Benchmarks',
    '',
    `${measuredOn(rec)} with`,
    '',
    '```',
    rec.command,
    '```',
    '',
    `Scale ${rec.scale}: batch and image sides are the models' (U-Net levels at batch 16, 256x256; VGG16 at batch 32, 256x256) divided by ${rec.scale}. ` +
      `Times are medians of ${t.reps ?? '?'} samples after ${t.warmup ?? '?'} warm-up run(s), ${clockSentence(rec)}` +
      `${rec.tfjs ? `; the peer is TensorFlow.js ${rec.tfjs.version} (WebGPU backend) on the same adapter in the same process` : '; tfjs was not run'}.`,
  ];
  if (rec.peak) {
    lines.push(
      '',
      `Measured peaks: FMA ${rec.peak.gflops.toFixed(1)} GFLOP/s${fmaUnrollNote(rec.peak)}, copy ${rec.peak.gbps.toFixed(1)} GB/s (read + write). ` +
        '"% of peak" is dawnet\'s rate over the peak of its metric (FMA for convolutions, matmuls and end-to-end steps, copy for the rest), ' +
        'the peak timed on the kernels\' clock (a wall-clock rate against a GPU-timed peak, as in the end-to-end rows, is a lower bound). ' +
        'The tfjs / dawnet ratio always divides medians of one clock: the end-to-end rows use wall clock (what a training run waits for), ' +
        'and where a side could not give GPU time, both sides\' wall medians (marked).' +
        launchSentence(rec) +
        (rec.peak.laneAccess
          ? ` Per-lane accesses (a loop of loads or stores whose address differs per invocation): ${laneAccessLine(rec.peak.laneAccess)}; ` +
            'the bars below count a conv kernel\'s loads and stores at these rates as a fourth floor, which on this CPU adapter adds to the FMA floor.'
          : ''),
    );
  }
  const e2e = rec.e2e ?? [];
  if (e2e.length) {
    lines.push('', '### End-to-end', '', e2eTable(e2e, runClockOf(rec)), '');
    lines.push(
      "dawnet's peak memory is its buffer pool's peakBytesInUse over one step (buffers rounded up to the pool's size classes). " +
        "tfjs's is the peak of tf.memory().numBytesInGPU over one step: the bytes in the buffers its WebGPU buffer manager has handed out " +
        '(tensors, plus uniform and staging buffers until their submit), at exact sizes. Neither counts the free buffers each keeps for reuse. ' +
        'The minimum is what an ideal schedule must hold at its worst ' +
        'moment: weights, Adam moments and the batch, plus the activations backward still needs, the weight gradients written so far and ' +
        'the transient tensors at that op (bench/memory.ts lists what each op saves). % of peak counts the convolutions\' flops only.',
    );
    const profiled = e2e.filter((r) => r.profile);
    if (profiled.length) {
      lines.push(
        '',
        "Where dawnet's step time goes: one more step with every dispatch in its own timestamped pass, GPU time per kernel (dispatches in brackets). " +
          'A pass per dispatch costs extra time, most of it on the tiny kernels, so their shares are upper bounds:',
        '',
        ...profiled.map((r) => `- \`${r.id}\`: ${escape(profileLine(r.profile!))}`),
      );
    }
  }
  const groups = [...new Set(rec.rows.map((r) => r.group))];
  for (const g of groups) lines.push('', `### ${g}`, '', groupTable(rec.rows.filter((r) => r.group === g), runClockOf(rec)));
  if (rec.skipped?.length) lines.push('', `Not run (the --budget ran out): ${rec.skipped.map((id) => `\`${id}\``).join(', ')}.`);
  if (rec.unfinished?.length) lines.push('', `Not run (the run stopped before them): ${rec.unfinished.map((id) => `\`${id}\``).join(', ')}.`);
  lines.push('', '### Bars', '', barList(evaluateBars(rec)), '');
  return lines.join('\n');
}
