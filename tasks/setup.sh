#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine (as root) for soci-deno: Deno from npm,
# the npm packages Deno needs, and the real components the tests use
# (Debian's docker-registry, containerd, skopeo, umoci, pigz, openssl, htpasswd).
#   bash tasks/setup.sh           everything (tests)
#   bash tasks/setup.sh --deno    only Deno and the npm packages (running the CLI)
set -euo pipefail
cd "$(dirname "$0")/.."
want=2.9.6
if [ "${1:-}" != "--deno" ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends \
    docker-registry skopeo umoci containerd apache2-utils pigz openssl gcc libc6-dev \
    zlib1g-dev python3 tar gzip ca-certificates >/dev/null
fi
if ! command -v deno >/dev/null || [ "$(deno --version | head -1 | cut -d' ' -f2)" != "$want" ]; then
  npm install -g --no-fund --no-audit "deno@$want" >/dev/null 2>&1
fi
export DENO_NO_UPDATE_CHECK=1
deno install --quiet >/dev/null
deno --version | head -1
