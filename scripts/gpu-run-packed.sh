#!/usr/bin/env bash
# scripts/gpu-run.sh for a machine that sends back only a few files: runs it into a scratch folder
# under a time limit, then leaves in OUTDIR at most 8 files (what the device tool sends back):
# status.txt, the six that exist first of probe.log, bars.md, bench.md, tuning.txt, checks.log,
# env.txt, bench.json, bars.json, probe.json, fused-compare.txt and tile-compare.txt, and every log and record as
# results.tgz (gpu-run.sh's own output in gpu-run.log).
#
#   scripts/gpu-run-packed.sh OUTDIR [LIMIT_S]     (LIMIT_S: gpu-run.sh's limit, default 530)
#
# gpu-run.sh gets a deadline inside the limit (DAWNET_TOTAL_S: LIMIT_S less 30 s, or less a
# quarter of it under 2 minutes) and cuts its steps to it, so the limit itself is a backstop: when
# it strikes, every process gpu-run.sh started is stopped (its limits are `timeout --foreground`,
# in this limit's process group), and bench.md, tuning.txt and bars.md are made here from the
# records as they stand (15 s each at most). status.txt says how the run ended, what was cut, and
# gpu-run.sh's last lines (a missing bundle, say).
# gpu-run.sh's settings (DAWNET_BENCH_BUDGET, DAWNET_TILE, ...) pass through. The exit status is
# gpu-run.sh's (124 when the limit stopped it).
set -uo pipefail
OUTDIR=${1:?usage: scripts/gpu-run-packed.sh OUTDIR [LIMIT_S]}
LIMIT_S=${2:-530}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/dawnet-gpu.XXXXXX")
RESULTS=$SCRATCH/dawnet-res
mkdir -p "$OUTDIR" "$RESULTS"
MARGIN=$((LIMIT_S >= 120 ? 30 : LIMIT_S / 4))
export DAWNET_TOTAL_S=${DAWNET_TOTAL_S:-$((LIMIT_S - MARGIN))}
timeout -k 5 "$LIMIT_S" "$ROOT/scripts/gpu-run.sh" "$RESULTS" 2>&1 | tee "$RESULTS/gpu-run.log"
rc=${PIPESTATUS[0]}

STATUS=$OUTDIR/status.txt
{
  if [[ $rc -eq 124 || $rc -eq 137 ]] && ! grep -q '^== gpu-run: \(done\|stopped\)' "$RESULTS/gpu-run.log"; then
    echo "gpu-run-packed: the limit of ${LIMIT_S} s stopped gpu-run.sh (status $rc; its deadline was DAWNET_TOTAL_S=$DAWNET_TOTAL_S)"
    echo "the step it was in: $(grep '^== dawnet ' "$RESULTS/gpu-run.log" | grep -v ' failed with status ' | tail -n 1)"
  else
    echo "gpu-run-packed: gpu-run.sh ended with status $rc within the limit of ${LIMIT_S} s"
  fi
} >"$STATUS"

# The renderings gpu-run.sh makes after a step, missing where the limit cut it: made from the
# record as it stands (written after each case, so whole).
NODE=${DAWNET_GPU_WORK:-${TMPDIR:-/tmp}/dawnet-gpu-run}/node
CLI=${DAWNET_BUNDLE:-$ROOT/.gpu-bundle}/dist/cli.js
render() {
  local out=$RESULTS/$1 record=$RESULTS/$2
  shift 2
  [[ -f "$record" && ! -s "$out" ]] || return 0
  if [[ -x "$NODE" && -f "$CLI" ]] && (cd "$ROOT" && timeout -k 5 15 "$NODE" "$CLI" bench "$@" "$record") >"$out" 2>&1; then
    echo "$(basename "$out") made here from $(basename "$record") as the cut left it" >>"$STATUS"
  else
    echo "$(basename "$out") could not be made from $(basename "$record") (status $?)" >>"$STATUS"
  fi
}
render bench.md bench.json --markdown
render tuning.txt bench.json --tuning
render bars.md bars.json --markdown

{
  echo "--- the notes in env.txt about what was cut or skipped:"
  grep -E 'limited to|no time left|budget is' "$RESULTS/env.txt" 2>/dev/null || echo "(none)"
  echo "--- gpu-run.sh's last lines:"
  tail -n 30 "$RESULTS/gpu-run.log"
} >>"$STATUS"
# The device tool sends back at most 8 files: status.txt, results.tgz (every file), and the first
# six of these that exist, the ones a reader looks at first.
copied=0
for f in probe.log bars.md bench.md tuning.txt checks.log env.txt bench.json bars.json probe.json fused-compare.txt tile-compare.txt; do
  [[ -f "$RESULTS/$f" ]] || continue
  if ((copied < 6)); then
    cp "$RESULTS/$f" "$OUTDIR/"
    copied=$((copied + 1))
  else
    echo "$f is in results.tgz only (8 files at most come back)" >>"$STATUS"
  fi
done
if command -v tar >/dev/null; then
  tar -czf "$OUTDIR/results.tgz" -C "$SCRATCH" dawnet-res
else
  python3 -c 'import sys, tarfile; t = tarfile.open(sys.argv[1], "w:gz"); t.add(sys.argv[2], "dawnet-res"); t.close()' "$OUTDIR/results.tgz" "$RESULTS"
fi
echo "gpu-run-packed: status $rc; $(ls "$OUTDIR" | tr '\n' ' ')in $OUTDIR"
exit "$rc"
