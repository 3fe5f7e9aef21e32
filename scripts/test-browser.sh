#!/usr/bin/env bash
# Make Debian's Chromium available to the dashboard's browser test (tests/integration/
# test_dashboard_browser.py drives it with Playwright). Installs it when running as
# root and it is missing; never fails the build: without it that test skips with
# the reason. Always exits 0 and says what it did.
set -u

say() { echo "test-browser: $*"; }

if command -v chromium >/dev/null 2>&1; then
    say "Chromium found"
    exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    say "Chromium not installed and cannot install it here (the browser test will skip)"
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt_opts=(-y -qq --no-install-recommends -o DPkg::Lock::Timeout=120)
log=$(mktemp)
say "installing chromium via apt-get (quiet)..."
if ! apt-get install "${apt_opts[@]}" chromium >"$log" 2>&1; then
    apt-get update -qq >>"$log" 2>&1 || true
    apt-get install "${apt_opts[@]}" chromium >>"$log" 2>&1 || true
fi
if command -v chromium >/dev/null 2>&1; then
    say "installed Chromium"
else
    say "could not install Chromium (the browser test will skip); last lines:"
    tail -n 15 "$log" | sed 's/^/    /'
fi
rm -f "$log"
exit 0
