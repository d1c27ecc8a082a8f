// The live loss curve: Chart.js (bundled from node_modules by esbuild), only the parts a line chart
// on two linear axes needs. Points are appended as steps finish; animation is off so that a redraw
// per step stays cheap.

import { CategoryScale, Chart, Legend, LinearScale, LineController, LineElement, PointElement, Tooltip } from 'chart.js';

Chart.register(LineController, LineElement, PointElement, LinearScale, CategoryScale, Legend, Tooltip);

export class LossChart {
  private chart: Chart<'line', { x: number; y: number }[]>;

  constructor(canvas: HTMLCanvasElement) {
    this.chart = new Chart(canvas, {
      type: 'line',
      data: {
        datasets: [
          { label: 'loss (BCE + Dice) per step', data: [], borderColor: '#c2410c', backgroundColor: '#c2410c', borderWidth: 1.5, pointRadius: 0 },
          { label: 'mean of the last 10 steps', data: [], borderColor: '#1d4ed8', backgroundColor: '#1d4ed8', borderWidth: 2, pointRadius: 0 },
        ],
      },
      options: {
        animation: false,
        maintainAspectRatio: false,
        parsing: false,
        scales: {
          x: { type: 'linear', title: { display: true, text: 'step' }, min: 1 },
          y: { type: 'linear', title: { display: true, text: 'loss' } },
        },
        plugins: { legend: { position: 'bottom' } },
      },
    });
  }

  reset(steps: number): void {
    for (const d of this.chart.data.datasets) d.data = [];
    this.chart.options.scales!.x!.max = steps;
    this.chart.update();
  }

  push(step: number, loss: number, smoothed: number): void {
    const [raw, mean] = this.chart.data.datasets;
    raw!.data.push({ x: step, y: loss });
    mean!.data.push({ x: step, y: smoothed });
    this.chart.update();
  }
}
