"""Scaling out to a second machine, shown: workers in another network namespace.

A second "host" is a network namespace joined to this one by a veth pair, with an
address of its own. Redis, the MongoDB-wire server and PostgreSQL run on the first
host, listening on its veth address; the render and delivery workers run only on
the second host. Jobs submitted on the first host are rendered on the second and
announced once, to a receiver on the first. Needs root (namespaces) and
PostgreSQL; skipped with the reason otherwise.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from rq import Worker

from flask_pdfqueue import PDFQueueState
from flask_pdfqueue.records.migrations import upgrade
from flask_pdfqueue.reports.packs.psikotes.samples import sample_documents
from tests.conftest import API_KEY, WORKER_APP, make_app
from tests.integration.helpers import assert_one_webhook, settled, verified
from tests.receiver import WebhookReceiver
from tests.servers import RunningServer, ServerUnavailable, start_redis, start_secantus
from tests.sql_servers import start_postgres

pytestmark = pytest.mark.integration
HOST_ONE, HOST_TWO = "10.213.77.1", "10.213.77.2"


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


def _remove_pair(namespace: str, outside: str) -> None:
    with contextlib.suppress(subprocess.CalledProcessError):
        _ip("link", "del", outside)
    with contextlib.suppress(subprocess.CalledProcessError):
        _ip("netns", "del", namespace)


@pytest.fixture
def second_host() -> Iterator[str]:
    """A network namespace reachable at HOST_TWO, that reaches this host at HOST_ONE.

    Where namespaces exist but cannot be configured (a chroot, a container without
    CAP_NET_ADMIN inside them), the test skips with the step that failed."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("a second host needs root and iproute2 (network namespaces)")
    tag = uuid.uuid4().hex[:6]
    namespace, outside, inside = f"pdfq-{tag}", f"pq{tag}a", f"pq{tag}b"
    steps = [
        ("netns", "add", namespace),
        ("link", "add", outside, "type", "veth", "peer", "name", inside),
        ("link", "set", inside, "netns", namespace),
        ("addr", "add", f"{HOST_ONE}/24", "dev", outside),
        ("link", "set", outside, "up"),
        ("netns", "exec", namespace, "ip", "addr", "add", f"{HOST_TWO}/24", "dev", inside),
        ("netns", "exec", namespace, "ip", "link", "set", inside, "up"),
        ("netns", "exec", namespace, "ip", "link", "set", "lo", "up"),
    ]
    for step in steps:
        try:
            _ip(*step)
        except subprocess.CalledProcessError as exc:
            _remove_pair(namespace, outside)
            reason = exc.stderr.decode().strip() or f"exit {exc.returncode}"
            pytest.skip(f"a second host cannot be set up here: `ip {' '.join(step)}`: {reason}")
    try:
        yield namespace
    finally:
        _remove_pair(namespace, outside)


@pytest.fixture
def first_host_servers(
    second_host: str, tmp_path: Path
) -> Iterator[tuple[RunningServer, RunningServer, RunningServer]]:
    try:
        postgres = start_postgres(tmp_path / "pg", host=HOST_ONE)
    except ServerUnavailable as exc:
        pytest.skip(f"PostgreSQL: {exc}")
    redis = start_redis(tmp_path / "redis", host=HOST_ONE)
    mongo = start_secantus(tmp_path / "mongo", host=HOST_ONE)
    yield redis, mongo, postgres
    for server in (redis, mongo, postgres):
        server.stop()


def test_workers_on_a_second_host_render_jobs_submitted_on_the_first(
    first_host_servers: tuple[RunningServer, RunningServer, RunningServer],
    second_host: str,
    stack_settings: dict[str, str],
    tmp_path: Path,
) -> None:
    redis, mongo, postgres = first_host_servers
    settings = {
        **stack_settings,
        "PDFQUEUE_REDIS_URL": redis.url,
        "PDFQUEUE_MONGO_URL": mongo.url,
        "PDFQUEUE_SQL_URL": postgres.url,
        "PDFQUEUE_STORAGE_DIR": str(tmp_path / "shared-pdfs"),  # the folder both hosts mount
        "PDFQUEUE_CALLBACK_ALLOWED_HOSTS": HOST_ONE,
    }
    app = make_app(settings, tmp_path / "host-one")
    state: PDFQueueState = app.extensions["pdfqueue"]
    upgrade(state.jobs.engine)
    documents = []
    for _ in range(4):
        document = {**sample_documents()[0], "code": f"SCALE-{uuid.uuid4().hex[:8]}"}
        state.documents.collection.insert_one(dict(document))
        documents.append(document)

    env = {**os.environ, **settings}
    flask = [sys.executable, "-m", "flask", "--app", WORKER_APP, "pdfqueue"]
    workers = [
        subprocess.Popen(
            ["ip", "netns", "exec", second_host, *flask, role],
            env=env,
            stdout=(tmp_path / f"{role}.log").open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        for role in ("worker", "delivery-worker")
    ]
    try:
        deadline = time.monotonic() + 60
        while Worker.count(connection=state.redis) < 2:
            assert time.monotonic() < deadline, (tmp_path / "worker.log").read_text()[-2000:]
            time.sleep(0.2)
        assert {w.ip_address.rsplit(":", 1)[0] for w in Worker.all(connection=state.redis)} == {
            HOST_TWO
        }

        with WebhookReceiver(host=HOST_ONE) as receiver:
            client = app.test_client()
            jobs = []
            for n, document in enumerate(documents):
                response = client.post(
                    "/api/reports/generate-async",
                    json={
                        "code": document["code"],
                        "productId": document["product_id"],
                        "callback": receiver.url_for(f"/scale/{n}/pdf-complete"),
                    },
                    headers={"X-API-Key": API_KEY},
                )
                assert response.status_code == 202
                jobs.append(response.get_json()["job_id"])
            for n, job_id in enumerate(jobs):
                settled(state, job_id, timeout=90)
                [hook] = receiver.requests(f"/scale/{n}/pdf-complete")
                payload = verified(hook, state.settings.webhook_secret)
                assert (payload["job_id"], payload["status"]) == (job_id, "completed")
                assert_one_webhook(receiver, f"/scale/{n}/pdf-complete", f"/scale/{n}/pdf-failed")
                assert (tmp_path / "shared-pdfs" / f"{job_id}.pdf").read_bytes().startswith(b"%PDF")
                generation = state.documents.collection.find_one({"code": documents[n]["code"]})
                assert generation is not None
                assert generation["pdf_generation"]["status"] == "completed"
    finally:
        for process in workers:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        for process in workers:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        state.close()
