"""P5: our pipeline's reports/s against the same job as a Celery task (bench/celery_app.py)."""

from __future__ import annotations

import os
import sys
import time
import uuid

from bench.inline import child_env
from bench.renders import pipeline_rate, seed_reports
from bench.results import Results, Row, paired_ratio_row
from bench.stack import PRODUCT, Stack, log, spawn, stop
from bench.workers import check_webhooks, wait_ready, webhooks_after


def celery_available() -> bool:
    try:
        import celery  # noqa: F401
    except ImportError:
        return False
    return True


def celery_rate(s: Stack, workers: int, jobs: int, results: Results, tag: str) -> float:
    """Reports/s of a Celery prefork worker (concurrency W) on ``jobs`` render tasks, from
    the first ``delay`` until the last webhook. A lost, failed or repeated task raises."""
    broker = s.redis_url.rsplit("/", 1)[0] + "/2"  # the private redis-server, its own db
    ready = s.home / f"{tag}-ready"
    env = {**s.env, **child_env(s, s.home / f"{tag}-pdfs", ready), "BENCH_CELERY_BROKER": broker}
    argv = [sys.executable, "-m", "celery", "-A", "bench.celery_app", "worker"]
    argv += ["--pool", "prefork", "--concurrency", str(workers), "--loglevel", "WARNING"]
    argv += ["--hostname", f"{tag}@%h"]
    proc = spawn(argv, env, s.home / "logs" / f"{tag}-celery.log")
    try:
        wait_ready(ready, workers, "celery pool processes warm", [proc], 120)
        time.sleep(1.0)  # the consumer starts after the pool
        os.environ["BENCH_CELERY_BROKER"] = broker  # read when bench.celery_app is imported
        from bench.celery_app import app, render_report

        app.conf.broker_url = broker
        codes = [f"{tag}-{i:05d}" for i in range(jobs)]
        seed_reports(s, codes)
        callback = s.callback
        # One task per pool process first, so the clock starts with the consumer connected
        # (Celery's start-up, mingle included, is not counted, as our workers' is not).
        before = len(s.receiver.requests())
        warm = {f"warm-{n}" for n in range(workers)}
        for job_id in warm:
            render_report.delay(job_id, codes[0], PRODUCT, callback)
        if webhooks_after(s, before, warm, 120) < len(warm):
            raise RuntimeError("P5 baseline (Celery): the warm-up tasks did not finish")
        time.sleep(0.5)
        before = len(s.receiver.requests())
        started = time.perf_counter()
        job_ids = set()
        for code in codes:
            job_id = uuid.uuid4().hex
            render_report.delay(job_id, code, PRODUCT, callback)
            job_ids.add(job_id)
        webhooks_after(s, before, job_ids, 60 + 5 * jobs)
        elapsed = time.perf_counter() - started
        baseline = Results()
        per_job = check_webhooks(s, before, job_ids, tag, baseline)
        if baseline.violations:
            raise RuntimeError(f"P5 baseline (Celery): {'; '.join(baseline.violations[:5])}")
        return len(per_job.keys() & job_ids) / elapsed
    finally:
        stop([proc])


def celery_rows(s: Stack, workers: int, jobs: int, repeat: int, results: Results) -> None:
    """P5: pipeline and Celery alternate ``repeat`` times on ``jobs`` jobs; the median of the
    per-pair ratios is reported (the VM's speed drifts, as for P1)."""
    if not celery_available():
        results.add(Row("P5", "Celery prefork comparison", "not run: `make bench` installs celery"))
        return
    ours: list[float] = []
    in_process: list[float] = []
    theirs: list[float] = []
    for rep in range(repeat):
        log(f"P5 pipeline #{rep + 1}: {jobs} jobs, {workers} render + 1 delivery worker")
        ours.append(pipeline_rate(s, workers, jobs, results, f"P5p.{rep + 1}"))
        log(f"P5 Celery prefork -c {workers} #{rep + 1}: {jobs} tasks")
        theirs.append(celery_rate(s, workers, jobs, results, f"P5c{rep + 1}"))
        log(f"P5 pipeline #{rep + 1} with worker --no-fork: {jobs} jobs")
        in_process.append(pipeline_rate(s, workers, jobs, results, f"P5n.{rep + 1}", fork=False))
    measure = f"end-to-end reports/s ÷ Celery prefork -c {workers}, same job, {jobs} jobs"
    results.add(paired_ratio_row("P5", measure, ours, theirs, 1.0))
    results.add(
        paired_ratio_row(
            "P5", measure.replace("end-to-end", "`worker --no-fork`"), in_process, theirs, 1.0
        )
    )
