// The run report's per-volume table marks a volume that misses a slice number (a slice the data
// scan skipped): eval leaves its surface distances out, and the table says why its cells are empty.
import { describe, expect, it } from 'vitest';
import { renderReport, type ReportData } from '../../src/report/html.js';

const base: ReportData = { title: 'run', task: 'segment', config: {}, adapter: 'test', history: [], chartJsSource: '' };

describe('report: incomplete volumes', () => {
  it('marks the incomplete volume in its row and explains it under the table, only when there is one', async () => {
    const volumeScores = [
      { volume: 'TCGA_A', dice: 0.8, hd95: 2.5, assd: 0.75 },
      { volume: 'TCGA_B', dice: 0.7, hd95: null, assd: null, incomplete: true },
    ];
    const html = await renderReport({ ...base, volumeScores });
    const table = /<table class="counts" data-testid="volume-table">([\s\S]*?)<\/table>/.exec(html)![1];
    const names = [...table.matchAll(/<tr><th scope="row">(.*?)<\/th>/g)].map((m) => m[1]);
    expect(names).toEqual(['TCGA_A', 'TCGA_B (incomplete)']);
    expect(html).toContain('data-testid="incomplete-volumes"');
    const complete = await renderReport({ ...base, volumeScores: volumeScores.slice(0, 1) });
    expect(complete).toContain('data-testid="volume-table"');
    expect(complete).not.toContain('data-testid="incomplete-volumes"');
  });
});
