#!/usr/bin/env bash
# Builds lib/gzip/zlib.wasm: zlib's inflate, compiled to WebAssembly from
# Debian's zlib source, with the small C surface in tasks/zlib_shim.c and
# one patch, tasks/zlib_inffast_wide.patch, that speeds up inflate_fast
# without changing what it decodes (a 64-bit bit buffer refilled 8 bytes at
# a time, and 8-byte steps for matches at least 8 bytes back): about 25%
# faster in WASM. Checkpoints and output are unchanged (tests compare both
# with system zlib).
#
# Needs (Debian bookworm): clang lld wasi-libc libclang-rt-14-dev-wasm32
#   apt-get install -y clang lld wasi-libc libclang-rt-14-dev-wasm32
# Run from the repository root: deno task build:wasm
# The output is committed, so users and CI never need a compiler.
# The build is reproducible: running it twice gives the same bytes.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
if [ -n "${WORK:-}" ]; then
  work=$WORK
else
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
fi
orig=zlib_1.2.13.dfsg.orig.tar.bz2
want=71feb7947e3c00ef125f83b79a4e529bde31171e5babe48b391f06758d1ab0a1
mirror=${DEBIAN_SOURCE_MIRROR:-http://deb.debian.org/debian}
cd "$work"
if [ ! -f "$orig" ]; then
  # Fetch Debian's source package without touching the system apt config.
  echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror bookworm main" >src.list
  o=(-o "Dir::Etc::sourcelist=$PWD/src.list" -o Dir::Etc::sourceparts=- -o "Dir::State::Lists=$PWD/lists")
  mkdir -p lists/partial
  apt-get "${o[@]}" update >/dev/null
  apt-get "${o[@]}" source --download-only zlib=1:1.2.13.dfsg-1 >/dev/null
fi
echo "$want  $orig" | sha256sum -c --quiet
rm -rf zlib-1.2.13.dfsg && tar xjf "$orig"
src=zlib-1.2.13.dfsg
patch -s -d "$src" -p1 <"$root/tasks/zlib_inffast_wide.patch"
exports=(malloc free zs_new zs_reset zs_set_in zs_set_out zs_avail_in zs_avail_out
  zs_data_type zs_inflate zs_prime zs_set_dict zs_msg zs_free)
flags=()
for e in "${exports[@]}"; do flags+=("-Wl,--export=$e"); done
clang --target=wasm32-wasi -O3 -mexec-model=reactor -DNDEBUG \
  -Wl,--strip-all -Wl,--no-entry "${flags[@]}" \
  -I"$src" -o zlib.wasm "$root/tasks/zlib_shim.c" \
  "$src/inflate.c" "$src/inftrees.c" "$src/inffast.c" "$src/adler32.c" "$src/crc32.c" "$src/zutil.c"
cp zlib.wasm "$root/lib/gzip/zlib.wasm"
sha256sum "$root/lib/gzip/zlib.wasm"
