"""The private stack the benchmarks run on: servers, settings, worker processes."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

API_KEY = "bench-key"
SECRET = "whsec_" + "YmVuY2gtd2ViaG9vay1zZWNyZXQtb2YtMzItYnl0ZXMh"
PRODUCT = "minatBakatUmum"
SUBMIT_PATH = "/api/reports/generate-async"
BATCH_PATH = "/api/reports/generate-batch"


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- the stack


@dataclass
class Stack:
    home: Path
    redis_url: str
    mongo_url: str
    receiver: Any
    env: dict[str, str]
    app: Any = None
    state: Any = None
    server_pids: dict[str, int] = field(default_factory=dict)

    @property
    def callback(self) -> str:
        return str(self.receiver.url_for("/hook/pdf-complete"))


def _settings(home: Path, redis_url: str, mongo_url: str, sql_url: str | None) -> dict[str, str]:
    return {
        "PDFQUEUE_PROFILE": "development",
        "PDFQUEUE_HOME": str(home),
        "PDFQUEUE_REDIS_URL": redis_url,
        "PDFQUEUE_MONGO_URL": mongo_url,
        "PDFQUEUE_MONGO_DB": "bench",
        "PDFQUEUE_SQL_URL": sql_url or f"sqlite:///{home / 'bench.sqlite3'}",
        "PDFQUEUE_API_KEYS": API_KEY,
        "PDFQUEUE_WEBHOOK_SECRET": SECRET,
        "PDFQUEUE_CALLBACK_ALLOWED_HOSTS": "127.0.0.1",
        "PDFQUEUE_STORAGE": "local",
        "PDFQUEUE_STORAGE_DIR": str(home / "pdfs"),
        "PDFQUEUE_PUBLIC_URL": "http://pdfqueue.bench",
        "PDFQUEUE_MAX_QUEUE_SIZE": "1000000",
        "PDFQUEUE_RATE_LIMIT": "100000000/minute",
        "PDFQUEUE_JOB_TIMEOUT": "120",
    }


@contextlib.contextmanager
def stack() -> Iterator[Stack]:
    from tests.receiver import WebhookReceiver
    from tests.servers import RunningServer, start_redis, start_secantus
    from tests.sql_servers import start_postgres

    home = Path(tempfile.mkdtemp(prefix="pdfqueue-bench-"))
    redis_server = mongo_server = None
    sql_server: RunningServer | None = None
    receiver = WebhookReceiver()
    try:
        redis_server = start_redis(home / "redis-data", appendonly=True)
        mongo_server = start_secantus(home / "mongo")
        sql_url = os.environ.get("BENCH_SQL_URL")
        if os.environ.get("BENCH_SQL") == "postgresql":  # a private server, as the tests start
            sql_server = start_postgres(home / "postgres")
            sql_url = sql_server.url
        env = _settings(home, redis_server.url, mongo_server.url, sql_url)
        os.environ.update(env)
        from flask_pdfqueue.records.migrations import upgrade
        from flask_pdfqueue.service import create_app

        app = create_app()
        state = app.extensions["pdfqueue"]
        upgrade(state.jobs.engine)
        state.documents.ensure_indexes()  # as `flask pdfqueue seed-demo` does for `make run`
        s = Stack(home, redis_server.url, mongo_server.url, receiver, env, app, state)
        s.server_pids = {"redis": redis_server.process.pid, "mongo": mongo_server.process.pid}
        yield s
        state.close()
    finally:
        receiver.close()
        for server in (redis_server, mongo_server, sql_server):
            if server is not None:
                server.stop()
        if os.environ.get("BENCH_KEEP"):
            log(f"kept {home}")
        else:
            shutil.rmtree(home, ignore_errors=True)


def spawn(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        return subprocess.Popen(
            argv,
            env=env,
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop(processes: list[subprocess.Popen[bytes]], sig: int = signal.SIGTERM) -> None:
    for p in processes:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(p.pid, sig)
    for p in processes:
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGKILL)
            p.wait(timeout=10)


def wait_for(what: str, check: Callable[[], bool], timeout: float, every: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout:.0f} s")
        time.sleep(every)
