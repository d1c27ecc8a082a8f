#!/usr/bin/env bash
# Makes a fresh Debian 12 + Node 20 machine able to run dawnet:
#  1. npm dependencies, when node_modules is missing or older than the lock file;
#  2. with --browser: Debian's Chromium, for the report and browser tests and the browser bench;
#     with --tests (the test suite): that and Debian's python3-nibabel, which reads back the NIfTI
#     volumes `predict --nifti` writes as neuroimaging's Python tools read them;
#  3. a WebGPU adapter: when Dawn finds none, Mesa's lavapipe (Mesa 25 from bookworm-backports,
#     because bookworm's own Mesa 22.3 lacks features Dawn requires).
# System packages are installed when running as root; otherwise the exact command is printed.
set -euo pipefail
cd "$(dirname "$0")/.."
WANT_BROWSER=0
WANT_TEST_TOOLS=0
case "${1:-}" in
  --browser) WANT_BROWSER=1 ;;
  --tests) WANT_BROWSER=1; WANT_TEST_TOOLS=1 ;;
esac

# The registry and Debian's mirrors sometimes stall: CI once lost a whole run to one stalled
# connection to registry.npmjs.org (npm's EIDLETIMEOUT after its default 5-minute idle limit).
# So each download step is tried several times, a stalled npm request is dropped after two
# idle minutes instead of five, and apt retries each file itself. DAWNET_SETUP_ATTEMPTS and
# DAWNET_SETUP_RETRY_WAIT (seconds before the first retry, doubled each time) exist for tests.
ATTEMPTS=${DAWNET_SETUP_ATTEMPTS:-4}
FIRST_WAIT=${DAWNET_SETUP_RETRY_WAIT:-15}
with_retries() {
  local what=$1; shift
  local attempt=1 wait=$FIRST_WAIT
  until "$@"; do
    if [ "$attempt" -ge "$ATTEMPTS" ]; then
      echo "[dawnet setup] $what failed $attempt times; giving up" >&2
      return 1
    fi
    echo "[dawnet setup] $what failed (attempt $attempt of $ATTEMPTS); retrying in ${wait} s" >&2
    sleep "$wait"
    attempt=$((attempt + 1)); wait=$((wait * 2))
  done
}
APT_OPTS=(-o Acquire::Retries=3)
apt_update_quietly() { apt-get "${APT_OPTS[@]}" update >&2; }
APT_UPDATED=0
apt_update() {
  if [ "$APT_UPDATED" = 0 ]; then with_retries "apt-get update" apt_update_quietly; APT_UPDATED=1; fi
}
npm_install() {
  # npm ci starts by removing node_modules, so a retry never builds on a half-finished tree.
  local verb=install
  [ -f package-lock.json ] && verb=ci
  npm "$verb" --no-audit --no-fund --fetch-timeout=120000 --fetch-retries=4 >&2
}

if [ ! -d node_modules/webgpu ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "[dawnet setup] installing npm dependencies" >&2
  with_retries "installing npm dependencies" npm_install
fi

# A Debian package that some tests use: installed as root, else the command is printed; without it
# those tests are skipped with a message. $1 the package, $2 what needs it, then a command that
# succeeds once it is there.
test_package() {
  local pkg=$1 why=$2; shift 2
  "$@" >/dev/null 2>&1 && return 0
  if [ "$(id -u)" = "0" ] && grep -qs '^ID=debian' /etc/os-release; then
    echo "[dawnet setup] installing Debian's $pkg for $why" >&2
    export DEBIAN_FRONTEND=noninteractive
    if ! { apt_update && with_retries "apt-get install $pkg" apt-get "${APT_OPTS[@]}" install -y "$pkg" >&2; }; then
      echo "[dawnet setup] $pkg could not be installed; $why will be skipped" >&2
    fi
  else
    echo "[dawnet setup] no $pkg: $why will be skipped. Install it with: sudo apt-get install -y $pkg" >&2
  fi
}

if [ "$WANT_BROWSER" = 1 ]; then
  test_package chromium "the browser tests" test -x /usr/bin/chromium
fi
if [ "$WANT_TEST_TOOLS" = 1 ]; then
  test_package python3-nibabel "the NIfTI check in nibabel" /usr/bin/python3 -c 'import nibabel'
fi

if node scripts/probe-adapter.mjs >/dev/null 2>&1; then
  exit 0
fi

BACKPORTS_LIST=/etc/apt/sources.list.d/dawnet-bookworm-backports.list
INSTALL_CMD="echo 'deb http://deb.debian.org/debian bookworm-backports main' > $BACKPORTS_LIST && apt-get -o Acquire::Retries=3 update && apt-get -o Acquire::Retries=3 install -y -t bookworm-backports mesa-vulkan-drivers libvulkan1"
if [ "$(id -u)" != "0" ]; then
  echo "[dawnet setup] no WebGPU adapter found. Install Mesa's lavapipe as root with:" >&2
  echo "  sudo sh -c \"$INSTALL_CMD\"" >&2
  exit 1
fi
if ! grep -qs '^ID=debian' /etc/os-release; then
  echo "[dawnet setup] no WebGPU adapter found and this is not Debian; install a Vulkan driver (Mesa >= 24 lavapipe works)" >&2
  exit 1
fi
echo "[dawnet setup] no WebGPU adapter found; installing Mesa lavapipe from bookworm-backports" >&2
export DEBIAN_FRONTEND=noninteractive
with_retries "installing lavapipe" sh -c "$INSTALL_CMD >&2"
if ! node scripts/probe-adapter.mjs >&2; then
  echo "[dawnet setup] still no WebGPU adapter after installing lavapipe" >&2
  exit 1
fi
