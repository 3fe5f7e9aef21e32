"""The chaos test's stack: real servers and worker processes, and the means to break them.

A private redis-server (AOF ``everysec``), the session's MongoDB-wire server (a
database of its own), an SQL database, local storage that fails a fraction of
writes, and real ``flask pdfqueue worker`` / ``delivery-worker`` processes that a
supervisor thread restarts when they die, as supervisord would. Every process
started here carries a marker in its environment, so teardown finds all of them,
orphaned work horses and schedulers included.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from flask_pdfqueue import PDFQueueState
from flask_pdfqueue.records.migrations import upgrade
from tests.conftest import API_KEY, WORKER_APP, make_app
from tests.procfs import all_procs
from tests.receiver import WebhookReceiver
from tests.servers import RunningServer, start_redis

MARKER = "PDFQUEUE_CHAOS_RUN"


class Supervised:
    """One worker process, restarted whenever it exits until :meth:`stop`."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log: Path) -> None:
        self.name, self.argv, self.env, self.log = name, argv, env, log
        self.restarts = 0
        self._stopping = threading.Event()
        self.process = self._spawn()
        self._thread = threading.Thread(target=self._watch, name=f"supervise-{name}", daemon=True)
        self._thread.start()

    def _spawn(self) -> subprocess.Popen[bytes]:
        with self.log.open("ab") as log:
            return subprocess.Popen(
                self.argv,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def _watch(self) -> None:
        while not self._stopping.is_set():
            if self.process.poll() is not None and not self._stopping.is_set():
                time.sleep(0.5)  # supervisord's startsecs-like pause
                self.process = self._spawn()
                self.restarts += 1
            time.sleep(0.2)

    def kill(self) -> None:
        """SIGKILL the parent only: its work horse and scheduler live on as orphans."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.process.pid, signal.SIGKILL)

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=20)


@dataclass
class ChaosStack:
    """Everything one scenario runs on; see the module docstring."""

    home: Path
    mongo_url: str
    sql_url: str
    receiver: WebhookReceiver
    render_workers: int = 2
    storage_failure_rate: float = 0.1
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    redis: RunningServer | None = None
    workers: list[Supervised] = field(default_factory=list)
    redis_restarts: int = 0
    horses_killed: int = 0
    parents_killed: int = 0

    def start(self) -> None:
        self.redis = start_redis(self.home / "redis-data")
        self.app = make_app(self.settings(), self.home / "instance")
        self.state: PDFQueueState = self.app.extensions["pdfqueue"]
        upgrade(self.state.jobs.engine)
        self.state.documents.collection.drop()
        env = {**os.environ, **self.settings(), MARKER: self.run_id}
        env["CHAOS_STORAGE_FAILURE_RATE"] = str(self.storage_failure_rate)
        flask = [sys.executable, "-m", "flask", "--app", WORKER_APP, "pdfqueue"]
        logs = self.home / "logs"
        logs.mkdir(exist_ok=True)
        for n in range(self.render_workers):
            self.workers.append(
                Supervised(f"render-{n}", [*flask, "worker"], env, logs / f"render-{n}.log")
            )
        self.workers.append(
            Supervised("delivery", [*flask, "delivery-worker"], env, logs / "delivery.log")
        )

    def settings(self) -> dict[str, str]:
        assert self.redis is not None
        return {
            "PDFQUEUE_REDIS_URL": self.redis.url,
            "PDFQUEUE_MONGO_URL": self.mongo_url,
            "PDFQUEUE_MONGO_DB": f"chaos_{self.run_id[:8]}",
            "PDFQUEUE_SQL_URL": self.sql_url,
            "PDFQUEUE_API_KEYS": API_KEY,
            "PDFQUEUE_WEBHOOK_SECRET": "whsec_" + "Y2hhb3MtdGVzdC1zZWNyZXQtb2YtMzItYnl0ZXMhIQ==",
            "PDFQUEUE_CALLBACK_ALLOWED_HOSTS": "127.0.0.1",
            "PDFQUEUE_RETRY_ATTEMPTS": "3",
            "PDFQUEUE_RETRY_INTERVALS": "1,1,1",
            "PDFQUEUE_JOB_TIMEOUT": "30",
            "PDFQUEUE_MAX_QUEUE_SIZE": "1000",
            "PDFQUEUE_STORAGE": "tests.chaos.flaky_storage:make",
            "PDFQUEUE_STORAGE_DIR": str(self.home / "pdfs"),
            "PDFQUEUE_PUBLIC_URL": "http://pdfqueue.chaos",
            "PDFQUEUE_HOME": str(self.home),
            "PDFQUEUE_WEBHOOK_TIMEOUT": "3",
            "PDFQUEUE_WEBHOOK_CONNECT_TIMEOUT": "2",
            "PDFQUEUE_WEBHOOK_RETRY_SCHEDULE": "1,2,4,8,15,20,30",
            "PDFQUEUE_RECONCILE_INTERVAL": "5",
        }

    @property
    def secret(self) -> str:
        return self.settings()["PDFQUEUE_WEBHOOK_SECRET"]

    def wait_for_workers(self, timeout: float = 90) -> None:
        from rq import Worker

        deadline = time.monotonic() + timeout
        while Worker.count(connection=self.state.redis) < len(self.workers):
            if time.monotonic() > deadline:
                raise AssertionError("the workers did not register in time")
            time.sleep(0.2)

    def horse_pids(self) -> list[int]:
        """Work horses of the render workers now (each is its own process group)."""
        parents = {w.process.pid for w in self.workers if w.name.startswith("render")}
        return [p.pid for p in all_procs() if p.ppid in parents and p.leads_its_group]

    def kill_a_horse(self, rng: random.Random) -> None:
        horses = self.horse_pids()
        if horses:
            with contextlib.suppress(ProcessLookupError):
                os.kill(rng.choice(horses), signal.SIGKILL)
                self.horses_killed += 1

    def kill_render_parents(self) -> None:
        for worker in self.workers:
            if worker.name.startswith("render"):
                worker.kill()
                self.parents_killed += 1

    def restart_redis(self) -> None:
        """kill -9 and start again on the same port and data: the AOF is replayed."""
        assert self.redis is not None
        port = self.redis.port
        self.redis.kill()
        self.redis = start_redis(self.home / "redis-data", port=port)
        self.redis_restarts += 1

    def stop(self) -> None:
        for worker in self.workers:
            worker.stop()
        for pid in marked_pids(self.run_id):  # orphaned horses and schedulers
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(Exception):
            self.state.documents.client.drop_database(self.settings()["PDFQUEUE_MONGO_DB"])
        self.state.close()
        if self.redis is not None:
            self.redis.stop()


@contextlib.contextmanager
def chaos_stack(
    home: Path, mongo_url: str, sql_url: str, receiver: WebhookReceiver, **options: float
) -> Iterator[ChaosStack]:
    stack = ChaosStack(home, mongo_url, sql_url, receiver, **options)  # type: ignore[arg-type]
    stack.start()
    try:
        yield stack
    finally:
        stack.stop()


def marked_pids(run_id: str) -> list[int]:
    found = []
    needle = f"{MARKER}={run_id}".encode()
    for environ in Path("/proc").glob("[0-9]*/environ"):
        with contextlib.suppress(OSError):
            if needle in environ.read_bytes().split(b"\0"):
                found.append(int(environ.parent.name))
    return [pid for pid in found if pid != os.getpid()]


def every(seconds: float, until: float, action: Callable[[], None]) -> threading.Thread:
    """Run ``action`` every ``seconds`` until the monotonic time ``until`` (a thread)."""

    def loop() -> None:
        while time.monotonic() < until:
            action()
            time.sleep(seconds)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    return thread


def at(delay: float, action: Callable[[], None]) -> threading.Timer:
    timer = threading.Timer(delay, action)
    timer.daemon = True
    timer.start()
    return timer
