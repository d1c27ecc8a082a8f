#!/usr/bin/env bash
# scripts/gpu-run.sh for a machine that sends back only a few files: runs it into a scratch folder
# under a time limit, then leaves in OUTDIR the files a reader looks at first (bench.json,
# bench.md, tuning.txt, env.txt, checks.log, bars.json, bars.md, fused-compare.txt, tile-compare.txt) and every log and record as
# results.tgz.
#
#   scripts/gpu-run-packed.sh OUTDIR [LIMIT_S]     (LIMIT_S: gpu-run.sh's limit, default 530)
#
# gpu-run.sh's settings (DAWNET_BENCH_BUDGET, DAWNET_TILE, ...) pass through. The exit status is
# gpu-run.sh's (124 when the limit stopped it).
set -uo pipefail
OUTDIR=${1:?usage: scripts/gpu-run-packed.sh OUTDIR [LIMIT_S]}
LIMIT_S=${2:-530}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/dawnet-gpu.XXXXXX")
RESULTS=$SCRATCH/dawnet-res
mkdir -p "$OUTDIR" "$RESULTS"
# gpu-run.sh starts a tile run only if it can end by DAWNET_TOTAL_S: inside this limit.
export DAWNET_TOTAL_S=${DAWNET_TOTAL_S:-$((LIMIT_S - 30))}
timeout -k 5 "$LIMIT_S" "$ROOT/scripts/gpu-run.sh" "$RESULTS"
rc=$?
for f in bench.json bench.md tuning.txt env.txt checks.log bars.json bars.md fused-compare.txt tile-compare.txt; do
  [[ -f "$RESULTS/$f" ]] && cp "$RESULTS/$f" "$OUTDIR/"
done
if command -v tar >/dev/null; then
  tar -czf "$OUTDIR/results.tgz" -C "$SCRATCH" dawnet-res
else
  python3 -c 'import sys, tarfile; t = tarfile.open(sys.argv[1], "w:gz"); t.add(sys.argv[2], "dawnet-res"); t.close()' "$OUTDIR/results.tgz" "$RESULTS"
fi
echo "gpu-run-packed: status $rc; $(ls "$OUTDIR" | tr '\n' ' ')in $OUTDIR"
exit "$rc"
