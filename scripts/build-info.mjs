// What a bundle says it was built from: the commit, with "+changes" when tracked files differ from
// it, or 'unknown' outside a git checkout. The bundles get it as __DAWNET_BUILD__ (src/util/
// build-info.ts), so a benchmark record made on a machine without git (the GPU machines run a
// bundle built here) still names the code it measured.
import { execFileSync } from 'node:child_process';

const git = (cwd, args) => execFileSync('git', args, { cwd, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();

export function buildCommit(cwd = process.cwd()) {
  try {
    const sha = git(cwd, ['rev-parse', '--short', 'HEAD']);
    return git(cwd, ['status', '--porcelain', '--untracked-files=no']) ? `${sha}+changes` : sha;
  } catch {
    return 'unknown';
  }
}

/** esbuild's `define` for it. */
export const buildDefine = (cwd) => ({ __DAWNET_BUILD__: JSON.stringify(buildCommit(cwd)) });
