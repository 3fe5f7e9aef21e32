"""P5: our pipeline's reports/s against Celery running the same job (bench/celery_app.py)."""

from __future__ import annotations

import contextlib
import os
import sys
import time
import uuid
from collections.abc import Callable, Iterator

from bench.inline import child_env
from bench.renders import pipeline_rate, seed_reports
from bench.results import Results, Row, paired_ratio_row
from bench.stack import PRODUCT, Stack, log, spawn, stop
from bench.workers import (
    FLASK,
    check_webhooks,
    submit_via_app,
    wait_ready,
    wait_registered,
    webhooks_after,
)


def celery_available() -> bool:
    try:
        import celery  # noqa: F401
    except ImportError:
        return False
    return True


@contextlib.contextmanager
def _celery_worker(s: Stack, workers: int, tag: str, job: str) -> Iterator[None]:
    """``celery worker --pool prefork --concurrency W``, every pool process warm."""
    broker = s.redis_url.rsplit("/", 1)[0] + "/2"  # the private redis-server, its own db
    ready = s.home / f"{tag}-ready"
    env = {**s.env, **child_env(s, s.home / f"{tag}-pdfs", ready)}
    env.update(BENCH_CELERY_BROKER=broker, BENCH_CELERY_JOB=job)
    argv = [sys.executable, "-m", "celery", "-A", "bench.celery_app", "worker"]
    argv += ["--pool", "prefork", "--concurrency", str(workers), "--loglevel", "WARNING"]
    argv += ["--hostname", f"{tag}@%h"]
    procs = [spawn(argv, env, s.home / "logs" / f"{tag}-celery.log")]
    try:
        if job == "product":  # the product's job owes its webhook to our delivery worker
            delivery = spawn([*FLASK, "delivery-worker"], s.env, s.home / "logs" / f"{tag}-d.log")
            procs.append(delivery)
            wait_registered(s, 1)
        wait_ready(ready, workers, "celery pool processes warm", procs, 120)
        time.sleep(1.0)  # the consumer starts after the pool
        os.environ["BENCH_CELERY_BROKER"] = broker  # read when bench.celery_app is imported
        from bench.celery_app import app

        app.conf.broker_url = broker
        yield
    finally:
        stop(procs)


def _timed(s: Stack, tag: str, codes: list[str], send: Callable[[str], str | None]) -> float:
    """Reports/s from the first send until the last webhook; a job that was not accepted,
    failed, lost or announced twice raises. ``send(code)`` returns the job id."""
    before = len(s.receiver.requests())
    started = time.perf_counter()
    job_ids = {job_id for job_id in map(send, codes) if job_id is not None}
    webhooks_after(s, before, job_ids, 60 + 5 * len(codes))
    elapsed = time.perf_counter() - started
    baseline = Results()
    per_job = check_webhooks(s, before, job_ids, tag, baseline)
    if len(job_ids) < len(codes):
        baseline.violations.append(f"{tag}: {len(codes) - len(job_ids)} submits refused")
    if baseline.violations:
        raise RuntimeError(f"P5 baseline (Celery): {'; '.join(baseline.violations[:5])}")
    return len(per_job.keys() & job_ids) / elapsed


def celery_rate(s: Stack, workers: int, jobs: int, tag: str) -> float:
    """Reports/s of Celery on ``jobs`` plain render tasks (bench.inline), which post their
    own webhook."""
    with _celery_worker(s, workers, tag, "inline"):
        from bench.celery_app import render_report

        codes = [f"{tag}-{i:05d}" for i in range(jobs)]
        seed_reports(s, codes)

        def send(code: str) -> str:
            job_id = uuid.uuid4().hex
            render_report.delay(job_id, code, PRODUCT, s.callback)
            return job_id

        # One task per pool process first, so the clock starts with the consumer connected
        # (Celery's start-up, mingle included, is not counted, as our workers' is not).
        _timed(s, f"{tag}-warm", codes[:workers], send)
        time.sleep(0.5)
        return _timed(s, tag, codes, send)


def celery_product_rate(s: Stack, workers: int, jobs: int, tag: str) -> float:
    """Reports/s of Celery running the product's job: each report submitted through the
    app as in our pipeline (its SQL row and queued state), then handed to Celery."""
    with _celery_worker(s, workers, tag, "product"):
        from bench.celery_app import product_job

        client = s.app.test_client()
        codes = [f"{tag}-{i:05d}" for i in range(jobs + workers)]
        seed_reports(s, codes)

        def send(code: str) -> str | None:
            job_id = submit_via_app(s, client, code)
            if job_id is not None:
                product_job.delay(job_id)
            return job_id

        try:
            _timed(s, f"{tag}-warm", codes[:workers], send)
            time.sleep(0.5)
            return _timed(s, tag, codes[workers:], send)
        finally:  # the submits' RQ runs: no RQ worker ran them, none must later
            for queue in s.state.queue.ordered:
                queue.empty()


def celery_rows(s: Stack, workers: int, jobs: int, repeat: int, results: Results) -> None:
    """P5: our pipeline (the default worker, and ``--fork`` for information), Celery running
    the product's job, and Celery running a plain render task alternate ``repeat`` times on
    ``jobs`` jobs; each row reports the median of its per-repetition ratios (the VM's speed
    drifts, as for P1)."""
    if not celery_available():
        results.add(Row("P5", "Celery prefork comparison", "not run: `make bench` installs celery"))
        return
    ours: list[float] = []
    forked: list[float] = []
    theirs: list[float] = []
    plain: list[float] = []
    for rep in range(repeat):
        log(f"P5 pipeline #{rep + 1}: {jobs} jobs, {workers} render + 1 delivery worker")
        ours.append(pipeline_rate(s, workers, jobs, results, f"P5p.{rep + 1}"))
        log(f"P5 Celery prefork -c {workers} running the product's job #{rep + 1}")
        theirs.append(celery_product_rate(s, workers, jobs, f"P5c{rep + 1}"))
        log(f"P5 pipeline #{rep + 1} with worker --fork: {jobs} jobs")
        forked.append(pipeline_rate(s, workers, jobs, results, f"P5f.{rep + 1}", fork=True))
        log(f"P5 Celery prefork -c {workers}, plain render task #{rep + 1}: {jobs} tasks")
        plain.append(celery_rate(s, workers, jobs, f"P5i{rep + 1}"))
    same = f"end-to-end reports/s ÷ Celery prefork -c {workers} running the same job, {jobs} jobs"
    results.add(paired_ratio_row("P5", same, ours, theirs, 1.05))
    results.add(paired_ratio_row("P5", "`worker --fork` (for information): " + same, forked,
                                 theirs, None))  # fmt: skip
    bare = f"(for information) ÷ a plain Celery render task without records, {jobs} jobs"
    results.add(paired_ratio_row("P5", "default worker " + bare, ours, plain, None))
    results.add(paired_ratio_row("P5", "`worker --fork` " + bare, forked, plain, None))
    results.samples["P5"] = {"ours": ours, "fork": forked, "celery": theirs, "plain": plain}
