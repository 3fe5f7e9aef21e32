#!/usr/bin/env bash
# `make run`: install what is missing, start the embedded stack under supervisord,
# wait until /api/health answers 200, then print how to use it.
set -euo pipefail
cd "$(dirname "$0")/.."
home=$(pwd -P)  # physical, as supervisord's %(here)s

bash scripts/bootstrap.sh

export PDFQUEUE_HOME="$home"
export PDFQUEUE_PROFILE=${PDFQUEUE_PROFILE:-development}
export PDFQUEUE_BIND=${PDFQUEUE_BIND:-127.0.0.1:8000}
export PDFQUEUE_REDIS_PORT=${PDFQUEUE_REDIS_PORT:-6390}
export PDFQUEUE_MONGO_PORT=${PDFQUEUE_MONGO_PORT:-27890}
# The embedded servers run only for the URLs nobody configured.
if [ -z "${PDFQUEUE_REDIS_URL:-}" ]; then
    export PDFQUEUE_REDIS_URL="redis://127.0.0.1:${PDFQUEUE_REDIS_PORT}/0"
    export PDFQUEUE_EMBEDDED_REDIS=true
else
    export PDFQUEUE_EMBEDDED_REDIS=false
fi
if [ -z "${PDFQUEUE_MONGO_URL:-}" ]; then
    export PDFQUEUE_MONGO_URL="mongodb://127.0.0.1:${PDFQUEUE_MONGO_PORT}/?directConnection=true"
    export PDFQUEUE_EMBEDDED_MONGO=true
else
    export PDFQUEUE_EMBEDDED_MONGO=false
fi
export PDFQUEUE_PUBLIC_URL=${PDFQUEUE_PUBLIC_URL:-http://${PDFQUEUE_BIND}}
# Outside production, a listener prints the webhooks of demo jobs (var/log/webhooks.log).
export PDFQUEUE_LISTENER_PORT=${PDFQUEUE_LISTENER_PORT:-8001}
if [ "$PDFQUEUE_PROFILE" = production ]; then
    export PDFQUEUE_DEMO_LISTENER=false
else
    export PDFQUEUE_DEMO_LISTENER=true
fi

flask=(.venv/bin/flask --app flask_pdfqueue.service)

# The Redis about to serve the queue: one sentence when it is too old (and stop) or newer
# than tested (and go on).
if [ "$PDFQUEUE_EMBEDDED_REDIS" = true ]; then
    redis_version=$(redis-server --version | sed -n 's/.* v=\([0-9.]*\) .*/\1/p')
else
    redis_version=$(.venv/bin/python -c 'import os, redis
print(redis.Redis.from_url(os.environ["PDFQUEUE_REDIS_URL"], socket_timeout=5).info("server")["redis_version"])' 2>/dev/null || true)
fi
if [ -n "$redis_version" ] && ! .venv/bin/python -m flask_pdfqueue.queue.redis_servers "$redis_version" | sed 's/^/run: /'; then
    exit 1
fi
# Worker count and job timeout come from the profile (and any PDFQUEUE_* override).
read -r workers delivery_workers timeout < <(.venv/bin/python - <<'PY'
from flask_pdfqueue.service import create_app
from flask_pdfqueue import current_pdfqueue
with create_app().app_context():
    s = current_pdfqueue().settings
    print(s.workers, s.delivery_workers, s.job_timeout)
PY
)
export PDFQUEUE_WORKERS=${workers}
export PDFQUEUE_DELIVERY_WORKERS=${delivery_workers}
export PDFQUEUE_STOP_WAIT=$((timeout + 90))

# Whatever an earlier run left (running, or orphaned by a killed supervisord) is
# stopped first, so the settings of this call are the ones that run.
bash scripts/stop.sh >/dev/null
mkdir -p var/log var/run var/redis var/mongo
touch var/secantusd.toml
echo "$PDFQUEUE_STOP_WAIT" >var/run/stop-wait
if ! "${flask[@]}" pdfqueue db upgrade >var/log/db-upgrade.log 2>&1; then
    cat var/log/db-upgrade.log >&2
    echo "run: the database schema could not be upgraded (var/log/db-upgrade.log)" >&2
    exit 1
fi
.venv/bin/supervisord -c supervisord.conf

wait_for() {  # wait_for <what> <seconds> <command...>
    local what=$1 limit=$2; shift 2
    local deadline=$((SECONDS + limit))
    until "$@" >/dev/null 2>&1; do
        if [ $SECONDS -ge $deadline ]; then
            echo "run: $what did not come up within ${limit}s; see var/log/" >&2
            .venv/bin/supervisorctl -c supervisord.conf status >&2 || true
            exit 1
        fi
        sleep 0.5
    done
}
if [ "$PDFQUEUE_EMBEDDED_MONGO" = true ]; then  # never seed somebody else's MongoDB
    wait_for "MongoDB" 60 "${flask[@]}" pdfqueue seed-demo
fi
health_url="http://${PDFQUEUE_BIND}/api/health"
wait_for "the service ($health_url)" 120 .venv/bin/python -c "
import sys, urllib.request
sys.exit(urllib.request.urlopen('$health_url', timeout=2).status != 200)"

api_key=${PDFQUEUE_API_KEYS:-$(cat var/api-key)}
api_key=${api_key%%,*}
cat <<EOT

flask-pdfqueue is running ($PDFQUEUE_PROFILE profile).
  API:        http://${PDFQUEUE_BIND}/api
  API key:    ${api_key}
  Health:     $health_url
  Dashboard:  http://${PDFQUEUE_BIND}/rq   (${PDFQUEUE_DASHBOARD_USERNAME:-admin} / ${PDFQUEUE_DASHBOARD_PASSWORD:-$(cat var/dashboard-password 2>/dev/null)})
  Logs:       var/log/   (supervisorctl -c supervisord.conf status)
  PDFs:       var/pdfs/
  Stop:       make stop

Submit a demo report; its webhook arrives at the demo listener (tail -f var/log/webhooks.log):
  curl -s -X POST http://${PDFQUEUE_BIND}/api/reports/generate-async \\
    -H 'X-API-Key: ${api_key}' -H 'Content-Type: application/json' \\
    -d '{"code": "DEMO-001", "productId": "minatBakatUmum",
         "callback": "http://127.0.0.1:${PDFQUEUE_LISTENER_PORT}/webhook/pdf-complete"}'

Then follow it with the status_url it returns, and fetch the PDF:
  curl -s -H 'X-API-Key: ${api_key}' http://${PDFQUEUE_BIND}/api/jobs/<job_id>
  curl -s -H 'X-API-Key: ${api_key}' -o report.pdf http://${PDFQUEUE_BIND}/api/jobs/<job_id>/download
EOT
