// Where `dawnet bench` (and bench:browser) saves its record: without --out, the adapter's default
// record bench/results/<adapter>.json while it does not exist; when it does (they are committed and
// the READMEs are generated from them), a new file beside it, never over it: a casual `npm run bench`
// used to replace the published record. An explicit --out, the default's path included, is taken
// as given.

import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { keptRecordNote, readRecord, recordTarget } from '../../bench/record-file.js';
import type { BenchRecord } from '../../bench/report.js';

const root = mkdtempSync(join(tmpdir(), 'dawnet-record-target-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let dir = '';
let n = 0;
beforeEach(() => {
  dir = join(root, `case-${n++}`, 'bench', 'results');
});

const record = (date: string): BenchRecord => ({
  date, adapter: 'test', adapterReport: {}, command: 'dawnet bench', scale: 8,
  timing: { reps: 5, warmup: 1 }, tfjs: null, syncOverheadMs: { dawnet: 0, tfjs: null }, peak: null, rows: [], e2e: [],
});
const NOW = new Date('2026-11-27T14:05:09.123Z');
const PUBLISHED = `${JSON.stringify(record('2026-01-01T00:00:00.000Z'), null, 2)}\n`;

/** The default record as the repository has it: committed, the READMEs generated from it. */
function publish(def: string): void {
  mkdirSync(dirname(def), { recursive: true });
  writeFileSync(def, PUBLISHED);
}

describe('bench record target', () => {
  it('writes the default record where it does not exist yet, as before', () => {
    const def = join(dir, 'lavapipe.json');
    const t = recordTarget(null, def, NOW);
    expect(t.path).toBe(def);
    expect(t.kept).toBeNull();
    expect(t.saved).toBe(false);
    t.save(record('2026-11-27T14:05:09.123Z'));
    expect(t.saved).toBe(true);
    expect(readRecord(def).date).toBe('2026-11-27T14:05:09.123Z');
    expect(readdirSync(dir)).toEqual(['lavapipe.json']);
    expect(keptRecordNote(t, 'start')).toBe('');
  });

  it('leaves an existing default record byte for byte and saves beside it, every save to the same new file', () => {
    const def = join(dir, 'lavapipe.json');
    publish(def);
    const t = recordTarget(null, def, NOW);
    const fresh = join(dir, 'lavapipe.2026-11-27T14-05-09Z.json');
    expect(t.path).toBe(fresh);
    expect(t.kept).toBe(def);
    // Nothing is claimed before the first save: a run stopped before it leaves no empty file.
    expect(existsSync(fresh)).toBe(false);
    t.save(record('first save'));
    t.save(record('second save'));
    expect(t.path).toBe(fresh);
    expect(readRecord(fresh).date).toBe('second save');
    expect(readFileSync(def, 'utf8')).toBe(PUBLISHED);
    expect(readdirSync(dir).sort()).toEqual(['lavapipe.2026-11-27T14-05-09Z.json', 'lavapipe.json']);
  });

  it('takes the next free name where another file or another run already has the time', () => {
    const def = join(dir, 'lavapipe.json');
    publish(def);
    writeFileSync(join(dir, 'lavapipe.2026-11-27T14-05-09Z.json'), 'someone else\n');
    const a = recordTarget(null, def, NOW);
    expect(a.path).toBe(join(dir, 'lavapipe.2026-11-27T14-05-09Z-2.json'));
    // Two runs started in the same second: both see -2 free; the first save claims it, the other moves on.
    const b = recordTarget(null, def, NOW);
    expect(b.path).toBe(a.path);
    a.save(record('run a'));
    b.save(record('run b'));
    expect(b.path).toBe(join(dir, 'lavapipe.2026-11-27T14-05-09Z-3.json'));
    expect(readRecord(a.path).date).toBe('run a');
    expect(readRecord(b.path).date).toBe('run b');
    expect(readFileSync(join(dir, 'lavapipe.2026-11-27T14-05-09Z.json'), 'utf8')).toBe('someone else\n');
    expect(readFileSync(def, 'utf8')).toBe(PUBLISHED);
  });

  it('takes an explicit --out as given, the default record itself included', () => {
    const def = join(dir, 'lavapipe.json');
    publish(def);
    const replace = recordTarget(def, def, NOW);
    expect(replace.path).toBe(def);
    expect(replace.kept).toBeNull();
    replace.save(record('replaced on purpose'));
    expect(readRecord(def).date).toBe('replaced on purpose');
    const other = join(dir, 'elsewhere', 'mine.json');
    const t = recordTarget(other, def, NOW);
    expect(t.path).toBe(other);
    t.save(record('mine'));
    expect(readRecord(other).date).toBe('mine');
    expect(readdirSync(dir).sort()).toEqual(['elsewhere', 'lavapipe.json']);
  });

  it('says where the record goes, how to compare it with the default and how to make it the default', () => {
    const def = join(dir, 'lavapipe.json');
    publish(def);
    const t = recordTarget(null, def, NOW);
    const start = keptRecordNote(t, 'start');
    expect(start).toContain(t.path);
    expect(start).toContain(`--out ${def} replaces it`);
    expect(start).toContain(`dawnet bench --compare ${def} ${t.path}`);
    t.save(record('run'));
    const end = keptRecordNote(t, 'end');
    expect(end).toContain(`dawnet bench --compare ${def} ${t.path}`);
    expect(end).toContain(`mv ${t.path} ${def} (or run again with --out ${def})`);
  });
});
