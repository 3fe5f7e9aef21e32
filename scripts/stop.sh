#!/usr/bin/env bash
# `make stop`: stop what `make run` started, by PID, including work horses and
# scheduler children that a killed worker may have orphaned.
set -uo pipefail
cd "$(dirname "$0")/.."
home=$(pwd)
pidfile=var/run/supervisord.pid

if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    pid=$(cat "$pidfile")
    .venv/bin/supervisorctl -c supervisord.conf shutdown >/dev/null 2>&1 || kill -TERM "$pid"
    for _ in $(seq 1 120); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
fi
# Leftovers: any process still running a program of this checkout's venv, or its Redis.
leftovers=$(pgrep -f "^(${home}/\.venv/bin/|redis-server 127\.0\.0\.1:${PDFQUEUE_REDIS_PORT:-6390})" || true)
if [ -n "$leftovers" ]; then
    kill -TERM $leftovers 2>/dev/null || true
    sleep 2
    kill -KILL $leftovers 2>/dev/null || true
fi
rm -f var/run/supervisor.sock
echo "stopped"
