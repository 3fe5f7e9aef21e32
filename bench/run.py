"""`make bench`: issue 12's benchmarks, each a ratio against a baseline measured in this run.

Starts a private redis-server, a SecantusDB (MongoDB wire protocol) and SQLite under a
temporary directory, runs the measurements one after another (nothing else of ours runs
meanwhile), prints the table and exits non-zero when a correctness invariant broke
(a lost job, a failed job or a duplicate webhook in P1/P2). Slowness never fails it.

``BENCH_SCALE`` (default 1) multiplies job counts and load windows; ``BENCH_WORKERS``
(default 2) is W; ``BENCH_REPEAT`` (default 3) alternates P1's pipeline and bare loop that
many times and reports medians; ``BENCH_ONLY`` (comma list such as ``P1,P3``) runs a subset;
``BENCH_SQL_URL`` replaces SQLite; ``BENCH_PYSPY`` (a folder) records render worker 0 with
py-spy; ``BENCH_KEEP`` keeps the temporary directory.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import multiprocessing
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

API_KEY = "bench-key"
SECRET = "whsec_" + "YmVuY2gtd2ViaG9vay1zZWNyZXQtb2YtMzItYnl0ZXMh"
PRODUCT = "minatBakatUmum"
SUBMIT_PATH = "/api/reports/generate-async"
BATCH_PATH = "/api/reports/generate-batch"


def _log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- results


@dataclass
class Row:
    id: str
    measure: str
    ours: str = "-"
    baseline: str = "-"
    ratio: str = "-"
    target: str = "-"
    met: str = "-"


@dataclass
class Results:
    rows: list[Row] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def add(self, row: Row) -> None:
        self.rows.append(row)
        _log(f"{row.id} {row.measure}: ours {row.ours}, baseline {row.baseline}, {row.ratio}")

    def table(self) -> str:
        head = ("id", "measure", "ours", "baseline", "ratio", "target", "met?")
        lines = [
            "| " + " | ".join(head) + " |",
            "|" + "|".join("---" for _ in head) + "|",
        ]
        for r in self.rows:
            cells = (r.id, r.measure, r.ours, r.baseline, r.ratio, r.target, r.met)
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines)


def _yes(ok: bool) -> str:
    return "yes" if ok else "**no**"


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


def _settings(home: Path, redis_url: str, mongo_url: str) -> dict[str, str]:
    return {
        "PDFQUEUE_PROFILE": "development",
        "PDFQUEUE_HOME": str(home),
        "PDFQUEUE_REDIS_URL": redis_url,
        "PDFQUEUE_MONGO_URL": mongo_url,
        "PDFQUEUE_MONGO_DB": "bench",
        "PDFQUEUE_SQL_URL": os.environ.get("BENCH_SQL_URL")
        or f"sqlite:///{home / 'bench.sqlite3'}",
        "PDFQUEUE_API_KEYS": API_KEY,
        "PDFQUEUE_WEBHOOK_SECRET": SECRET,
        "PDFQUEUE_CALLBACK_ALLOWED_HOSTS": "127.0.0.1",
        "PDFQUEUE_STORAGE": "local",
        "PDFQUEUE_STORAGE_DIR": str(home / "pdfs"),
        "PDFQUEUE_PUBLIC_URL": "http://pdfqueue.bench",
        "PDFQUEUE_MAX_QUEUE_SIZE": "1000000",
        "PDFQUEUE_RATE_LIMIT": "100000000/minute",
        "PDFQUEUE_JOB_TIMEOUT": "120",
        "PDFQUEUE_LOG_LEVEL": "WARNING",
    }


@contextlib.contextmanager
def stack() -> Iterator[Stack]:
    from tests.receiver import WebhookReceiver
    from tests.servers import start_redis, start_secantus

    home = Path(tempfile.mkdtemp(prefix="pdfqueue-bench-"))
    redis_server = mongo_server = None
    receiver = WebhookReceiver()
    try:
        redis_server = start_redis(home / "redis-data", appendonly=True)
        mongo_server = start_secantus(home / "mongo")
        env = _settings(home, redis_server.url, mongo_server.url)
        os.environ.update(env)
        from flask_pdfqueue.migrations import upgrade
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
        for server in (redis_server, mongo_server):
            if server is not None:
                server.stop()
        if os.environ.get("BENCH_KEEP"):
            _log(f"kept {home}")
        else:
            shutil.rmtree(home, ignore_errors=True)


def _spawn(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
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


def _stop(processes: list[subprocess.Popen[bytes]], sig: int = signal.SIGTERM) -> None:
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


def _wait(what: str, check: Callable[[], bool], timeout: float, every: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout:.0f} s")
        time.sleep(every)


# --------------------------------------------------------------------------- the report HTML


def report_html(s: Stack) -> tuple[Path, str]:
    """The demo report's HTML as the project's ReportRenderer produces it, and its base URL."""
    from flask_pdfqueue.demo import DEMO_PRODUCT_ID, demo_documents

    renderer = s.state.renderer
    html = renderer.render_html(demo_documents()[0], DEMO_PRODUCT_ID)
    template = renderer._template(renderer.template_for(DEMO_PRODUCT_ID))
    base_url = Path(str(template.filename)).parent.as_uri() + "/"
    path = s.home / "report.html"
    path.write_text(html, encoding="utf-8")
    return path, base_url


def render_loop_main(html_path: str, base_url: str, count: int) -> None:
    """Child process of the P1 baseline: warm up, say ready, wait for go, render ``count``."""
    from weasyprint import HTML
    from weasyprint.text.fonts import FontConfiguration

    html = Path(html_path).read_text(encoding="utf-8")
    fonts = FontConfiguration()
    HTML(string=html, base_url=base_url).write_pdf(font_config=fonts)  # warm-up
    print("ready", flush=True)
    sys.stdin.readline()
    started = time.perf_counter()
    for _ in range(count):
        HTML(string=html, base_url=base_url).write_pdf(font_config=fonts)
    elapsed = time.perf_counter() - started
    print(json.dumps({"count": count, "seconds": elapsed}), flush=True)


def bare_render_rate(html_path: Path, base_url: str, workers: int, jobs: int) -> float:
    """Reports/s of W warm processes rendering ``jobs`` reports between them."""
    per = max(1, jobs // workers)
    argv = [sys.executable, str(Path(__file__)), "--render-loop", str(html_path), base_url]
    procs = [
        subprocess.Popen(
            [*argv, str(per)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=ROOT, text=True
        )
        for _ in range(workers)
    ]
    for p in procs:
        assert p.stdout is not None
        if p.stdout.readline().strip() != "ready":
            raise RuntimeError("render loop did not start")
    started = time.perf_counter()
    for p in procs:
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.flush()
    total = 0
    for p in procs:
        assert p.stdout is not None
        total += json.loads(p.stdout.readline())["count"]
        p.wait(timeout=60)
    return total / (time.perf_counter() - started)


# --------------------------------------------------------------------------- P1, P2


def seed_reports(s: Stack, codes: list[str]) -> None:
    from flask_pdfqueue.demo import demo_documents

    template = demo_documents()[0]
    docs = []
    for code in codes:
        doc = dict(template)
        doc["code"], doc["product_id"] = code, PRODUCT
        docs.append(doc)
    s.state.documents.collection.insert_many(docs)


def cpu_seconds(pid: int) -> float:
    """CPU time of ``pid`` and of its children it has waited for (work horses)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
    return ticks / os.sysconf("SC_CLK_TCK")


def _cpu_snapshot(s: Stack, procs: dict[str, subprocess.Popen[bytes]]) -> dict[str, float]:
    snap = {name: cpu_seconds(pid) for name, pid in s.server_pids.items()}
    snap.update({name: cpu_seconds(p.pid) for name, p in procs.items()})
    t = os.times()
    snap["bench process (submits, receiver)"] = t.user + t.system
    return snap


def _horse_times(s: Stack, job_ids: set[str]) -> list[float]:
    from rq.job import Job

    times = []
    for job in Job.fetch_many(sorted(job_ids), connection=s.state.redis):
        if job is not None and job.started_at and job.ended_at:
            times.append((job.ended_at - job.started_at).total_seconds())
    return times


def argv_flask(flask: list[str]) -> list[str]:
    return [*flask, "worker"]


def pipeline_rate(s: Stack, workers: int, jobs: int, results: Results, tag: str) -> float:
    """Reports/s through the product: submit via the app, W render + 1 delivery workers,
    until every job's webhook arrived. Records invariant violations in ``results``."""
    from rq import Worker

    codes = [f"{tag}-{i:05d}" for i in range(jobs)]
    seed_reports(s, codes)
    flask = [sys.executable, "-m", "flask", "--app", "flask_pdfqueue.service", "pdfqueue"]
    logs = s.home / "logs"
    spy = os.environ.get("BENCH_PYSPY")  # a folder: record render worker 0 with py-spy
    named = {}
    for n in range(workers):
        argv = [*flask, "worker"]
        if spy and n == 0:
            pyspy = str(Path(sys.executable).parent / "py-spy")
            out = str(Path(spy) / f"{tag}-render-0.txt")
            argv = [pyspy, "record", "--subprocesses", "--idle", "--format", "raw"]
            argv += ["--rate", "200", "--output", out, "--", *argv_flask(flask)]
        named[f"render worker {n} (+horses)"] = _spawn(argv, s.env, logs / f"{tag}-render-{n}.log")
    named["delivery worker (+horses)"] = _spawn(
        [*flask, "delivery-worker"], s.env, logs / f"{tag}-delivery.log"
    )
    procs = list(named.values())
    try:
        _wait(
            "workers registered",
            lambda: Worker.count(connection=s.state.redis) >= workers + 1,
            120,
        )
        time.sleep(1.0)
        client = s.app.test_client()
        before = len(s.receiver.requests())
        cpu_before = _cpu_snapshot(s, named)
        started = time.perf_counter()
        job_ids: set[str] = set()
        for code in codes:
            r = client.post(
                SUBMIT_PATH,
                json={"code": code, "productId": PRODUCT, "callback": s.callback},
                headers={"X-API-Key": API_KEY},
            )
            if r.status_code != 202:
                results.violations.append(f"{tag}: submit {code} answered {r.status_code}")
                continue
            job_ids.add(r.get_json()["job_id"])

        def arrived() -> int:
            return len(s.receiver.requests()) - before

        with contextlib.suppress(TimeoutError):
            _wait("webhooks", lambda: arrived() >= len(job_ids), 60 + 5 * jobs, every=0.05)
        elapsed = time.perf_counter() - started
        cpu_after = _cpu_snapshot(s, named)
        horse = _horse_times(s, job_ids)
        results.extra[f"{tag}_diag"] = {
            "jobs": len(job_ids),
            "wall_s": elapsed,
            "horse_mean_ms": 1000 * sum(horse) / max(1, len(horse)),
            "horse_busy_share": sum(horse) / (workers * elapsed),
            "cpu_ms_per_job": {
                k: 1000 * (cpu_after[k] - cpu_before[k]) / max(1, len(job_ids)) for k in cpu_after
            },
        }
        time.sleep(2.0)  # a duplicate would come now
        got = s.receiver.requests()[before:]
        per_job: dict[str, int] = {}
        for req in got:
            body = req.json
            if req.route != "/hook/pdf-complete" or body.get("status") != "completed":
                results.violations.append(f"{tag}: {body.get('job_id')} {body.get('status')}")
            per_job[body.get("job_id")] = per_job.get(body.get("job_id"), 0) + 1
        lost = job_ids - set(per_job)
        dups = {j: n for j, n in per_job.items() if n > 1}
        if lost:
            results.violations.append(f"{tag}: {len(lost)} jobs without a webhook")
        if dups:
            results.violations.append(f"{tag}: duplicate webhooks {dups}")
        return len(per_job.keys() & job_ids) / elapsed
    finally:
        if spy:  # py-spy writes its profile on SIGINT; the worker goes on until _stop
            spied = named["render worker 0 (+horses)"]
            os.kill(spied.pid, signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                spied.wait(timeout=30)
        _stop(procs)


def rq_default_rate(s: Stack, html_path: Path, base_url: str, workers: int, jobs: int) -> float:
    """Reports/s of W ``rq worker`` (fork per job, no preload) on bench.plain_jobs."""
    from rq import Queue, Worker

    queue = Queue("bench-plain", connection=s.state.redis)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    rq = str(Path(sys.executable).parent / "rq")
    procs = [
        _spawn(
            [rq, "worker", "--url", s.redis_url, "--logging_level", "WARNING", "bench-plain"],
            env,
            s.home / "logs" / f"rq-plain-{n}.log",
        )
        for n in range(workers)
    ]
    try:
        _wait("rq workers", lambda: Worker.count(queue=queue) >= workers, 60)
        time.sleep(0.5)
        started = time.perf_counter()
        ids = [
            queue.enqueue("bench.plain_jobs.render_report", str(html_path), base_url).id
            for _ in range(jobs)
        ]
        done = queue.finished_job_registry
        failed = queue.failed_job_registry
        _wait(
            "rq jobs",
            lambda: done.count + failed.count >= jobs,
            60 + 5 * jobs,
            every=0.05,
        )
        elapsed = time.perf_counter() - started
        if failed.count or set(done.get_job_ids()) != set(ids):
            raise RuntimeError(f"P2 baseline: {failed.count} failed jobs")
        return jobs / elapsed
    finally:
        _stop(procs)


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

    def pct(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


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
    lock = threading.Lock()
    latencies: list[float] = []
    counts = {"ok": 0, "errors": 0}
    headers = {"Content-Type": "application/json", "X-API-Key": API_KEY}

    def client(n: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        i = 0
        mine: list[float] = []
        ok = errors = 0
        while time.monotonic() < deadline:
            i += 1
            body = json.dumps(
                {"code": f"{tag}-{n}-{i}", "productId": PRODUCT, "callback": callback}
            )
            t0 = time.perf_counter()
            try:
                conn.request("POST", path, body, headers)
                resp = conn.getresponse()
                resp.read()
                mine.append(time.perf_counter() - t0)
                if resp.status in (200, 202):
                    ok += 1
                else:
                    errors += 1
                if resp.will_close:
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            except (OSError, http.client.HTTPException):
                errors += 1
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.close()
        with lock:
            latencies.extend(mine)
            counts["ok"] += ok
            counts["errors"] += errors

    threads = [threading.Thread(target=client, args=(n,)) for n in range(conns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out.put((counts["ok"], counts["errors"], latencies))


def load(
    port: int, path: str, conns: int, seconds: float, tag: str, callback: str, procs: int = 2
) -> Load:
    """Closed-loop load: ``conns`` keep-alive connections spread over ``procs`` processes."""
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    workers = [
        ctx.Process(
            target=_load_proc,
            args=(port, path, conns // procs, seconds, f"{tag}{k}", callback, out),
        )
        for k in range(procs)
    ]
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


def _gunicorn(s: Stack, app: str, name: str, extra_env: dict[str, str]) -> tuple[Any, int]:
    from tests.servers import free_port

    port = free_port()
    env = {**os.environ, **s.env, **extra_env, "PDFQUEUE_BIND": f"127.0.0.1:{port}"}
    env["PYTHONPATH"] = str(ROOT)
    gunicorn = str(Path(sys.executable).parent / "gunicorn")
    proc = _spawn(
        [gunicorn, "--config", str(ROOT / "config" / "gunicorn.py"), app],
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

    _wait(f"gunicorn {name}", up, 60)
    # both processes warm: a few requests on fresh connections
    for _ in range(8):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/nothing")
        conn.getresponse().read()
        conn.close()
    return proc, port


def _flush(s: Stack) -> None:
    s.state.redis.flushdb()


def _batch_fill(port: int, count: int, tag: str, callback: str) -> None:
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


# --------------------------------------------------------------------------- the run


def run() -> int:
    scale = float(os.environ.get("BENCH_SCALE", "1"))
    workers = int(os.environ.get("BENCH_WORKERS", "2"))
    only = {x.strip().upper() for x in os.environ.get("BENCH_ONLY", "").split(",") if x.strip()}
    jobs = max(workers, int(60 * scale))
    window = 10.0 * scale
    repeat = max(1, int(os.environ.get("BENCH_REPEAT", "3")))
    results = Results()

    def wanted(pid: str) -> bool:
        return not only or pid in only

    with stack() as s:
        html_path, base_url = report_html(s)
        p1 = None
        if wanted("P1") or wanted("P2"):
            # Pipeline and bare loop alternate, and the medians are reported: this VM's
            # speed drifts between runs a minute apart (bench/README.md).
            pipes: list[float] = []
            bares: list[float] = []
            for rep in range(repeat):
                _log(f"pipeline #{rep + 1}: {jobs} jobs, {workers} render + 1 delivery worker")
                pipes.append(pipeline_rate(s, workers, jobs, results, f"P1.{rep + 1}"))
                if not wanted("P1"):
                    break
                _log(f"bare warm render loop #{rep + 1} in {workers} processes, {jobs} renders")
                bares.append(bare_render_rate(html_path, base_url, workers, jobs))
            p1 = statistics.median(pipes)
        if wanted("P1"):
            bare = statistics.median(bares)
            ratios = [p / b for p, b in zip(pipes, bares, strict=True)]
            ratio = statistics.median(ratios)
            spread = f" (runs {', '.join(f'{r:.2f}' for r in ratios)})" if repeat > 1 else ""
            results.add(
                Row(
                    "P1",
                    f"end-to-end reports/s, W={workers}, {jobs} jobs ÷ warm WeasyPrint loop"
                    + (f", median of {repeat}" if repeat > 1 else ""),
                    f"{p1:.2f}/s",
                    f"{bare:.2f}/s",
                    f"{ratio:.3f}{spread}",
                    "≥ 0.95",
                    _yes(ratio >= 0.95),
                )
            )
        if wanted("P2"):
            _log(f"rq worker (fork, no preload) x{workers}, {jobs} plain render jobs")
            plain = rq_default_rate(s, html_path, base_url, workers, jobs)
            assert p1 is not None
            results.add(
                Row(
                    "P2",
                    "same pipeline ÷ `rq worker` default fork, no preload",
                    f"{p1:.2f}/s",
                    f"{plain:.2f}/s",
                    f"{p1 / plain:.2f}x",
                    "≥ 1.8x",
                    _yes(p1 / plain >= 1.8),
                )
            )
        if wanted("P7") or wanted("P8"):
            _flush(s)
            proc, port = _gunicorn(s, "flask_pdfqueue.service:create_app()", "service-p8", {})
            try:
                _log("P8: submit latency, empty queue (8 connections)")
                empty = load(port, SUBMIT_PATH, 8, window / 2, "P8e", s.callback)
                _flush(s)
                used = int(s.state.redis.info("memory")["used_memory"])
                _batch_fill(port, 1000, "P7", s.callback)
                per_job = (int(s.state.redis.info("memory")["used_memory"]) - used) / 1000
                breakdown = redis_breakdown(s.state.redis)
                results.extra["p7_breakdown"] = breakdown
                usage = sum(v for k, v in breakdown.items() if k.startswith("rq:job:"))
                one = next(iter(s.state.redis.scan_iter(match="rq:job:*", count=1000)), None)
                if one is not None:
                    fields = s.state.redis.hgetall(one)
                    results.extra["p7_job_hash"] = {
                        k.decode(): len(v) for k, v in sorted(fields.items())
                    }
                    results.extra["p7_encoding"] = s.state.redis.object("encoding", one)
                results.add(
                    Row(
                        "P7",
                        "Redis bytes per queued job (INFO used_memory Δ over 1,000 submits)",
                        f"{per_job:,.0f} B",
                        f"job hash alone {usage / 1000:,.0f} B",
                        "-",
                        "≤ 1 KB",
                        _yes(per_job <= 1024),
                    )
                )
                # What the product would save with Redis keeping job hashes as listpacks
                # (RQ's "data" field, 92 bytes, is over the default 64-byte limit).
                r = s.state.redis
                _flush(s)
                r.config_set("hash-max-listpack-value", "256")
                used = int(r.info("memory")["used_memory"])
                _batch_fill(port, 1000, "P7l", s.callback)
                packed = (int(r.info("memory")["used_memory"]) - used) / 1000
                r.config_set("hash-max-listpack-value", "64")
                _flush(s)
                _batch_fill(port, 1000, "P7b", s.callback)
                results.add(
                    Row(
                        "P7",
                        "same, redis-server hash-max-listpack-value 256 (a config change)",
                        f"{packed:,.0f} B",
                        f"{per_job:,.0f} B at the default 64",
                        f"{packed / per_job:.2f}",
                        "≤ 1 KB",
                        _yes(packed <= 1024),
                    )
                )
                _log("P8: filling the queue to 10,000 waiting jobs")
                _batch_fill(port, 9000, "P8f", s.callback)
                waiting = s.state.queue.waiting()
                full = load(port, SUBMIT_PATH, 8, window / 2, "P8w", s.callback)
                ratio = full.pct(0.99) / empty.pct(0.99)
                results.add(
                    Row(
                        "P8",
                        f"submit p99 with {waiting:,} waiting ÷ empty queue (8 conns)",
                        f"{full.pct(0.99):.1f} ms",
                        f"{empty.pct(0.99):.1f} ms",
                        f"{ratio:.2f}",
                        "≤ 1.5",
                        _yes(ratio <= 1.5),
                    )
                )
            finally:
                _stop([proc])
        if wanted("P3"):
            _flush(s)
            proc, port = _gunicorn(s, "flask_pdfqueue.service:create_app()", "service", {})
            try:
                _log(f"P3: full submit endpoint, 32 connections, {window:.0f} s")
                ours = load(port, SUBMIT_PATH, 32, window, "P3a", s.callback)
                _flush(s)
                _log(f"P3: full submit endpoint, 128 connections, {window:.0f} s")
                heavy = load(port, SUBMIT_PATH, 128, window, "P3b", s.callback)
            finally:
                _stop([proc])
            _flush(s)
            bare_env = {"BENCH_REDIS_URL": s.redis_url}
            proc, port = _gunicorn(s, "bench.bare_app:app", "bare", bare_env)
            try:
                _log(f"P3: bare Flask + RQ enqueue, 32 connections, {window:.0f} s")
                bare_load = load(port, "/enqueue", 32, window, "P3c", s.callback)
            finally:
                _stop([proc])
            ratio = ours.rps / bare_load.rps
            results.add(
                Row(
                    "P3",
                    "submit req/s ÷ bare Flask+RQ enqueue, 32 conns",
                    f"{ours.rps:.0f}/s (p99 {ours.pct(0.99):.0f} ms, {ours.errors} err)",
                    f"{bare_load.rps:.0f}/s (p99 {bare_load.pct(0.99):.0f} ms)",
                    f"{ratio:.2f}",
                    "≥ 0.7",
                    _yes(ratio >= 0.7),
                )
            )
            results.add(
                Row(
                    "P3",
                    "submit at 128 conns: p99, errors",
                    f"p99 {heavy.pct(0.99):.0f} ms, {heavy.errors} err, {heavy.rps:.0f}/s",
                    "-",
                    "-",
                    "p99 ≤ 50 ms, 0 errors",
                    _yes(heavy.pct(0.99) <= 50 and heavy.errors == 0),
                )
            )
            results.extra["p3_32_p99_ms"] = ours.pct(0.99)
    for pid, what in (
        ("P4", "burst of 2,000 at 64 conns"),
        ("P5", "Celery prefork comparison"),
        ("P6", "legacy endpoint vs render-inline"),
        ("P7", "peak RSS per worker, growth over 1,000 jobs"),
    ):
        results.add(Row(pid, what, "not measured yet"))
    print()
    print(
        f"flask-pdfqueue benchmarks: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
        f"nproc {os.cpu_count()}, Python {sys.version.split()[0]}, W={workers}, "
        f"BENCH_SCALE={scale:g}"
    )
    print(results.table())
    for key, diag in results.extra.items():
        if key.endswith("_diag"):
            print(f"\n{key[:-5]} pipeline, where the time went: " + json.dumps(diag, indent=1))
    if "p7_breakdown" in results.extra:
        print("\nP7 Redis memory by key shape after 1,000 submits (MEMORY USAGE, bytes):")
        for shape, size in list(results.extra["p7_breakdown"].items())[:12]:
            print(f"  {size:>10,}  {shape}")
        print(
            f"  one job hash ({results.extra.get('p7_encoding')!r}), field: value bytes:",
            json.dumps(results.extra.get("p7_job_hash")),
        )
    if results.violations:
        print("\nCORRECTNESS VIOLATIONS:", file=sys.stderr)
        for v in results.violations:
            print(f"  {v}", file=sys.stderr)
        return 1
    return 0


def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] == "--render-loop":
        render_loop_main(sys.argv[2], sys.argv[3], int(sys.argv[4]))
        return
    sys.exit(run())


if __name__ == "__main__":
    main()
