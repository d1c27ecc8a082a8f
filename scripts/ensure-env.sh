#!/usr/bin/env bash
# Makes a fresh Debian 12 + Node 20 machine able to run dawnet:
#  1. npm dependencies, when node_modules is missing or older than the lock file;
#  2. with --browser (the test suite): Debian's Chromium, for the report and browser tests;
#  3. a WebGPU adapter: when Dawn finds none, Mesa's lavapipe (Mesa 25 from bookworm-backports,
#     because bookworm's own Mesa 22.3 lacks features Dawn requires).
# System packages are installed when running as root; otherwise the exact command is printed.
set -euo pipefail
cd "$(dirname "$0")/.."
WANT_BROWSER=0
[ "${1:-}" = "--browser" ] && WANT_BROWSER=1
APT_UPDATED=0
apt_update() {
  if [ "$APT_UPDATED" = 0 ]; then apt-get update >&2; APT_UPDATED=1; fi
}

if [ ! -d node_modules/webgpu ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "[dawnet setup] installing npm dependencies" >&2
  if [ -f package-lock.json ]; then npm ci --no-audit --no-fund >&2; else npm install --no-audit --no-fund >&2; fi
fi

if [ "$WANT_BROWSER" = 1 ] && [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = "0" ] && grep -qs '^ID=debian' /etc/os-release; then
    echo "[dawnet setup] installing Debian's chromium for the browser tests" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt_update
    apt-get install -y chromium >&2 || echo "[dawnet setup] chromium could not be installed; browser tests will be skipped" >&2
  else
    echo "[dawnet setup] no /usr/bin/chromium: browser tests will be skipped. Install it with: sudo apt-get install -y chromium" >&2
  fi
fi

if node scripts/probe-adapter.mjs >/dev/null 2>&1; then
  exit 0
fi

BACKPORTS_LIST=/etc/apt/sources.list.d/dawnet-bookworm-backports.list
INSTALL_CMD="echo 'deb http://deb.debian.org/debian bookworm-backports main' > $BACKPORTS_LIST && apt-get update && apt-get install -y -t bookworm-backports mesa-vulkan-drivers libvulkan1"
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
sh -c "$INSTALL_CMD" >&2
if ! node scripts/probe-adapter.mjs >&2; then
  echo "[dawnet setup] still no WebGPU adapter after installing lavapipe" >&2
  exit 1
fi
