#!/usr/bin/env bash
# Stop the n8n that scripts/n8n-start.sh started for DATA_DIR: its whole process group (n8n
# and its task runner), by the recorded process id; SIGKILL after 30 s. Quiet when not running.
set -euo pipefail

DATA=${1:?usage: n8n-stop.sh DATA_DIR}
pidfile=$DATA/n8n.pid
[ -f "$pidfile" ] || exit 0
pid=$(cat "$pidfile")
if kill -TERM -- "-$pid" 2>/dev/null; then
    for _ in $(seq 60); do
        kill -0 -- "-$pid" 2>/dev/null || break
        sleep 0.5
    done
    if kill -KILL -- "-$pid" 2>/dev/null; then
        echo "n8n-stop: n8n (pid $pid) ignored SIGTERM for 30 s; killed" >&2
    fi
fi
rm -f "$pidfile"
