#!/usr/bin/env bash
# Make the optional servers and tools of the test suite available when possible:
# PostgreSQL and MariaDB (the SQL-backend tests start private servers of their own),
# Prometheus and promtool (the monitoring tests), Chromium (the dashboard's browser
# test), libfaketime (workers whose clocks are off). Installs the missing Debian
# packages when running as root; their system services are never started (a
# policy-rc.d forbids it during the install). Never fails the build: whatever is
# still missing makes its tests skip with the reason.
# Always exits 0 and says what it did.
set -u

say() { echo "test-services: $*"; }

have_postgresql() {
    local d
    for d in /usr/lib/postgresql/*/bin; do
        [ -x "$d/initdb" ] && [ -x "$d/postgres" ] && return 0
    done
    command -v initdb >/dev/null 2>&1
}
have_mariadb() {
    command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ] || [ -x /usr/sbin/mysqld ]
}
have_prometheus() {
    command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1
}
have_chromium() {
    command -v chromium >/dev/null 2>&1
}
have_faketime() {
    compgen -G "/usr/lib/*/faketime/libfaketime.so.1" >/dev/null
}

# what it is for | check | Debian package
needs=(
    "PostgreSQL|have_postgresql|postgresql"
    "MariaDB|have_mariadb|mariadb-server"
    "Prometheus|have_prometheus|prometheus"
    "Chromium|have_chromium|chromium"
    "libfaketime|have_faketime|faketime"
)
missing=()
for need in "${needs[@]}"; do
    IFS='|' read -r what check package <<<"$need"
    if "$check"; then
        say "$what found"
    else
        missing+=("$package")
    fi
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    say "not installed, and cannot install here: ${missing[*]} (their tests will skip)"
    exit 0
fi

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
say "installing ${missing[*]} via apt-get (quiet)..."
log=$(mktemp)
if ! apt-get install "${apt_opts[@]}" "${missing[@]}" >"$log" 2>&1; then
    say "install failed; refreshing package lists and retrying"
    apt-get update -qq >>"$log" 2>&1 || true
    apt-get install "${apt_opts[@]}" "${missing[@]}" >>"$log" 2>&1 || true
fi
elapsed=$(( $(date +%s) - start ))
failed=()
for need in "${needs[@]}"; do
    IFS='|' read -r what check package <<<"$need"
    "$check" || failed+=("$what")
done
if [ ${#failed[@]} -eq 0 ]; then
    say "installed ${missing[*]} in ${elapsed}s (no system service started)"
else
    say "after ${elapsed}s still missing: ${failed[*]} (their tests will skip); last lines:"
    tail -n 15 "$log" | sed 's/^/    /'
fi
rm -f "$log"
exit 0
