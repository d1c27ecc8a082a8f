// Whether Debian's python3 with Pillow and numpy is here, for the tests that check TIFFs against
// what Pillow writes and reads (skipped, with their names shown, where it is not).
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

export const PYTHON = '/usr/bin/python3';

export const hasPillow: boolean =
  existsSync(PYTHON) &&
  (() => {
    try {
      execFileSync(PYTHON, ['-c', 'import PIL, numpy'], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  })();
