#!/usr/bin/env bash
# Prepares .gpu-bundle/ (git-ignored): what scripts/gpu-run.sh needs to run dawnet's checks and
# benchmark on a Linux x86-64 machine with an NVIDIA GPU but no Node and no network. Under 60 MiB:
#   node.xz                     this machine's Node binary, xz -9e
#   dawn.node.xz                Dawn (node_modules/webgpu/dist/linux-x64/dawn.node), xz -9e;
#                               gpu-run.sh unpacks it into node_modules/webgpu/dist/linux-x64/
#   dist/                       the built library and CLI (dist/cli.js bundles bench/), and the
#                               probes (dist/probes/), no source maps
#   node_modules/               what dist/cli.js imports at run time for info, smoke and bench:
#     webgpu/                   index.js and package.json
#     @tensorflow/tfjs-core/    the Node bundle, plus the ES modules its gradient registrations
#                               need (bench/peer-tfjs.ts loads them for the U-Net training step)
#     @tensorflow/tfjs-backend-webgpu/  the Node bundle
#     long/, seedrandom/        what those ES modules import
#   lib/vulkan/libvulkan.so.1   the Vulkan loader (Debian's libvulkan1), for a machine without one
#   lib/glvnd/libGLdispatch.so.0  glvnd's dispatcher (libglvnd0): NVIDIA's Vulkan driver library
#                               (libGLX_nvidia.so.0) links against it
#   debs/                       libvulkan1 and glvnd's libraries (EGL, GLX, GL, GLES) as Debian
#                               packages, which gpu-run.sh unpacks into / where it runs as root
# h5wasm and playwright-core (weights import, report PDFs) are left out: no command run there uses them.
# Compressing Node takes minutes on two cores, so node.xz and dawn.node.xz are kept while the files
# they come from are unchanged.
#
# usage: scripts/gpu-bundle.sh [OUTDIR]     (default .gpu-bundle)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-.gpu-bundle}
LIMIT_MIB=60

fail() {
  echo "gpu-bundle: $*" >&2
  exit 1
}

[[ "$(uname -m)" == x86_64 ]] || fail "the bundle is for x86-64 machines and this one is $(uname -m): build it on x86-64"
command -v xz >/dev/null || fail "xz is missing (Debian: apt-get install xz-utils)"
command -v node >/dev/null || fail "node is missing"
[[ -f node_modules/webgpu/dist/linux-x64/dawn.node ]] || fail "node_modules/webgpu is missing: run npm install"
[[ -f node_modules/@tensorflow/tfjs-core/package.json ]] || fail "node_modules/@tensorflow/tfjs-core is missing: run npm install"

# xz of SRC into DST, unless DST was made from the same SRC at the same level (DST.stamp).
# DAWNET_XZ_LEVEL (default -9e, the smallest) lets tests trade size for minutes of compression.
XZ_LEVEL=${DAWNET_XZ_LEVEL:--9e}
compress_once() {
  local src dst stamp
  src=$(readlink -f "$1")
  dst=$2
  stamp="$(stat -c '%s %Y' "$src") $src $XZ_LEVEL"
  if [[ -f "$dst" && "$(cat "$dst.stamp" 2>/dev/null)" == "$stamp" ]]; then return; fi
  echo "gpu-bundle: xz $XZ_LEVEL $src ($(($(stat -c %s "$src") / 1048576)) MiB), this takes a while"
  xz "$XZ_LEVEL" -T0 -c "$src" >"$dst.tmp"
  mv "$dst.tmp" "$dst"
  echo "$stamp" >"$dst.stamp"
}

# The real file behind a library the dynamic loader knows, found through its Debian package.
library() {
  local package=$1 name=$2 path
  path=$(dpkg -L "$package" 2>/dev/null | grep "/$name\$" | head -n1 || true)
  [[ -n "$path" ]] || path=$(ldconfig -p | awk -v n="$name" '$1 == n { print $NF; exit }')
  [[ -n "$path" && -e "$path" ]] || fail "$name not found: install the Debian package $package"
  readlink -f "$path"
}

mkdir -p "$OUT"
compress_once "$(command -v node)" "$OUT/node.xz"

node scripts/build.mjs
rm -rf "$OUT/dist" "$OUT/node_modules" "$OUT/lib"
mkdir -p "$OUT/dist"
cp dist/index.js dist/cli.js dist/decode-worker.js "$OUT/dist/"
# The probes (bench/probes/*.ts, which scripts/build.mjs builds): run by gpu-run.sh's DAWNET_PROBE.
cp -r dist/probes "$OUT/dist/probes"

NM=$OUT/node_modules
mkdir -p "$NM/webgpu"
cp node_modules/webgpu/index.js node_modules/webgpu/package.json "$NM/webgpu/"
compress_once node_modules/webgpu/dist/linux-x64/dawn.node "$OUT/dawn.node.xz"

for pkg in tfjs-core tfjs-backend-webgpu; do
  mkdir -p "$NM/@tensorflow/$pkg/dist"
  cp "node_modules/@tensorflow/$pkg/package.json" "$NM/@tensorflow/$pkg/"
done
cp node_modules/@tensorflow/tfjs-core/dist/tf-core.node.js "$NM/@tensorflow/tfjs-core/dist/"
cp node_modules/@tensorflow/tfjs-backend-webgpu/dist/tf-backend-webgpu.node.js "$NM/@tensorflow/tfjs-backend-webgpu/dist/"

# Every file the gradient registrations reach (tfjs-core's ES modules, long, seedrandom), as esbuild
# resolves them, copied to the same place under the bundle's node_modules.
node --input-type=module -e "
import { build } from 'esbuild';
const r = await build({ entryPoints: ['node_modules/@tensorflow/tfjs-core/dist/register_all_gradients.js'], bundle: true,
  write: false, metafile: true, platform: 'node', format: 'esm', logLevel: 'error' });
console.log(Object.keys(r.metafile.inputs).join('\n'));
" | while read -r file; do
  [[ "$file" == node_modules/* ]] || fail "unexpected module outside node_modules: $file"
  mkdir -p "$OUT/$(dirname "$file")"
  cp "$file" "$OUT/$file"
done
for pkg in long seedrandom; do cp "node_modules/$pkg/package.json" "$NM/$pkg/"; done

# The same loaders as Debian packages, for a machine where gpu-run.sh runs as root: unpacked into /
# with EGL and GLX's glvnd front ends, they give NVIDIA's Vulkan driver (libGLX_nvidia.so.0) what
# it looks for at vkCreateInstance. The bare loader alone was refused on an H200 there ("Could not
# get 'vkCreateInstance' via 'vk_icdGetInstanceProcAddr'").
GL_DEBS=(libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
rm -rf "$OUT/debs" && mkdir -p "$OUT/debs" /tmp/dawnet-apt-amd64/partial
apt_amd64=(-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/dawnet-apt-amd64)
if ! (cd "$OUT/debs" && apt-get "${apt_amd64[@]}" download "${GL_DEBS[@]}" >/dev/null 2>&1); then
  apt-get "${apt_amd64[@]}" update >/dev/null 2>&1 || fail "apt-get update failed: the bundle's Debian packages need Debian's archive"
  (cd "$OUT/debs" && apt-get "${apt_amd64[@]}" download "${GL_DEBS[@]}" >/dev/null 2>&1) || fail "apt-get download ${GL_DEBS[*]} failed"
fi

mkdir -p "$OUT/lib/vulkan" "$OUT/lib/glvnd"
cp "$(library libvulkan1 libvulkan.so.1)" "$OUT/lib/vulkan/libvulkan.so.1"
cp "$(library libglvnd0 libGLdispatch.so.0)" "$OUT/lib/glvnd/libGLdispatch.so.0"
cat >"$OUT/VERSIONS" <<EOF
node $(node -v)
webgpu $(node -p "require('./node_modules/webgpu/package.json').version")
tfjs-core $(node -p "require('./node_modules/@tensorflow/tfjs-core/package.json').version")
libvulkan1 $(dpkg-query -W -f '${Version}' libvulkan1 2>/dev/null || echo unknown)
libglvnd0 $(dpkg-query -W -f '${Version}' libglvnd0 2>/dev/null || echo unknown)
built $(date -u +%Y-%m-%dT%H:%M:%SZ) from $(git rev-parse --short HEAD 2>/dev/null || echo unknown)
EOF

bytes=$(du -sb "$OUT" | cut -f1)
mib=$((bytes / 1048576))
echo "gpu-bundle: $OUT is $mib MiB ($bytes bytes; limit $LIMIT_MIB MiB)"
((bytes < LIMIT_MIB * 1048576)) || fail "$OUT is $mib MiB, over the $LIMIT_MIB MiB limit"
