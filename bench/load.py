"""HTTP load (P3, P8) and what Redis holds per job (P7)."""

from __future__ import annotations

import contextlib
import http.client
import itertools
import json
import multiprocessing
import os
import queue as queue_module
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from bench.stack import API_KEY, BATCH_PATH, PRODUCT, ROOT, Stack, spawn, wait_for

# --------------------------------------------------------------------------- HTTP load


@dataclass
class Load:
    requests: int
    seconds: float
    errors: int
    latencies: list[float]

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    @property
    def mean(self) -> float:
        """Mean latency in ms."""
        return 1000 * sum(self.latencies) / max(1, len(self.latencies))

    def pct(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


class _Connection:
    """One keep-alive connection posting submits; what each answer was, and how long it
    took from a given moment (the send, or the scheduled send time)."""

    HEADERS: ClassVar[dict[str, str]] = {"Content-Type": "application/json", "X-API-Key": API_KEY}

    def __init__(self, port: int) -> None:
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.latencies: list[float] = []
        self.ok = self.errors = 0

    def post(self, path: str, body: str, since: float) -> None:
        try:
            self.conn.request("POST", path, body, self.HEADERS)
            resp = self.conn.getresponse()
            resp.read()
            self.latencies.append(time.perf_counter() - since)
            if resp.status in (200, 202):
                self.ok += 1
            else:
                self.errors += 1
            if resp.will_close:
                self._reopen()
        except (OSError, http.client.HTTPException):
            self.errors += 1
            self._reopen()

    def _reopen(self) -> None:
        self.conn.close()
        self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)


def _threads_then_report(client: Callable[[], _Connection], count: int, out: Any) -> None:
    """Run ``count`` threads of ``client`` and put their answers together on ``out``."""
    finished: list[_Connection] = []
    lock = threading.Lock()

    def run() -> None:
        connection = client()
        connection.conn.close()
        with lock:
            finished.append(connection)

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    latencies = [seconds for c in finished for seconds in c.latencies]
    out.put((sum(c.ok for c in finished), sum(c.errors for c in finished), latencies))


def _load_proc(
    port: int,
    path: str,
    conns: int,
    seconds: float,
    tag: str,
    callback: str,
    out: Any,
) -> None:
    deadline = time.monotonic() + seconds
    numbers = itertools.count()

    def client() -> _Connection:
        connection = _Connection(port)
        while time.monotonic() < deadline:
            body = {"code": f"{tag}-{next(numbers)}", "productId": PRODUCT, "callback": callback}
            connection.post(path, json.dumps(body), time.perf_counter())
        return connection

    _threads_then_report(client, conns, out)


def _in_processes(target: Callable[..., None], args: list[tuple[Any, ...]], seconds: float) -> Load:
    """Run ``target(*args[k], out)`` in a forked process per ``args`` item; their answers
    put together, over the wall time of them all."""
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    workers = [ctx.Process(target=target, args=(*a, out)) for a in args]
    started = time.perf_counter()
    for w in workers:
        w.start()
    total = Load(0, 0.0, 0, [])
    for _ in workers:
        ok, errors, lat = out.get(timeout=seconds + 120)
        total.requests += ok
        total.errors += errors
        total.latencies.extend(lat)
    for w in workers:
        w.join()
    total.seconds = time.perf_counter() - started
    return total


def load(
    port: int, path: str, conns: int, seconds: float, tag: str, callback: str, procs: int = 2
) -> Load:
    """Closed-loop load: ``conns`` keep-alive connections spread over ``procs`` processes."""
    args = [(port, path, conns // procs, seconds, f"{tag}{k}", callback) for k in range(procs)]
    return _in_processes(_load_proc, args, seconds)


def _open_loop_proc(
    port: int,
    path: str,
    rate: float,
    seconds: float,
    offset: float,
    tag: str,
    callback: str,
    out: Any,
) -> None:
    """Send at ``rate``/s for ``seconds``, each request at its scheduled time (from
    ``offset`` into each 1/rate period); latency counts from the scheduled time, so a
    request that had to wait for a free connection shows it (no coordinated omission)."""
    due: queue_module.Queue[tuple[int, float] | None] = queue_module.Queue()

    def client() -> _Connection:
        connection = _Connection(port)
        while (item := due.get()) is not None:
            i, scheduled = item
            body = {"code": f"{tag}-{i}", "productId": PRODUCT, "callback": callback}
            connection.post(path, json.dumps(body), scheduled)
        return connection

    senders = threading.Thread(target=_threads_then_report, args=(client, OPEN_LOOP_SENDERS, out))
    senders.start()
    start = time.perf_counter() + 0.2 + offset / rate
    for i in range(int(rate * seconds)):
        scheduled = start + i / rate
        pause = scheduled - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
        due.put((i, scheduled))
    for _ in range(OPEN_LOOP_SENDERS):
        due.put(None)
    senders.join()


#: Connections each open-loop process may have in flight (a late answer never delays
#: the next send while one is free).
OPEN_LOOP_SENDERS = 32


def open_loop(
    port: int, path: str, rate: float, seconds: float, tag: str, callback: str, procs: int = 2
) -> Load:
    """Open-loop load: ``rate`` requests/s in all, sent on schedule by ``procs`` processes
    (interleaved), whatever the answers' pace."""
    args = [
        (port, path, rate / procs, seconds, k / procs, f"{tag}{k}", callback) for k in range(procs)
    ]
    return _in_processes(_open_loop_proc, args, seconds)


@dataclass(frozen=True)
class Answer:
    """One request of :func:`fire`: HTTP status (0: no answer), job id, seconds, error."""

    status: int
    job_id: str | None
    seconds: float
    error: str = ""


def _fire_proc(
    port: int, path: str, plans: list[list[str]], timeout: float, callback: str, out: Any
) -> None:
    headers = {"Content-Type": "application/json", "X-API-Key": API_KEY}
    answers: list[tuple[int, str | None, float, str]] = []
    lock = threading.Lock()

    def client(codes: list[str]) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        mine: list[tuple[int, str | None, float, str]] = []
        for code in codes:
            body = json.dumps({"code": code, "productId": PRODUCT, "callback": callback})
            t0 = time.perf_counter()
            try:
                conn.request("POST", path, body, headers)
                resp = conn.getresponse()
                data = resp.read()
                job_id = None
                with contextlib.suppress(ValueError, AttributeError):
                    job_id = json.loads(data).get("job_id")
                mine.append((resp.status, job_id, time.perf_counter() - t0, ""))
                if resp.will_close:
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
            except (OSError, http.client.HTTPException) as exc:
                kind = "timeout" if isinstance(exc, TimeoutError) else type(exc).__name__
                mine.append((0, None, time.perf_counter() - t0, kind))
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        conn.close()
        with lock:
            answers.extend(mine)

    threads = [threading.Thread(target=client, args=(plan,)) for plan in plans]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out.put(answers)


def fire(
    port: int,
    path: str,
    codes: list[str],
    conns: int,
    callback: str,
    timeout: float = 60.0,
    procs: int = 2,
) -> list[Answer]:
    """POST one submit per code, over ``conns`` keep-alive connections in ``procs`` processes
    (connection k sends codes k, k + conns, …); each request waits ``timeout`` s at most."""
    plans = [codes[k::conns] for k in range(conns)]
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    workers = [
        ctx.Process(target=_fire_proc, args=(port, path, plans[k::procs], timeout, callback, out))
        for k in range(procs)
    ]
    for w in workers:
        w.start()
    answers: list[Answer] = []
    for _ in workers:
        answers.extend(Answer(*a) for a in out.get(timeout=timeout * len(codes) + 120))
    for w in workers:
        w.join()
    return answers


def start_gunicorn(
    s: Stack, app: str, name: str, extra_env: dict[str, str], options: list[str] | None = None
) -> tuple[Any, int]:
    """gunicorn serving ``app``, with config/gunicorn.py unless ``options`` replace it."""
    from tests.servers import free_port

    port = free_port()
    env = {**os.environ, **s.env, **extra_env, "PDFQUEUE_BIND": f"127.0.0.1:{port}"}
    env["PYTHONPATH"] = str(ROOT)
    gunicorn = str(Path(sys.executable).parent / "gunicorn")
    proc = spawn(
        [gunicorn, *(options or ["--config", str(ROOT / "config" / "gunicorn.py")])]
        + (["--bind", f"127.0.0.1:{port}"] if options else [])
        + [app],
        env,
        s.home / "logs" / f"gunicorn-{name}.log",
    )

    def up() -> bool:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        try:
            conn.request("GET", "/nothing")
            conn.getresponse().read()
            return True
        except OSError:
            return False
        finally:
            conn.close()

    wait_for(f"gunicorn {name}", up, 60)
    # both processes warm: a few requests on fresh connections
    for _ in range(8):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/nothing")
        conn.getresponse().read()
        conn.close()
    return proc, port


def flush(s: Stack) -> None:
    s.state.redis.flushdb()


def batch_fill(port: int, count: int, tag: str, callback: str) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Content-Type": "application/json", "X-API-Key": API_KEY}
    for b in range(0, count, 100):
        jobs = [
            {"code": f"{tag}-{b + i}", "productId": PRODUCT, "callback": callback}
            for i in range(min(100, count - b))
        ]
        conn.request("POST", BATCH_PATH, json.dumps({"jobs": jobs}), headers)
        resp = conn.getresponse()
        body = resp.read()
        if resp.status != 202:
            raise RuntimeError(f"batch fill answered {resp.status}: {body[:200]!r}")
    conn.close()


def redis_breakdown(r: Any) -> dict[str, int]:
    """MEMORY USAGE summed per key shape (ids replaced by ``*``), largest first."""
    import re

    shapes: dict[str, int] = {}
    for key in r.scan_iter(count=1000):
        name = key.decode() if isinstance(key, bytes) else str(key)
        shape = re.sub(r"[0-9a-f]{8}-?[0-9a-f-]{8,}|[0-9a-f]{16,}|\d+", "*", name)
        shapes[shape] = shapes.get(shape, 0) + int(r.memory_usage(name) or 0)
    return dict(sorted(shapes.items(), key=lambda kv: -kv[1]))
