#!/usr/bin/env bash
# `make stop`: stop what `make run` started, by PID: supervisord from its pidfile,
# then any process it started that outlived it (a work horse or scheduler child
# orphaned by a killed worker). Those carry PDFQUEUE_STACK=<this checkout> in their
# environment (supervisord.conf sets it), or are named by var/run/redis.pid, so
# nothing else is ever touched.
set -uo pipefail
cd "$(dirname "$0")/.."
home=$(pwd -P)  # physical, as supervisord's %(here)s
pidfile=var/run/supervisord.pid
# Running jobs may finish first: supervisord waits job timeout + 90 s per worker.
stop_wait=$(cat var/run/stop-wait 2>/dev/null || true)
[[ "$stop_wait" =~ ^[0-9]+$ ]] || stop_wait=390

stack_pids() {
    local environ pid
    for environ in /proc/[0-9]*/environ; do
        if grep -qzxF "PDFQUEUE_STACK=$home" "$environ" 2>/dev/null; then
            pid=${environ#/proc/}
            echo "${pid%/environ}"
        fi
    done
    redis_pid
}

# Redis overwrites its environment with its process title; its pidfile names it,
# and it runs in this checkout's var/redis.
redis_pid() {
    local pid
    pid=$(cat var/run/redis.pid 2>/dev/null) || return 0
    if [ "$(readlink "/proc/$pid/cwd" 2>/dev/null)" = "$home/var/redis" ]; then
        echo "$pid"
    fi
}

# A stale pidfile may name a PID that something else has reused: check it is our
# supervisord (it runs in this checkout, see `directory=` in supervisord.conf).
pid=$(cat "$pidfile" 2>/dev/null || true)
if [ -n "$pid" ] && grep -q supervisord "/proc/$pid/cmdline" 2>/dev/null \
        && [ "$(readlink "/proc/$pid/cwd" 2>/dev/null)" = "$home" ]; then
    .venv/bin/supervisorctl -c supervisord.conf shutdown >/dev/null 2>&1 || kill -TERM "$pid"
    deadline=$((SECONDS + stop_wait + 30))
    while kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.5; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
fi
leftovers=$(stack_pids)
if [ -n "$leftovers" ]; then
    echo "stop: ending processes that outlived supervisord: $(echo $leftovers)"
    # Redis last: workers and the RQ scheduler deregister and release their locks in it.
    redis=$(redis_pid)
    others=$(echo "$leftovers" | grep -vxF "${redis:-none}")
    if [ -n "$others" ]; then
        kill -TERM $others 2>/dev/null || true
        for _ in $(seq 1 20); do [ "$(stack_pids)" = "$redis" ] && break; sleep 0.5; done
    fi
    kill -TERM $(stack_pids) 2>/dev/null || true
    for _ in $(seq 1 20); do [ -z "$(stack_pids)" ] && break; sleep 0.5; done
    leftovers=$(stack_pids)
    [ -n "$leftovers" ] && kill -KILL $leftovers 2>/dev/null
fi
rm -f var/run/supervisor.sock "$pidfile" var/run/redis.pid
echo "stopped"
