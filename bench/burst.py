"""P4: a burst of submissions through the real gunicorn service, until every webhook arrived,
against the time the bare warm render loop needs for the same number of reports."""

from __future__ import annotations

import contextlib
import time
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from bench.load import fire, flush, start_gunicorn
from bench.memory import RssSampler, rss_rows
from bench.renders import bare_render_rate, seed_reports
from bench.results import Results, Row, yes
from bench.stack import SUBMIT_PATH, Stack, log, stop
from bench.workers import check_webhooks, product_workers, webhooks_after

CONNECTIONS = 64


def burst_rows(
    s: Stack,
    html: tuple[Path, str],
    workers: int,
    jobs: int,
    bare_jobs: int,
    results: Results,
    rss: bool,
    *,
    fork: bool = False,
) -> None:
    """P4 (and, with ``rss``, P7's RSS rows sampled during the same run), with the default
    render workers or, with ``fork``, ``worker --fork`` (for information).

    The P1 limit is measured right before and right after the burst (the bare loop,
    ``bare_jobs`` renders each time) and their mean used: the burst takes minutes, and this
    VM's speed drifts over minutes.
    """
    flush(s)
    tag = "P4f" if fork else "P4"
    mode = "`worker --fork` (for information): " if fork else ""
    codes = [f"{tag}-{i:05d}" for i in range(jobs)]
    seed_reports(s, codes)
    log(f"{tag}: bare warm render loop before the burst, {bare_jobs} renders")
    bare_before = bare_render_rate(*html, workers, bare_jobs)
    violations = len(results.violations)
    proc, port = start_gunicorn(s, "flask_pdfqueue.service:create_app()", f"service-{tag}", {})
    try:
        with product_workers(s, workers, tag, fork=fork) as render:
            sampler = RssSampler([p.pid for p in render]) if rss else None
            watch: AbstractContextManager[Any] = sampler or contextlib.nullcontext()
            before = len(s.receiver.requests())
            log(f"{tag}: burst of {jobs} submits at {CONNECTIONS} connections, then the renders")
            with watch:
                started = time.perf_counter()
                answers = fire(port, SUBMIT_PATH, codes, CONNECTIONS, s.callback)
                submitted = time.perf_counter() - started
                job_ids = {a.job_id for a in answers if 200 <= a.status < 300 and a.job_id}
                log(f"{tag}: {len(job_ids)} accepted in {submitted:.1f} s; waiting for webhooks")
                webhooks_after(s, before, job_ids, 120 + 3 * jobs / bare_before)
                elapsed = time.perf_counter() - started
            per_job = check_webhooks(s, before, job_ids, tag, results, settle=5.0)
    finally:
        stop([proc])
    log(f"{tag}: bare warm render loop after the burst, {bare_jobs} renders")
    bare_after = bare_render_rate(*html, workers, bare_jobs)
    refused = [a for a in answers if not (200 <= a.status < 300 and a.job_id)]
    if refused:
        kinds: dict[str, int] = {}
        for a in refused:
            kind = a.error or str(a.status)
            kinds[kind] = kinds.get(kind, 0) + 1
        results.violations.append(f"{tag}: {len(refused)} of {jobs} submits not accepted: {kinds}")
    once = sum(1 for j in job_ids if per_job.get(j) == 1)
    bare = (bare_before + bare_after) / 2
    limit = jobs / bare
    ratio = elapsed / limit
    latencies = sorted(a.seconds for a in answers)
    p99 = latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))] * 1000
    results.add(
        Row(
            "P4",
            f"{mode}burst of {jobs:,} at {CONNECTIONS} conns (gunicorn): wall time to the last "
            f"webhook ÷ P1-limit time ({jobs:,} ÷ bare loop reports/s)",
            f"{elapsed:.0f} s ({jobs / elapsed:.2f}/s; {len(job_ids):,}/{jobs:,} 2xx in "
            f"{submitted:.1f} s, submit p99 {p99:.0f} ms; {once:,} with exactly one webhook)",
            f"{limit:.0f} s ({bare:.2f}/s: {bare_before:.2f} before, {bare_after:.2f} after)",
            f"{ratio:.2f}",
            "≤ 1.1; 100 % 2xx; all completed, one webhook each",
            yes(ratio <= 1.1 and once == jobs and len(results.violations) == violations),
        )
    )
    if sampler is not None:
        rss_rows(sampler, jobs, f"(sampled during {tag})", results, fork=fork)
