"""Real servers for the whole test session, and an app and workers wired to them.

Redis and the MongoDB-wire server (SecantusDB) are the point of these tests: if
either cannot start, the session errors out instead of skipping. PostgreSQL and
MariaDB are optional (``tests/sql_backends.py`` skips them with the reason).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from rq import Worker

from flask_pdfqueue import PDFQueue, PDFQueueState
from flask_pdfqueue.config.generated import new_webhook_secret
from flask_pdfqueue.records.migrations import upgrade
from flask_pdfqueue.reports.packs.psikotes.samples import sample_documents
from tests.procfs import all_procs, proc_stat
from tests.receiver import WebhookReceiver
from tests.servers import RunningServer, start_redis, start_secantus

pytest_plugins = ["tests.sql_backends"]  # the sql_url fixture, one per SQL backend

# The suite configures everything itself; a developer's shell must not leak in.
for _name in [n for n in os.environ if n.startswith("PDFQUEUE_")]:
    del os.environ[_name]

API_KEY = "test-key-primary"
#: The app the worker commands run in (``flask --app``), as supervisord.conf starts them.
WORKER_APP = "flask_pdfqueue.service:create_worker_app"
SECOND_API_KEY = "test-key-rotated"
RETRIES = 2


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    server = start_redis(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def mongo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    server = start_secantus(tmp_path_factory.mktemp("secantus"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as rec:
        yield rec


@pytest.fixture(scope="session")
def stack_settings(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    redis_server: RunningServer,
    mongo_server: RunningServer,
) -> dict[str, str]:
    """The ``PDFQUEUE_*`` values shared by the test app and the worker processes.

    The SQL database is SQLite, or a private PostgreSQL or MariaDB server's when
    ``TEST_SQL_BACKEND`` says so (``make test`` runs the integration suite on each).
    """
    home = tmp_path_factory.mktemp("stack")
    backend = os.environ.get("TEST_SQL_BACKEND", "sqlite")
    if backend == "sqlite":
        sql_url = f"sqlite:///{home / 'jobs.sqlite3'}"
    else:  # a plugin module (pytest_plugins below): imported once pytest has loaded it
        from tests.sql_backends import new_database

        sql_url = new_database(request, backend)
    return {
        "PDFQUEUE_REDIS_URL": redis_server.url,
        "PDFQUEUE_MONGO_URL": mongo_server.url,
        "PDFQUEUE_MONGO_DB": "workflow",
        "PDFQUEUE_SQL_URL": sql_url,
        "PDFQUEUE_API_KEYS": f"{API_KEY},{SECOND_API_KEY}",
        "PDFQUEUE_WEBHOOK_SECRET": new_webhook_secret(),
        "PDFQUEUE_CALLBACK_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "PDFQUEUE_RETRY_ATTEMPTS": str(RETRIES),
        "PDFQUEUE_RETRY_INTERVALS": ",".join(["1"] * RETRIES),
        "PDFQUEUE_JOB_TIMEOUT": "60",
        "PDFQUEUE_STORAGE_DIR": str(home / "pdfs"),
        "PDFQUEUE_PUBLIC_URL": "http://pdfqueue.test",
        "PDFQUEUE_HOME": str(home),
        "PDFQUEUE_WEBHOOK_TIMEOUT": "5",
        "PDFQUEUE_WEBHOOK_RETRY_SCHEDULE": "1,1,2",
        # what the stand-alone service mounts
        "PDFQUEUE_METRICS": "true",
        "PDFQUEUE_DASHBOARD": "true",
    }


def make_app(settings: dict[str, Any], instance_path: Path) -> Flask:
    """A plain host app configured from a dict, the way a user embeds the extension."""
    app = Flask("pdfqueue_test_app", instance_path=str(instance_path))
    app.config.update(settings)
    app.config["TESTING"] = True
    PDFQueue(app)
    return app


def make_isolated_app(
    stack_settings: dict[str, str], redis_server: RunningServer, home: Path, *, redis_db: int
) -> Flask:
    """The test stack with a Redis database, SQLite file and MongoDB database of its own
    (the Redis one flushed): no worker of the session sees its jobs, nor its reconciler."""
    settings = {
        **stack_settings,
        "PDFQUEUE_REDIS_URL": redis_server.url.rsplit("/", 1)[0] + f"/{redis_db}",
        "PDFQUEUE_SQL_URL": f"sqlite:///{home / 'isolated.sqlite3'}",
        "PDFQUEUE_MONGO_DB": "isolated",
    }
    app = make_app(settings, home)
    state: PDFQueueState = app.extensions["pdfqueue"]
    state.redis.flushdb()
    upgrade(state.jobs.engine)
    state.documents.seed(sample_documents())
    return app


def isolated_worker_env(settings: dict[str, str], state: PDFQueueState) -> dict[str, str]:
    """The environment of a worker process that works an isolated app's Redis, SQL and
    MongoDB database (``settings``: what the app was made with)."""
    return {
        **os.environ,
        **settings,
        "PDFQUEUE_REDIS_URL": state.settings.redis_url,
        "PDFQUEUE_SQL_URL": state.settings.resolved_sql_url,
        "PDFQUEUE_MONGO_DB": state.settings.mongo_db,
    }


@pytest.fixture(scope="session")
def app(stack_settings: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Flask:
    app = make_app(stack_settings, tmp_path_factory.mktemp("instance"))
    state: PDFQueueState = app.extensions["pdfqueue"]
    upgrade(state.jobs.engine)
    state.documents.ensure_indexes()
    state.documents.seed(sample_documents())
    return app


@pytest.fixture(scope="session")
def state(app: Flask) -> PDFQueueState:
    return app.extensions["pdfqueue"]  # type: ignore[no-any-return]


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def auth() -> dict[str, str]:
    return {"X-API-Key": API_KEY}


def _start_worker(
    env: dict[str, str],
    log_path: Path,
    command: str,
    prefix: Sequence[str] = (),
    args: Sequence[str] = (),
) -> subprocess.Popen[bytes]:
    argv = [*prefix, sys.executable, "-m", "flask", "--app", WORKER_APP, "pdfqueue", command]
    argv += ["--logging-level", "DEBUG", *args]
    return subprocess.Popen(
        argv,
        env=env,
        stdout=log_path.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


@dataclass(frozen=True)
class WorkerProcess:
    """A running ``flask pdfqueue worker`` and its log."""

    pid: int
    log_path: Path

    def horse_pid(self) -> int | None:
        """The process running the jobs: a forking worker's horse of the moment, or the
        watchdog's job process; each leads its own process group."""
        return next((p.pid for p in all_procs() if p.ppid == self.pid and p.leads_its_group), None)


def parent_of(pid: int | None) -> int | None:
    """The parent of ``pid`` (a render worker's job process is its watchdog's child)."""
    stat = proc_stat(pid) if pid is not None else None
    return stat.ppid if stat is not None else None


def start_worker_process(
    state: PDFQueueState,
    env: dict[str, str],
    log_path: Path,
    command: str = "worker",
    *,
    prefix: Sequence[str] = (),
    args: Sequence[str] = (),
) -> subprocess.Popen[bytes]:
    """Start ``flask pdfqueue <command> <args>`` (behind ``prefix``, such as ``faketime``)
    and wait until it has registered with RQ."""
    before = {w.name for w in Worker.all(connection=state.redis)}
    process = _start_worker(env, log_path, command, prefix, args)
    deadline = time.monotonic() + 60
    while not any(
        process.pid in (w.pid, parent_of(w.pid))
        for w in Worker.all(connection=state.redis)
        if w.name not in before
    ):
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{command} did not start:\n{log_path.read_text()[-3000:]}")
        time.sleep(0.1)
    return process


def stop_worker_process(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@pytest.fixture(scope="session")
def worker(
    app: Flask, stack_settings: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WorkerProcess]:
    """A real ``flask pdfqueue worker`` (with scheduler) and a real delivery worker beside
    it, configured through the environment."""
    env = {**os.environ, **stack_settings}
    logs = tmp_path_factory.mktemp("worker")
    state: PDFQueueState = app.extensions["pdfqueue"]
    process = start_worker_process(state, env, logs / "worker.log")
    deliveries = start_worker_process(state, env, logs / "delivery.log", "delivery-worker")
    yield WorkerProcess(process.pid, logs / "worker.log")
    stop_worker_process(process)
    stop_worker_process(deliveries)
