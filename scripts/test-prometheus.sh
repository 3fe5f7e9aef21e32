#!/usr/bin/env bash
# Make Prometheus and promtool available to the monitoring tests (tests/test_monitoring.py).
# Installs Debian's `prometheus` package when running as root and the binaries are
# missing. The tests start their own private `prometheus` (loopback, temporary data
# dir); Debian's service is never started. Never fails the build: without the
# binaries those tests skip with a visible reason. Always exits 0 and says what it did.
set -u

say() { echo "test-prometheus: $*"; }

have_prometheus() {
    command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1
}

if have_prometheus; then
    say "prometheus and promtool found ($(prometheus --version 2>&1 | head -n 1))"
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    say "prometheus not installed and not root: skipping (install Debian's prometheus to run those tests)"
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    say "prometheus not installed and no apt-get: skipping"
    exit 0
fi

# The postinst would start the system service; a policy-rc.d that exits 101 forbids it
# (container images usually ship one; add a temporary one when absent).
policy=/usr/sbin/policy-rc.d
made_policy=""
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && made_policy=1
fi
cleanup() { [ -n "$made_policy" ] && rm -f "$policy"; }
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive
apt_opts=(-y -qq --no-install-recommends -o DPkg::Lock::Timeout=120)
start=$(date +%s)
say "installing prometheus via apt-get (quiet)..."
log=$(mktemp)
if ! apt-get install "${apt_opts[@]}" prometheus >"$log" 2>&1; then
    say "install failed; refreshing package lists and retrying"
    apt-get update -qq >>"$log" 2>&1 || true
    apt-get install "${apt_opts[@]}" prometheus >>"$log" 2>&1 || true
fi
elapsed=$(( $(date +%s) - start ))
if have_prometheus; then
    say "installed prometheus in ${elapsed}s (the system service is not started)"
else
    say "could not install prometheus after ${elapsed}s (the Prometheus tests will skip); last lines:"
    tail -n 15 "$log" | sed 's/^/    /'
fi
rm -f "$log"
exit 0
