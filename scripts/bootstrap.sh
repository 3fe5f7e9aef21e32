#!/usr/bin/env bash
# Install what flask-pdfqueue needs on this machine, idempotently:
# Debian packages (when missing; as root, or with a clear message otherwise),
# then a virtualenv in .venv with the project and its pinned dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}
EXTRAS=${EXTRAS:-server,dashboard,postgres,mysql,drive,dev}
# The MongoDB-wire server of the embedded stack and the tests. GPL and beta: it runs
# as its own process and is never a dependency of the package.
EMBEDDED_MONGO="SecantusDB==0.7.0b3"

# Runtime libraries of WeasyPrint (HarfBuzz subsetting included: without it renders
# are 1.6-2.7x slower), fonts, and the embedded Redis.
debs=(redis-server libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fontconfig
      fonts-dejavu-core fonts-liberation2 ca-certificates)
if ! "$PYTHON" -c 'import ensurepip, venv' >/dev/null 2>&1; then
    debs+=(python3-venv python3-pip)
fi

missing=()
for d in "${debs[@]}"; do
    dpkg-query -W -f='${Status}' "$d" 2>/dev/null | grep -q 'install ok installed' || missing+=("$d")
done
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "bootstrap: missing Debian packages: ${missing[*]}" >&2
        echo "bootstrap: run as root, or install them with: sudo apt-get install ${missing[*]}" >&2
        exit 1
    fi
    echo "bootstrap: installing Debian packages: ${missing[*]}"
    # The project runs its own Redis on its own port: forbid Debian from starting
    # the system service on 6379 while installing (a policy-rc.d that exits 101).
    policy=/usr/sbin/policy-rc.d
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy"
        trap 'rm -f "$policy"' EXIT
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

stamp="$VENV/.installed"
if [ ! -x "$VENV/bin/python" ]; then
    echo "bootstrap: creating $VENV"
    "$PYTHON" -m venv "$VENV"
fi
if [ ! -f "$stamp" ] || [ setup.cfg -nt "$stamp" ] || [ requirements.lock -nt "$stamp" ] \
        || [ "$(cat "$stamp")" != "$EXTRAS" ]; then
    echo "bootstrap: installing the project into $VENV (log: $VENV/pip.log)"
    if ! "$VENV/bin/python" -m pip install -c requirements.lock -e ".[$EXTRAS]" \
            "$EMBEDDED_MONGO" >"$VENV/pip.log" 2>&1; then
        tail -n 30 "$VENV/pip.log" >&2
        echo "bootstrap: pip failed; the whole log is in $VENV/pip.log" >&2
        exit 1
    fi
    echo "$EXTRAS" >"$stamp"
fi
