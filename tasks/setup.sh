#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine (as root) for soci-deno: Deno from npm
# (Debian's nodejs and npm first, when npm is missing), the npm packages Deno
# needs, and the real components the tests use (Debian's docker-registry,
# skopeo, umoci, pigz, zstd, openssl, htpasswd, containerd, flatc; Go for the JSON
# fuzz oracle).
#   bash tasks/setup.sh           everything (tests)
#   bash tasks/setup.sh --deno    only Deno and the npm packages (running the CLI)
set -euo pipefail
cd "$(dirname "$0")/.."
want=2.9.6
export DEBIAN_FRONTEND=noninteractive
apt_updated=
apt_install() {
  if [ -z "$apt_updated" ]; then
    apt-get update -qq
    apt_updated=1
  fi
  apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}
if [ "${1:-}" != "--deno" ]; then
  apt_install docker-registry skopeo umoci apache2-utils pigz openssl gcc libc6-dev \
    zlib1g-dev python3 tar gzip ca-certificates flatbuffers-compiler golang-go containerd time zstd
fi
if ! command -v deno >/dev/null || [ "$(deno --version | head -1 | cut -d' ' -f2)" != "$want" ]; then
  if ! command -v npm >/dev/null; then
    apt_install nodejs npm
  fi
  if ! npm install -g --no-fund --no-audit "deno@$want"; then
    echo "npm install -g deno@$want failed" >&2
    exit 1
  fi
fi
export DENO_NO_UPDATE_CHECK=1
deno install --quiet >/dev/null
deno --version | head -1
