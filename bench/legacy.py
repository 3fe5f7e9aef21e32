"""P6: the legacy synchronous endpoint under a burst of waiting calls, against the old design
(bench/legacy_app.py: render inside the request, gunicorn sync workers)."""

from __future__ import annotations

import os
import time

from bench.inline import child_env
from bench.load import Answer, fire, flush, start_gunicorn
from bench.renders import seed_reports
from bench.results import Results, Row, yes
from bench.stack import Stack, log, stop
from bench.workers import check_webhooks, product_workers, wait_ready, webhooks_after

LEGACY_PATH = "/api/reports/generate"
CLIENT_TIMEOUT = 30.0


def _outcomes(answers: list[Answer]) -> dict[str, int]:
    """Answers by status, and calls without an answer by error (``timeout``, …)."""
    kinds: dict[str, int] = {}
    for a in answers:
        kind = a.error or str(a.status)
        kinds[kind] = kinds.get(kind, 0) + 1
    return dict(sorted(kinds.items()))


def _spread(answers: list[Answer]) -> str:
    seconds = sorted(a.seconds for a in answers)
    return f"median {seconds[len(seconds) // 2]:.1f} s, max {seconds[-1]:.1f} s"


def legacy_rows(s: Stack, workers: int, calls: int, results: Results) -> None:
    """``calls`` concurrent legacy calls (one connection each, distinct seeded reports, a
    ``CLIENT_TIMEOUT`` each), at ours and at the old design."""
    sync_timeout = os.environ.get("BENCH_SYNC_TIMEOUT", "25")
    flush(s)
    codes = [f"P6-{i:04d}" for i in range(calls)]
    seed_reports(s, codes)
    env = {"PDFQUEUE_SYNC_TIMEOUT": sync_timeout}
    with product_workers(s, workers, "P6"):
        proc, port = start_gunicorn(s, "flask_pdfqueue.service:create_app()", "service-p6", env)
        try:
            log(f"P6: {calls} concurrent legacy calls, PDFQUEUE_SYNC_TIMEOUT={sync_timeout}")
            before = len(s.receiver.requests())
            started = time.perf_counter()
            ours = fire(port, LEGACY_PATH, codes, calls, s.callback, timeout=CLIENT_TIMEOUT)
            ours_wall = time.perf_counter() - started
            # The jobs answered 202 go on: each must still complete and announce once.
            job_ids = {a.job_id for a in ours if a.status in (200, 202) and a.job_id}
            webhooks_after(s, before, job_ids, 120 + 5 * calls)
            check_webhooks(s, before, job_ids, "P6", results)
        finally:
            stop([proc])
    ready = s.home / "P6-old-ready"
    old_env = child_env(s, s.home / "P6-old-pdfs", ready)
    options = ["--worker-class", "sync", "--workers", str(workers), "--timeout", "30"]
    proc, port = start_gunicorn(s, "bench.legacy_app:app", "old-design", old_env, options)
    try:
        wait_ready(ready, workers, "old-design sync workers warm", [proc], 120)
        log(f"P6: {calls} concurrent calls at the old design (render inline, sync workers)")
        started = time.perf_counter()
        old = fire(port, "/generate", codes, calls, s.callback, timeout=CLIENT_TIMEOUT)
        old_wall = time.perf_counter() - started
    finally:
        stop([proc])
    answered = sum(1 for a in ours if a.status in (200, 202))
    old_failed = sum(1 for a in old if a.status != 200)
    results.extra["p6"] = {
        "ours": _outcomes(ours),
        "ours_wall_s": ours_wall,
        "old": _outcomes(old),
        "old_wall_s": old_wall,
    }
    results.add(
        Row(
            "P6",
            f"legacy `POST {LEGACY_PATH}`, {calls} concurrent calls, {CLIENT_TIMEOUT:.0f} s "
            f"client timeout: answered 200/202 (PDFQUEUE_SYNC_TIMEOUT={sync_timeout}) "
            f"vs render-inline app, gunicorn sync -w {workers}",
            f"{100 * answered / calls:.0f} % answered {_outcomes(ours)}; {_spread(ours)}",
            f"{100 * old_failed / calls:.0f} % failed {_outcomes(old)}; {_spread(old)}",
            "-",
            "ours 100 % 200/202",
            yes(answered == calls),
        )
    )
