#!/usr/bin/env bash
# Make PostgreSQL and MariaDB available to the test suite when possible.
# The tests start their own private servers (tests/sql_servers.py); this script only
# installs the binaries (Debian's postgresql and mariadb-server) when running as
# root and they are missing. It never fails the build: without the binaries the SQL-backend
# tests skip with a visible reason. Always exits 0 and says what it did.
set -u

say() { echo "test-databases: $*"; }

have_mariadb() {
    command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ] || [ -x /usr/sbin/mysqld ]
}

have_postgres() {
    local d
    for d in /usr/lib/postgresql/*/bin; do
        [ -x "$d/initdb" ] && [ -x "$d/postgres" ] && return 0
    done
    command -v initdb >/dev/null 2>&1
}

packages=()
if have_postgres; then
    say "PostgreSQL binaries found"
else
    packages+=(postgresql)
fi
if have_mariadb; then
    say "MariaDB binaries found"
else
    packages+=(mariadb-server)
fi
[ ${#packages[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
    say "${packages[*]} not installed and not root: skipping (their tests skip with the reason)"
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    say "${packages[*]} not installed and no apt-get: skipping"
    exit 0
fi

# Debian's postinst would try to start the system service; the tests run their own
# private server instead. A policy-rc.d that exits 101 forbids service starts
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
say "installing ${packages[*]} via apt-get (quiet)..."
log=$(mktemp)
if ! apt-get install "${apt_opts[@]}" "${packages[@]}" >"$log" 2>&1; then
    say "install failed; refreshing package lists and retrying"
    apt-get update -qq >>"$log" 2>&1 || true
    apt-get install "${apt_opts[@]}" "${packages[@]}" >>"$log" 2>&1 || true
fi
elapsed=$(( $(date +%s) - start ))
if have_postgres && have_mariadb; then
    say "installed ${packages[*]} in ${elapsed}s (the system services are not started)"
else
    say "could not install all of ${packages[*]} after ${elapsed}s (their tests will skip); last lines:"
    tail -n 15 "$log" | sed 's/^/    /'
fi
rm -f "$log"
exit 0
