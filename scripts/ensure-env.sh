#!/usr/bin/env bash
# Makes a fresh Debian 12 + Node 20 machine able to run dawnet:
#  1. npm dependencies, when node_modules is missing or older than the lock file;
#  2. a WebGPU adapter: when Dawn finds none, Mesa's lavapipe (Mesa 25 from bookworm-backports,
#     because bookworm's own Mesa 22.3 lacks features Dawn requires). Installed when running as
#     root; otherwise the exact command is printed and the script fails.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -d node_modules/webgpu ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "[dawnet setup] installing npm dependencies" >&2
  if [ -f package-lock.json ]; then npm ci --no-audit --no-fund >&2; else npm install --no-audit --no-fund >&2; fi
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
