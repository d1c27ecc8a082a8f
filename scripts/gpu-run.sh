#!/usr/bin/env bash
# Runs dawnet on a Linux x86-64 GPU machine that has neither Node nor network, from the folder
# scripts/gpu-bundle.sh made (.gpu-bundle/ beside scripts/, or $DAWNET_BUNDLE):
#
#   scripts/gpu-run.sh OUTDIR
#
# It unpacks Node and Dawn, puts the bundled Vulkan loader (and glvnd's dispatcher, which NVIDIA's
# driver library links against) on LD_LIBRARY_PATH where the machine has none, points the loader
# at NVIDIA's ICD when it is installed outside the standard folders, then runs, each with a time
# limit, writing logs under OUTDIR:
#   env.txt         the machine: GPU, driver, Vulkan files found, what was set
#   info.log        dawnet info (the adapter, its features and limits)
#   smoke.log       dawnet smoke (one kernel against the CPU reference)
#   checks.log      dawnet bench --checks (every op, forward and backward, against the CPU reference)
#   bars.log        the conv cases that missed their H200 bars in run 7 (U-Net l1 and l2 forwards,
#                   VGG conv1_1's; in run 8, 2026-11-27, l1 and conv1_1 still missed and l2 met
#                   its bar at 3.03x), first and alone, with every algorithm and pixel count beside
#                   them and tuned (bars.json, bars.md): what the run is for, back even if the full
#                   bench runs out of budget before reaching them (DAWNET_BARS_FIRST=no skips it)
#   bench.log       dawnet bench, with the full section of bench/README.md (--markdown) at the end
#   bench.json      the bench's record; bench.md that section rendered from it; tuning.txt
#                   what tuning chose per conv and step against the rules (bench --tuning)
#   bench-fused-*.log with DAWNET_FUSED_COMPARE=yes: the U-Net l1-l3 convs again by the fused
#                   Winograd kernel, at 8 and 4 channel vec4s per workgroup (bench-fused-8.json,
#                   bench-fused-4.json); fused-compare.txt compares them
#   bench-tile-*.log  the U-Net convs again, dawnet only, with the tiled family's default tile
#                   (bench-tile-base.json) and each tile of DAWNET_TILE (bench-tile-N.json), while
#                   the run so far leaves time; tile-compare.txt: dawnet bench --compare of each
#                   against the default
# Settings: DAWNET_BENCH_SCALE (default 1), DAWNET_BENCH_REPS (5), DAWNET_BENCH_BUDGET (seconds
# after which the bench starts no new case, 240), DAWNET_BENCH_ARGS (more bench options, e.g.
# --group e2e,conv2d --only unet|vgg-conv1_1, unquoted, for a short second run), DAWNET_CHECKS=no (skip
# the checks: a second run on a build whose checks already passed),
# DAWNET_VULKAN_LOADER=bundled|system (default: bundled only where the machine has none),
# DAWNET_PROBE=NAME (run bench/probes/NAME.ts after the checks: probe.log, probe.json),
# DAWNET_BENCH=no (no bench: a probe's lease),
# DAWNET_TILE (the tiles to compare, space-separated; default empty: skip), DAWNET_TOTAL_S (the
# run's deadline in seconds from its start, default 500; gpu-run-packed.sh sets it inside its limit).
# Each step has a limit of its own (info and smoke 1 minute, the checks 2, the bars 2.5, the bench
# its budget plus 2, a tile run 70 s), cut to the time left before the deadline; a step with under
# 10 s left is skipped (status 124). Where the bench's limit is cut, so is its budget, to leave its
# last case time to end (half the limit, at most 2 minutes). So the steps end by the deadline, and
# the records are rendered (bench.md, tuning.txt, bars.md: 30 s each at most) after it. Every
# limit is `timeout --foreground`, so an outer limit (gpu-run-packed.sh's) stops the whole tree.
# What was cut or skipped is noted in env.txt. The exit status is the first failure's.
set -uo pipefail
OUTDIR=${1:?usage: scripts/gpu-run.sh OUTDIR}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$OUTDIR" && OUTDIR=$(cd "$OUTDIR" && pwd) || { echo "gpu-run: cannot make $OUTDIR" >&2; exit 1; }
ENV_TXT=$OUTDIR/env.txt
: >"$ENV_TXT"
note() { echo "$*" | tee -a "$ENV_TXT"; }
# The reason goes to env.txt too: a machine that sends back only OUTDIR's files must show it.
BUNDLE_DIR=${DAWNET_BUNDLE:-$ROOT/.gpu-bundle}
BUNDLE=$(cd "$BUNDLE_DIR" 2>/dev/null && pwd) || { note "gpu-run: no bundle at $BUNDLE_DIR (scripts/gpu-bundle.sh makes it; DAWNET_BUNDLE names another)"; exit 1; }
SCALE=${DAWNET_BENCH_SCALE:-1}
REPS=${DAWNET_BENCH_REPS:-5}
BUDGET=${DAWNET_BENCH_BUDGET:-240}
TOTAL_S=${DAWNET_TOTAL_S:-500}

unxz_to() {
  if command -v xz >/dev/null; then
    xz -dc "$1" >"$2"
  else
    python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' "$1" "$2"
  fi
}

# Node and Dawn, unpacked once per bundle.
WORK=${DAWNET_GPU_WORK:-${TMPDIR:-/tmp}/dawnet-gpu-run}
mkdir -p "$WORK"
NODE=$WORK/node
if [[ ! -x "$NODE" || "$BUNDLE/node.xz" -nt "$NODE" ]]; then
  unxz_to "$BUNDLE/node.xz" "$NODE.tmp" && chmod +x "$NODE.tmp" && mv "$NODE.tmp" "$NODE" || { note "gpu-run: could not unpack node"; exit 1; }
fi
DAWN=$BUNDLE/node_modules/webgpu/dist/linux-x64/dawn.node
if [[ ! -f "$DAWN" || "$BUNDLE/dawn.node.xz" -nt "$DAWN" ]]; then
  mkdir -p "$(dirname "$DAWN")"
  unxz_to "$BUNDLE/dawn.node.xz" "$DAWN.tmp" && mv "$DAWN.tmp" "$DAWN" || { note "gpu-run: could not unpack dawn.node"; exit 1; }
fi
note "node: $("$NODE" -v) from $BUNDLE ($(tr '\n' ';' <"$BUNDLE/VERSIONS"))"

# The Vulkan loader and glvnd: the machine's own where it has them.
# (ldconfig's list is read first: grep -q would stop early and fail the pipe under pipefail.)
# ldconfig lives in /sbin, which a PATH set for a plain user lacks: without it every library would
# look missing and the packages below would be unpacked over the machine's own.
PATH=$PATH:/usr/sbin:/sbin
LIBS=$(ldconfig -p 2>/dev/null || true)
has_lib() { grep -q "^[[:space:]]*$1 " <<<"$LIBS"; }
# As root on a machine without them, the bundle's Debian packages go into / (what the device
# machines' notes prescribe: NVIDIA's Vulkan driver found no instance with the bare loader).
if [[ -d "$BUNDLE/debs" && "$(id -u)" == 0 && "${DAWNET_GL_DEBS:-auto}" != no ]] && { ! has_lib libvulkan.so.1 || ! has_lib libEGL.so.1; }; then
  if command -v dpkg >/dev/null; then
    for f in "$BUNDLE"/debs/*.deb; do dpkg -x "$f" / || note "gpu-run: dpkg -x $f failed"; done
    ldconfig
    LIBS=$(ldconfig -p 2>/dev/null || true)
    note "unpacked into /: $(cd "$BUNDLE/debs" && ls *.deb | tr '\n' ' ')"
  else
    note "gpu-run: no dpkg here, the bundle's Debian packages stay packed"
  fi
fi
egl=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
if [[ -z "${__EGL_VENDOR_LIBRARY_FILENAMES:-}" && -f "$egl" ]]; then
  export __EGL_VENDOR_LIBRARY_FILENAMES=$egl
  note "__EGL_VENDOR_LIBRARY_FILENAMES=$egl"
fi
mode=${DAWNET_VULKAN_LOADER:-auto}
for pair in vulkan:libvulkan.so.1 glvnd:libGLdispatch.so.0; do
  dir=${pair%%:*} lib=${pair#*:}
  if [[ "$mode" == bundled ]] || { [[ "$mode" == auto ]] && ! has_lib "$lib"; }; then
    export LD_LIBRARY_PATH=$BUNDLE/lib/$dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
    note "using the bundled $lib"
  else
    note "using the machine's $lib"
  fi
done
for d in /usr/local/nvidia/lib64 /usr/local/nvidia/lib; do
  [[ -d "$d" ]] && export LD_LIBRARY_PATH=${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}$d
done

# NVIDIA's ICD: the loader looks in /usr/share/vulkan/icd.d and /etc/vulkan/icd.d; the driver may sit elsewhere.
if [[ -z "${VK_DRIVER_FILES:-}${VK_ICD_FILENAMES:-}" ]] && ! ls /usr/share/vulkan/icd.d/nvidia*.json /etc/vulkan/icd.d/nvidia*.json >/dev/null 2>&1; then
  icd=$(ls /usr/local/nvidia/share/vulkan/icd.d/nvidia*.json /usr/local/nvidia/etc/vulkan/icd.d/nvidia*.json 2>/dev/null | head -n1 || true)
  if [[ -n "$icd" ]]; then
    export VK_DRIVER_FILES=$icd VK_ICD_FILENAMES=$icd
    note "VK_DRIVER_FILES=$icd"
  fi
fi
note "LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}"
{
  command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
  ls /usr/share/vulkan/icd.d /etc/vulkan/icd.d /usr/local/nvidia/share/vulkan/icd.d 2>/dev/null
  uname -a
} >>"$ENV_TXT" 2>&1

status=0
# The first failure's status is the run's.
fail() { [[ $status -ne 0 ]] || status=$1; }
# cap SECONDS: SECONDS, or the time left before the deadline where that is less.
cap() { local left=$((TOTAL_S - SECONDS)); echo $((left < $1 ? left : $1)); }
# budget_within LIMIT BUDGET: a bench's --budget for a step cut to LIMIT seconds: BUDGET, or less,
# so that its last case has half the limit (at most 2 minutes) to end in.
budget_within() {
  local b=$(($1 - 120))
  ((b >= $1 / 2)) || b=$(($1 / 2))
  ((b <= $2)) || b=$2
  echo $((b < 1 ? 1 : b))
}
# step NAME SECONDS ARGS...: runs the CLI with a time limit (SECONDS, cut to the deadline), its
# output to OUTDIR/NAME.log and here.
step() {
  local name=$1 seconds=$2
  shift 2
  step_js "$name" "$seconds" "$BUNDLE/dist/cli.js" "$@"
}
# step_js NAME SECONDS SCRIPT ARGS...: step's run of any of the bundle's scripts (a probe's).
step_js() {
  local name=$1 seconds=$2 script=$3 limit
  shift 3
  limit=$(cap "$seconds")
  if ((limit < 10)); then
    note "gpu-run: no time left for $name (${SECONDS} s of DAWNET_TOTAL_S=$TOTAL_S): skipped"
    fail 124
    return
  fi
  ((limit == seconds)) || note "gpu-run: $name limited to ${limit} s instead of ${seconds} s (${SECONDS} s of DAWNET_TOTAL_S=$TOTAL_S)"
  local what="dawnet $*"
  [[ "$script" == */dist/cli.js ]] || what="dawnet probe $(basename "$script") $*"
  echo "== $what (limit ${limit} s)"
  (cd "$ROOT" && timeout --foreground -k 10 "$limit" "$NODE" "$script" "$@") 2>&1 | tee "$OUTDIR/$name.log"
  local rc=${PIPESTATUS[0]}
  [[ $rc -eq 0 ]] || echo "== $what failed with status $rc" | tee -a "$OUTDIR/$name.log"
  [[ $rc -eq 0 ]] || fail "$rc"
}
# render OUT ARGS...: a record's rendering (bench --markdown FILE, --tuning FILE, --compare A B) into OUT.
render() {
  local out=$1
  shift
  (cd "$ROOT" && timeout --foreground -k 5 30 "$NODE" "$BUNDLE/dist/cli.js" "$@") >"$out" 2>&1
}

step info 60 info
# No adapter: first a few other settings that NVIDIA's driver has been seen to need; the first
# that gives one is kept for the rest of the run.
if [[ $status -ne 0 ]]; then
  bundled_free=$(tr ':' '\n' <<<"${LD_LIBRARY_PATH:-}" | grep -v "^$BUNDLE/" | paste -sd: -)
  for alt in "__GLX_VENDOR_LIBRARY_NAME=nvidia" "LD_LIBRARY_PATH=$bundled_free" "__GLX_VENDOR_LIBRARY_NAME=nvidia LD_LIBRARY_PATH=$bundled_free"; do
    echo "== dawnet info with $alt"
    # shellcheck disable=SC2086
    if (cd "$ROOT" && env $alt timeout --foreground -k 5 30 "$NODE" "$BUNDLE/dist/cli.js" info) >"$OUTDIR/info-alt.log" 2>&1; then
      # shellcheck disable=SC2163,SC2086
      export $alt
      note "gpu-run: dawnet info works with $alt; the run goes on with it"
      cat "$OUTDIR/info-alt.log" >>"$OUTDIR/info.log"
      status=0
      break
    fi
    tail -n 3 "$OUTDIR/info-alt.log"
  done
fi
# Still none: the rest would fail the same way, so spend the lease on finding out why instead.
if [[ $status -ne 0 ]]; then
  {
    echo "== gpu-run: dawnet info failed; Vulkan diagnostics"
    ls -la /dev/nvidia* /dev/dri 2>&1
    env | grep -E '^(NVIDIA|VK_|__GLX|__EGL|LD_LIBRARY)' | sort
    for f in /usr/share/vulkan/icd.d/*.json /etc/vulkan/icd.d/*.json /usr/local/nvidia/share/vulkan/icd.d/*.json /usr/local/nvidia/etc/vulkan/icd.d/*.json; do
      [[ -f "$f" ]] || continue
      echo "-- $f"; cat "$f"
      lib=$(grep -o '"library_path"[^,}]*' "$f" | sed 's/.*: *"\(.*\)"/\1/')
      [[ -n "$lib" ]] && { echo "-- ldd $lib"; ldd "$(ldconfig -p | awk -v n="$lib" '$1 == n { print $NF; exit }' || echo "$lib")" 2>&1 || ldd "$lib" 2>&1; }
    done
    ldconfig -p | grep -i -E 'vulkan|nvidia|GLdispatch' | head -n 20
    echo "-- dawnet info with VK_LOADER_DEBUG=error,warn,driver"
    (cd "$ROOT" && VK_LOADER_DEBUG=error,warn,driver timeout --foreground -k 5 30 "$NODE" "$BUNDLE/dist/cli.js" info) 2>&1 | tail -n 60
  } 2>&1 | tee "$OUTDIR/vulkan-diagnostics.log"
  echo "== gpu-run: stopped after info (status $status); logs in $OUTDIR"
  exit "$status"
fi
step smoke 60 smoke
# DAWNET_CHECKS=no skips the checks: for a second, shorter run on the same build (a rule changed
# after the first run's timings), whose minutes the checks would take from the bench.
if [[ "${DAWNET_CHECKS:-yes}" != no ]]; then
  step checks 120 bench --checks
else
  note "gpu-run: checks skipped (DAWNET_CHECKS=no)"
fi
# DAWNET_PROBE=NAME runs dist/probes/NAME.js (bench/probes/NAME.ts: kernel knobs the bench does
# not time beside a conv), its output to probe.log and its record to probe.json, limit 3 minutes.
if [[ -n "${DAWNET_PROBE:-}" ]]; then
  step_js probe 180 "$BUNDLE/dist/probes/${DAWNET_PROBE}.js" "$OUTDIR/probe.json"
fi
if [[ "${DAWNET_BARS_FIRST:-yes}" != no ]]; then
  step bars 150 bench --scale "$SCALE" --reps "$REPS" --budget "$(budget_within "$(cap 150)" 60)" --no-e2e --group conv2d --only 'forward/(unet-l[12]|vgg-conv1_1)$' --out "$OUTDIR/bars.json" --markdown
  [[ -f "$OUTDIR/bars.json" ]] && render "$OUTDIR/bars.md" bench --markdown "$OUTDIR/bars.json"
fi
if [[ "${DAWNET_BENCH:-yes}" != no ]]; then
  budget=$(budget_within "$(cap $((BUDGET + 120)))" "$BUDGET")
  ((budget == BUDGET)) || note "gpu-run: $((TOTAL_S - SECONDS)) s left for the bench: its budget is ${budget} s instead of ${BUDGET} s"
  # shellcheck disable=SC2086
  step bench $((BUDGET + 120)) bench --scale "$SCALE" --reps "$REPS" --budget "$budget" --out "$OUTDIR/bench.json" --markdown ${DAWNET_BENCH_ARGS:-}
else
  note "gpu-run: the bench skipped (DAWNET_BENCH=no)"
fi
if [[ -f "$OUTDIR/bench.json" ]]; then
  render "$OUTDIR/bench.md" bench --markdown "$OUTDIR/bench.json"
  render "$OUTDIR/tuning.txt" bench --tuning "$OUTDIR/bench.json"
fi
# The fused Winograd kernel (not picked by default yet; the bench above timed it beside each conv)
# at its default 8 channel vec4s per workgroup and at 4, on the U-Net l1-l3 forwards and backward
# inputs, dawnet only; fused-compare.txt compares the two case by case. Off unless
# DAWNET_FUSED_COMPARE=yes: the bench's tuned sides now time both numbers on every conv.
FUSED_ARGS=(bench --scale "$SCALE" --reps "$REPS" --group conv2d --only 'conv2d\.(forward|backwardInput)/unet-l[123]' --no-e2e --no-tfjs --no-peak --no-beside --conv-algorithm winograd-fused --budget 30)
if [[ "${DAWNET_FUSED_COMPARE:-no}" == yes ]] && (( SECONDS + 100 <= TOTAL_S )); then
  step bench-fused-8 50 "${FUSED_ARGS[@]}" --out "$OUTDIR/bench-fused-8.json"
  step bench-fused-4 50 "${FUSED_ARGS[@]}" --fused-groups 4 --out "$OUTDIR/bench-fused-4.json"
  if [[ -f "$OUTDIR/bench-fused-8.json" && -f "$OUTDIR/bench-fused-4.json" ]]; then
    render "$OUTDIR/fused-compare.txt" bench --compare "$OUTDIR/bench-fused-8.json" "$OUTDIR/bench-fused-4.json"
  fi
elif [[ "${DAWNET_FUSED_COMPARE:-no}" == yes ]]; then
  note "gpu-run: no fused-groups comparison (${SECONDS} s so far)"
fi
# The tiled family's other tiles, on the U-Net convs only, while the run so far leaves time: the
# default tile once, then each tile in DAWNET_TILE run alike (dawnet only) and compared with it
# case by case (without the probe and the other algorithms beside each conv: the main run has
# them). Each run stops starting cases after 40 s and is killed at 70 s.
# Default: none. The main bench now times every conv as tuneConv tunes it, every tile of
# TUNING_TILES (these four included) for each algorithm, and names the tile it took in the row
# ('tuned: ALGORITHM TILE'); its time goes to the bench's budget instead.
TILES=${DAWNET_TILE-}
TILE_ARGS=(bench --scale "$SCALE" --reps "$REPS" --group conv2d --only unet --no-e2e --no-tfjs --no-peak --no-beside --budget 40)
if [[ -n "$TILES" ]] && (( SECONDS + 140 <= TOTAL_S )); then
  step bench-tile-base 70 "${TILE_ARGS[@]}" --out "$OUTDIR/bench-tile-base.json"
  : >"$OUTDIR/tile-compare.txt"
  i=0
  for tile in $TILES; do
    i=$((i + 1))
    if (( SECONDS + 70 > TOTAL_S )); then
      note "gpu-run: no time left for tile $tile (${SECONDS} s so far)"
      continue
    fi
    step "bench-tile-$i" 70 "${TILE_ARGS[@]}" --conv-tile "$tile" --out "$OUTDIR/bench-tile-$i.json"
    if [[ -f "$OUTDIR/bench-tile-base.json" && -f "$OUTDIR/bench-tile-$i.json" ]]; then
      {
        echo "== tile $tile against the default tile"
        (cd "$ROOT" && timeout --foreground -k 5 30 "$NODE" "$BUNDLE/dist/cli.js" bench --compare "$OUTDIR/bench-tile-base.json" "$OUTDIR/bench-tile-$i.json") 2>&1
        echo
      } >>"$OUTDIR/tile-compare.txt"
    fi
  done
elif [[ -n "$TILES" ]]; then
  note "gpu-run: no time left for the tile comparison (${SECONDS} s so far)"
fi
echo "== gpu-run: done (status $status); logs in $OUTDIR"
exit "$status"
