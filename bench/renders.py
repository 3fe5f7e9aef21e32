"""P1 and P2: reports per second through the pipeline, a bare render loop, RQ's default worker."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from bench.results import Results
from bench.stack import PRODUCT, ROOT, Stack, spawn, stop, wait_for
from bench.workers import (
    FLASK,
    check_webhooks,
    render_worker_argv,
    submit_via_app,
    wait_registered,
    webhooks_after,
)

# --------------------------------------------------------------------------- the report HTML


def report_html(s: Stack) -> tuple[Path, str]:
    """The demo report's HTML as the project's ReportRenderer produces it, and its base URL."""
    from flask_pdfqueue.reports.packs.psikotes.samples import DEMO_PRODUCT_ID, sample_documents

    renderer = s.state.renderer
    html = renderer.render_html(sample_documents()[0], DEMO_PRODUCT_ID)
    base_url = renderer.base_url(DEMO_PRODUCT_ID)
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
    argv = [sys.executable, "-m", "bench.run", "--render-loop", str(html_path), base_url]
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
    from flask_pdfqueue.reports.packs.psikotes.samples import sample_documents

    template = sample_documents()[0]
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


def pipeline_rate(
    s: Stack, workers: int, jobs: int, results: Results, tag: str, *, fork: bool = False
) -> float:
    """Reports/s through the product: submit via the app, W render + 1 delivery workers
    (the default worker, or ``worker --fork``), until every job's webhook arrived. Records
    invariant violations in ``results``."""
    codes = [f"{tag}-{i:05d}" for i in range(jobs)]
    seed_reports(s, codes)
    logs = s.home / "logs"
    spy = os.environ.get("BENCH_PYSPY")  # a folder: record render worker 0 with py-spy
    named = {}
    for n in range(workers):
        argv = render_worker_argv(fork)
        if spy and n == 0:
            pyspy = str(Path(sys.executable).parent / "py-spy")
            out = str(Path(spy) / f"{tag}-render-0.txt")
            record = [pyspy, "record", "--subprocesses", "--idle", "--format", "raw"]
            argv = [*record, "--rate", "200", "--output", out, "--", *argv]
        name = f"render worker {n}" + (" (+horses)" if fork else " (+job process)")
        named[name] = spawn(argv, s.env, logs / f"{tag}-render-{n}.log")
    named["delivery worker"] = spawn(
        [*FLASK, "delivery-worker"], s.env, logs / f"{tag}-delivery.log"
    )
    procs = list(named.values())
    try:
        wait_registered(s, workers + 1)
        client = s.app.test_client()
        before = len(s.receiver.requests())
        cpu_before = _cpu_snapshot(s, named)
        started = time.perf_counter()
        job_ids: set[str] = set()
        for code in codes:
            job_id = submit_via_app(s, client, code)
            if job_id is None:
                results.violations.append(f"{tag}: submit {code} was refused")
                continue
            job_ids.add(job_id)
        webhooks_after(s, before, job_ids, 60 + 5 * jobs)
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
        per_job = check_webhooks(s, before, job_ids, tag, results)
        return len(per_job.keys() & job_ids) / elapsed
    finally:
        if spy:  # py-spy writes its profile on SIGINT; the worker goes on until stop
            spied = procs[0]  # render worker 0
            os.kill(spied.pid, signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                spied.wait(timeout=30)
        stop(procs)


def rq_default_rate(s: Stack, html_path: Path, base_url: str, workers: int, jobs: int) -> float:
    """Reports/s of W ``rq worker`` (fork per job, no preload) on bench.plain_jobs."""
    from rq import Queue, Worker

    # A queue of its own per round: the registries keep earlier rounds' jobs for a while.
    queue = Queue(f"bench-plain-{time.monotonic_ns()}", connection=s.state.redis)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    rq = str(Path(sys.executable).parent / "rq")
    procs = [
        spawn(
            [rq, "worker", "--url", s.redis_url, "--logging_level", "WARNING", queue.name],
            env,
            s.home / "logs" / f"rq-plain-{n}.log",
        )
        for n in range(workers)
    ]
    try:
        wait_for("rq workers", lambda: Worker.count(queue=queue) >= workers, 60)
        time.sleep(0.5)
        started = time.perf_counter()
        ids = [
            queue.enqueue("bench.plain_jobs.render_report", str(html_path), base_url).id
            for _ in range(jobs)
        ]
        done = queue.finished_job_registry
        failed = queue.failed_job_registry
        wait_for(
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
        stop(procs)
