"""The web server as shipped (gunicorn with config/gunicorn.py): legacy waits never stall
async submits.

Fifty legacy calls wait on jobs no worker takes (no worker listens to this Redis
database) while async submits go on: every submit is answered while all fifty still
wait, none of them after waiting for a legacy call to give up. How fast the submits
are is for the benchmarks (``make bench``), not for this test.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import API_KEY
from tests.servers import RunningServer, free_port

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
WAITERS = 50
SYNC_TIMEOUT = 15
SAMPLES = 200


@pytest.fixture
def service(
    stack_settings: dict[str, str], redis_server: RunningServer, tmp_path: Path
) -> Iterator[tuple[str, int]]:
    port = free_port()
    env = {
        **os.environ,
        **stack_settings,
        "PDFQUEUE_REDIS_URL": redis_server.url.rsplit("/", 1)[0] + "/1",
        "PDFQUEUE_SQL_URL": f"sqlite:///{tmp_path / 'web.sqlite3'}",
        "PDFQUEUE_MONGO_DB": "web_server_test",
        "PDFQUEUE_HOME": str(tmp_path),
        "PDFQUEUE_BIND": f"127.0.0.1:{port}",
        "PDFQUEUE_SYNC_TIMEOUT": str(SYNC_TIMEOUT),
        "PDFQUEUE_MAX_QUEUE_SIZE": "10000",
        "PDFQUEUE_RATE_LIMIT": "100000/minute",
    }
    flask = [sys.executable, "-m", "flask", "--app", "flask_pdfqueue.service", "pdfqueue"]
    subprocess.run([*flask, "db", "upgrade"], env=env, check=True, capture_output=True)
    gunicorn = Path(sys.executable).parent / "gunicorn"
    process = subprocess.Popen(
        [
            str(gunicorn),
            "--config",
            str(ROOT / "config/gunicorn.py"),
            "flask_pdfqueue.service:create_app()",
        ],
        env=env,
        stdout=(tmp_path / "web.log").open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            status, _ = _request("127.0.0.1", port, "GET", "/api/jobs?limit=1")
            if status == 200:
                break
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError((tmp_path / "web.log").read_text()[-3000:])
        time.sleep(0.2)
    yield "127.0.0.1", port
    os.killpg(process.pid, signal.SIGTERM)
    process.wait(timeout=30)


def _request(
    host: str, port: int, method: str, path: str, body: object = None
) -> tuple[int, float]:
    """One request on a new connection: its status and latency in seconds."""
    conn = http.client.HTTPConnection(host, port, timeout=60)
    headers = {"X-API-Key": API_KEY, "Content-Type": "application/json"}
    started = time.perf_counter()
    conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
    response = conn.getresponse()
    response.read()
    elapsed = time.perf_counter() - started
    conn.close()
    return response.status, elapsed


def _slowest_async_submit(host: str, port: int, tag: str) -> float:
    latencies = []
    for n in range(SAMPLES):
        body = {"code": f"WEB-{tag}-{n}", "productId": "minatBakatUmum"}
        status, elapsed = _request(host, port, "POST", "/api/reports/generate-async", body)
        assert status == 202
        latencies.append(elapsed)
    return max(latencies)


def test_fifty_waiting_legacy_calls_do_not_slow_async_submits(
    service: tuple[str, int],
) -> None:
    host, port = service
    _slowest_async_submit(host, port, "warmup")

    answers: list[int] = []
    waiters = [
        threading.Thread(
            target=lambda n=n: answers.append(
                _request(
                    host,
                    port,
                    "POST",
                    "/api/reports/generate",
                    {"code": f"WEB-legacy-{n}", "productId": "minatBakatUmum"},
                )[0]
            )
        )
        for n in range(WAITERS)
    ]
    for thread in waiters:
        thread.start()
    time.sleep(3)  # every legacy call has submitted its job and waits
    slowest = _slowest_async_submit(host, port, "busy")
    still_waiting = sum(thread.is_alive() for thread in waiters)
    assert still_waiting == WAITERS  # they were all waiting throughout
    # A submit held behind a legacy call would have waited for its sync timeout to run out.
    assert slowest < SYNC_TIMEOUT / 3
    for thread in waiters:
        thread.join()
    assert answers == [202] * WAITERS  # nobody ran their jobs: each gets the async answer
