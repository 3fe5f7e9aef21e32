"""A real n8n with the kit of ``n8n/`` imported, and the real service stack it talks to; and
a second n8n with the community package of ``n8n/nodes`` installed from its packed tarball
and the workflows of ``n8n/workflows-with-nodes`` imported.

n8n itself comes from ``scripts/n8n-install.sh`` (a cache folder outside the checkout);
``make test-n8n`` installs it and passes its folder in ``TEST_N8N_CACHE``. Without that
variable every test here skips, so ``make test`` never installs or starts n8n.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask

from flask_pdfqueue import PDFQueueState
from tests.conftest import API_KEY, make_isolated_app, start_worker_process, stop_worker_process
from tests.n8n.lossy_proxy import LossyProxy
from tests.servers import RunningServer, free_port

ROOT = Path(__file__).resolve().parents[2]
N8N_CACHE = os.environ.get("TEST_N8N_CACHE", "")
REDIS_DB = 2  # a Redis database no other test module uses
UNFINISHED = ("new", "running", "waiting")
WORKFLOW_IDS = {  # the ids the kit's JSON files carry
    "submit": "pdfqueueSubmit01",
    "receivers": "pdfqueueReceive1",
    "submit-and-wait": "pdfqueueSubWait1",
    "nodes-submit": "pdqNodesSubmit01",
    "nodes-receive": "pdqNodesReceive1",
    "nodes-submit-and-wait": "pdqNodesSubWait1",
    "nodes-jobs": "pdqNodesJobs0001",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if N8N_CACHE:
        return
    skip = pytest.mark.skip(
        reason="the n8n acceptance test runs under `make test-n8n` (it installs n8n 2.41.1 "
        "into a cache folder first; TEST_N8N_CACHE names that folder)"
    )
    for item in items:
        if Path(item.path).is_relative_to(Path(__file__).parent):
            item.add_marker(skip)


def whsec(key: bytes) -> str:
    """A Standard Webhooks secret: ``whsec_`` and the key in base64."""
    return "whsec_" + base64.b64encode(key).decode()


@dataclass(frozen=True)
class Service:
    """The service as n8n sees it: gunicorn on a real port, a render and a delivery worker."""

    url: str
    state: PDFQueueState
    hmac_key: str  # the webhook secret's key, as the text n8n's Crypto credential holds

    @property
    def webhook_secret(self) -> str:
        """The secret as the service prints it (``whsec_``), what the node's credential holds."""
        return whsec(self.hmac_key.encode())

    def pdf_sha256(self, job_id: str) -> str:
        """The SHA-256 of the PDF the service stored for the job."""
        record = self.state.jobs.get(job_id)
        assert record is not None and record.storage_key is not None
        path = self.state.storage.local_path(record.storage_key)
        assert path is not None
        return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass(frozen=True)
class N8n:
    """A running n8n: its webhook base, and a public-API and a REST session of its owner."""

    url: str
    api: requests.Session
    rest: requests.Session

    def executions(self, workflow: str) -> list[dict[str, Any]]:
        """Every execution of one of the kit's workflows, newest first, with its data."""
        found: list[dict[str, Any]] = []
        params: dict[str, Any] = {
            "workflowId": WORKFLOW_IDS[workflow],
            "includeData": "true",
            "limit": 100,
        }
        while True:
            answer = self.api.get(f"{self.url}/api/v1/executions", params=params, timeout=30)
            answer.raise_for_status()
            page = answer.json()
            found += page["data"]
            if not page.get("nextCursor"):
                return found
            params["cursor"] = page["nextCursor"]

    def wait_for_execution(self, workflow: str, match: Any, timeout: float = 90) -> dict[str, Any]:
        """The first finished execution of ``workflow`` for which ``match(execution)`` holds."""
        deadline = time.monotonic() + timeout
        while True:
            for execution in self.executions(workflow):
                if execution["status"] not in UNFINISHED and match(execution):
                    return execution
            if time.monotonic() > deadline:
                raise AssertionError(f"no matching {workflow} execution within {timeout} s")
            time.sleep(0.5)


def node_output(execution: dict[str, Any], node: str) -> list[dict[str, Any]] | None:
    """The items ``node`` put out (all its outputs together), or None if it did not run."""
    runs = execution["data"]["resultData"]["runData"].get(node)
    if not runs:
        return None
    items: list[dict[str, Any]] = []
    for output in runs[0].get("data", {}).get("main", []):
        items += output or []
    return items


def node_json(execution: dict[str, Any], node: str) -> dict[str, Any] | None:
    items = node_output(execution, node)
    return items[0]["json"] if items else None


def _wait_http(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            if requests.get(url, headers={"X-API-Key": API_KEY}, timeout=5).status_code == 200:
                return
        except requests.RequestException:  # not listening yet, or a first answer slow under load
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the web app did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.2)


@pytest.fixture(scope="package")
def service(
    stack_settings: dict[str, str],
    redis_server: RunningServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Service]:
    home = tmp_path_factory.mktemp("n8n-service")
    port = free_port()
    # n8n's Crypto node takes the HMAC key as text (UTF-8), so the Standard Webhooks secret is
    # whsec_ + base64 of a text key (README "n8n"); a random-bytes key cannot be entered.
    hmac_key = secrets.token_hex(32)
    settings = {
        **stack_settings,
        "PDFQUEUE_WEBHOOK_SECRET": whsec(hmac_key.encode()),
        "PDFQUEUE_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "PDFQUEUE_RATE_LIMIT": "100000/minute",
    }
    app: Flask = make_isolated_app(settings, redis_server, home, redis_db=REDIS_DB)
    state: PDFQueueState = app.extensions["pdfqueue"]
    env = {
        **os.environ,
        **settings,
        # the isolated app's own Redis database, SQLite file and MongoDB database
        **{
            key: str(app.config[key])
            for key in ("PDFQUEUE_REDIS_URL", "PDFQUEUE_SQL_URL", "PDFQUEUE_MONGO_DB")
        },
        "PDFQUEUE_HOME": str(home),
        "PDFQUEUE_BIND": f"127.0.0.1:{port}",
    }
    gunicorn = Path(sys.executable).parent / "gunicorn"
    web_log = home / "web.log"
    web = subprocess.Popen(
        [
            str(gunicorn),
            "--config",
            str(ROOT / "config/gunicorn.py"),
            "flask_pdfqueue.service:create_app()",
        ],
        env=env,
        stdout=web_log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    workers: list[subprocess.Popen[bytes]] = []
    try:
        _wait_http(f"http://127.0.0.1:{port}/api/jobs?limit=1", web, web_log)
        workers.append(start_worker_process(state, env, home / "worker.log"))
        workers.append(start_worker_process(state, env, home / "delivery.log", "delivery-worker"))
        yield Service(f"http://127.0.0.1:{port}", state, hmac_key)
    finally:
        for process in [*workers, web]:
            stop_worker_process(process)
        state.redis.flushdb()
        state.close()


def _n8n_ports() -> int:
    """A free port whose successor (n8n's task-runner broker) is free too."""
    while True:
        port = free_port()
        try:
            with socket.socket() as probe:
                probe.bind(("127.0.0.1", port + 1))
            return port
        except OSError:
            continue


@contextmanager
def _running_n8n(data: Path, service_url: str, env: dict[str, str]) -> Iterator[str]:
    """An n8n started by scripts/n8n-start.sh in ``data`` with ``env`` added, talking to the
    service at ``service_url``; its URL, and stopped afterwards."""
    port = _n8n_ports()
    started = subprocess.run(
        [str(ROOT / "scripts/n8n-start.sh"), str(data), str(port), service_url],
        env={**os.environ, "PDFQUEUE_N8N_CACHE": N8N_CACHE, **env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    try:
        assert started.returncode == 0, f"n8n-start.sh failed:\n{started.stderr}"
        yield f"http://127.0.0.1:{port}"
    finally:
        subprocess.run([str(ROOT / "scripts/n8n-stop.sh"), str(data)], check=True, timeout=60)


@pytest.fixture(scope="package")
def n8n(service: Service, tmp_path_factory: pytest.TempPathFactory) -> Iterator[N8n]:
    data = tmp_path_factory.mktemp("n8n")
    env = {"N8N_KIT_API_KEY": API_KEY, "N8N_KIT_HMAC_KEY": service.hmac_key}
    with _running_n8n(data, service.url, env) as url:
        yield N8n(url, *_sessions(url))


@dataclass(frozen=True)
class N8nWithNodes(N8n):
    """An n8n with n8n-nodes-pdfqueue installed; its credential holds the service's secret
    and, as during a rotation, ``previous_secret``. Its calls to the service go through
    ``proxy``, which passes them on (and loses an answer when a test asks)."""

    previous_secret: str
    proxy: LossyProxy


@pytest.fixture(scope="module")
def n8n_nodes(service: Service, tmp_path_factory: pytest.TempPathFactory) -> Iterator[N8nWithNodes]:
    """The package built and packed by n8n's tooling, then npm-installed from the tarball into
    the n8n user folder, as a self-hosted user without the editor installs it."""
    packed = subprocess.run(
        [str(ROOT / "scripts/n8n-nodes.sh"), "pack", str(tmp_path_factory.mktemp("pack"))],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert packed.returncode == 0, f"n8n-nodes.sh pack failed:\n{packed.stderr}"
    data = tmp_path_factory.mktemp("n8n-nodes")
    previous = whsec(secrets.token_bytes(32))
    env = {
        "N8N_KIT_SET": "nodes",
        "N8N_NODES_TARBALL": packed.stdout.strip().splitlines()[-1],
        "N8N_KIT_API_KEY": API_KEY,
        "N8N_KIT_WEBHOOK_SECRET": service.webhook_secret,
        "N8N_KIT_PREVIOUS_WEBHOOK_SECRET": previous,
    }
    with LossyProxy(service.url).running() as proxy, _running_n8n(data, proxy.url, env) as url:
        yield N8nWithNodes(url, *_sessions(url), previous_secret=previous, proxy=proxy)


def _sessions(url: str) -> tuple[requests.Session, requests.Session]:
    """Set up n8n's owner and an API key (REST, as the editor's first screen does), and
    return a session that sends the key to the public API, and the owner's REST session."""
    rest = requests.Session()
    owner = rest.post(
        f"{url}/rest/owner/setup",
        json={
            "email": "owner@pdfqueue.test",
            "firstName": "Kit",
            "lastName": "Test",
            "password": "Kit-test-0wner",
        },
        timeout=30,
    )
    assert owner.status_code == 200, owner.text
    key = rest.post(
        f"{url}/rest/api-keys",
        json={
            "label": "pdfqueue kit test",
            "scopes": ["execution:read", "execution:list", "workflow:read", "workflow:list"],
            "expiresAt": None,
        },
        timeout=30,
    )
    assert key.status_code == 200, key.text
    api = requests.Session()
    api.headers["X-N8N-API-KEY"] = key.json()["data"]["rawApiKey"]
    return api, rest
