// A one-line progress bar for training epochs: batch count, loss, a metric, images per second and
// time left. Redrawn in place on a terminal; on a pipe (CI, logs) only the final line is printed.

export interface ProgressState {
  epoch: number;
  epochs: number;
  batch: number;
  batchCount?: number;
  loss: number;
  samples: number;
  seconds: number;
  metric?: { name: string; value: number };
}

function fmtTime(s: number): string {
  if (!Number.isFinite(s)) return '?';
  const m = Math.floor(s / 60);
  return m ? `${m}m${String(Math.round(s % 60)).padStart(2, '0')}s` : `${s.toFixed(1)}s`;
}

export function progressLine(p: ProgressState, width = 24): string {
  const frac = p.batchCount ? Math.min(1, p.batch / p.batchCount) : 0;
  const filled = Math.round(frac * width);
  const bar = p.batchCount ? `[${'='.repeat(filled)}${filled < width ? '>' : ''}${' '.repeat(Math.max(0, width - filled - 1))}]` : '';
  const rate = p.seconds > 0 ? p.samples / p.seconds : 0;
  const left = p.batchCount && p.batch ? ((p.batchCount - p.batch) * p.seconds) / p.batch : NaN;
  const metric = p.metric ? ` ${p.metric.name} ${p.metric.value.toFixed(4)}` : '';
  return `epoch ${p.epoch + 1}/${p.epochs} ${bar} ${p.batch}/${p.batchCount ?? '?'} loss ${p.loss.toFixed(4)}${metric} ${rate.toFixed(1)} img/s ${p.batch === p.batchCount ? `${fmtTime(p.seconds)}` : `eta ${fmtTime(left)}`}`;
}

export class ProgressBar {
  private last = '';
  constructor(private out: NodeJS.WriteStream = process.stderr) {}
  update(p: ProgressState): void {
    this.last = progressLine(p);
    if (this.out.isTTY) this.out.write(`\r${this.last}\x1b[K`);
  }
  done(suffix = ''): void {
    if (this.out.isTTY) this.out.write(`\r${this.last}${suffix}\x1b[K\n`);
    else this.out.write(`${this.last}${suffix}\n`);
    this.last = '';
  }
}
