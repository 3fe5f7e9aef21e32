"""P3: the submit endpoint against a durable baseline, closed and open loop.

(a) Requests/s at 32 connections against ``bench.durable_app`` (validate, one SQL row in
its own transaction, an RQ enqueue with ``Retry`` and ``job_timeout``) under the same
gunicorn configuration, Redis and SQL database: ``repeat`` alternating runs, the median
of the per-pair ratios. ``bench.contract_app`` (the same plus what SPEC's submit asks:
key, rate limit, dedupe, subscriber row, the ``queued`` mirror in MongoDB, position,
estimate, done plainly) runs in the
same rotation, for information: it tells the contract's cost from our code's. The
enqueue-only app is measured once, for information.
(b) Open loop (``load.open_loop``): 100 and 200 submits/s, latency from each request's
scheduled send time. (c) Errors at 128 connections.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys

from bench.load import Load, flush, load, open_loop, start_gunicorn
from bench.results import Results, Row, paired_ratio_row, yes
from bench.stack import ROOT, SUBMIT_PATH, Stack, log, stop

SERVICE = "flask_pdfqueue.service:create_app()"
#: (submits/s, p99 target in ms) of the open-loop rows.
OPEN_LOOP = ((100, 25.0), (200, 50.0))


def _serve(s: Stack, app: str, name: str) -> tuple[subprocess.Popen[bytes], int]:
    env = {
        "BENCH_REDIS_URL": s.redis_url,
        "BENCH_SQL_URL": s.env["PDFQUEUE_SQL_URL"],
        "BENCH_MONGO_URL": s.mongo_url,
        "BENCH_MONGO_DB": s.env["PDFQUEUE_MONGO_DB"],
    }
    if app.startswith("bench."):  # its tables, made once: gunicorn's processes would race
        module = app.split(":")[0]
        subprocess.run([sys.executable, "-c", f"import {module}"], env={**os.environ, **env},
                       cwd=ROOT, check=True)  # fmt: skip
    return start_gunicorn(s, app, name, env)


def _summary(run: Load) -> str:
    return f"{run.rps:.0f}/s (p99 {run.pct(0.99):.0f} ms, {run.errors} err)"


def p3_rows(s: Stack, window: float, repeat: int, results: Results) -> None:
    flush(s)
    ours_proc, ours_port = _serve(s, SERVICE, "service")
    durable_proc, durable_port = _serve(s, "bench.durable_app:app", "durable")
    contract_proc, contract_port = _serve(s, "bench.contract_app:app", "contract")
    ours: list[Load] = []
    durable: list[Load] = []
    contract: list[Load] = []
    try:
        for rep in range(repeat):
            log(f"P3 #{rep + 1}: submit endpoint, 32 connections, {window:.0f} s")
            ours.append(load(ours_port, SUBMIT_PATH, 32, window, f"P3a{rep}", s.callback))
            flush(s)
            log(f"P3 #{rep + 1}: durable baseline, 32 connections, {window:.0f} s")
            durable.append(load(durable_port, "/enqueue", 32, window, f"P3d{rep}", s.callback))
            flush(s)
            log(f"P3 #{rep + 1}: contract baseline, 32 connections, {window:.0f} s")
            contract.append(load(contract_port, "/submit", 32, window, f"P3c{rep}", s.callback))
            flush(s)
        opened = []
        for rate, _ in OPEN_LOOP:
            log(f"P3: open loop, {rate} submits/s for {2 * window:.0f} s")
            opened.append(
                open_loop(ours_port, SUBMIT_PATH, rate, 2 * window, f"P3o{rate}", s.callback)
            )
            flush(s)
        log(f"P3: submit endpoint, 128 connections, {window:.0f} s")
        heavy = load(ours_port, SUBMIT_PATH, 128, window, "P3h", s.callback)
        flush(s)
    finally:
        stop([ours_proc, durable_proc, contract_proc])
    bare_proc, bare_port = start_gunicorn(s, "bench.bare_app:app", "bare",
                                          {"BENCH_REDIS_URL": s.redis_url})  # fmt: skip
    try:
        log(f"P3: enqueue-only Flask + RQ, 32 connections, {window:.0f} s")
        bare = load(bare_port, "/enqueue", 32, window, "P3b", s.callback)
    finally:
        stop([bare_proc])
    flush(s)

    row = paired_ratio_row(
        "P3",
        "submit req/s ÷ durable Flask view (validate, SQL row, RQ enqueue), 32 conns",
        [run.rps for run in ours],
        [run.rps for run in durable],
        0.8,
    )
    row.ours += f", p99 {ours[len(ours) // 2].pct(0.99):.0f} ms"
    results.add(row)
    for measure, runs, against in (
        (
            "contract baseline ÷ durable Flask view, 32 conns, for information: the most the "
            "contract's per-request work leaves of the durable rate (`bench/contract_app.py`)",
            contract,
            durable,
        ),
        (
            "submit req/s ÷ contract baseline (key, rate limit, dedupe, job + subscriber rows, "
            "enqueue, `queued` mirror, position, estimate in a plain view), 32 conns, "
            "for information",
            ours,
            contract,
        ),
    ):
        rates = [run.rps for run in runs], [run.rps for run in against]
        results.add(paired_ratio_row("P3", measure, *rates, None))
    results.add(
        Row(
            "P3",
            "submit req/s ÷ enqueue-only Flask + RQ (records nothing), 32 conns, for information",
            _summary(ours[-1]),
            _summary(bare),
            f"{ours[-1].rps / bare.rps:.2f}",
        )
    )
    for (rate, target), run in zip(OPEN_LOOP, opened, strict=True):
        results.add(
            Row(
                "P3",
                f"open loop, {rate} submits/s for {2 * window:.0f} s: p99 from the scheduled "
                "send time, errors",
                f"p99 {run.pct(0.99):.1f} ms, p50 {run.pct(0.5):.1f} ms, {run.errors} err, "
                f"{run.requests} answered",
                "-",
                "-",
                f"p99 ≤ {target:g} ms, 0 errors",
                yes(run.pct(0.99) <= target and run.errors == 0),
            )
        )
    results.add(
        Row(
            "P3",
            "submit at 128 conns (closed loop): errors",
            f"{heavy.errors} err, {heavy.rps:.0f}/s, p99 {heavy.pct(0.99):.0f} ms",
            "-",
            "-",
            "0 errors",
            yes(heavy.errors == 0),
        )
    )
    results.extra["p3_32_p99_ms"] = ours[-1].pct(0.99)
    results.samples["P3"] = {
        "ours_32": [dataclasses.asdict(run) for run in ours],
        "durable_32": [dataclasses.asdict(run) for run in durable],
        "contract_32": [dataclasses.asdict(run) for run in contract],
        "bare_32": dataclasses.asdict(bare),
        "open_loop": {str(rate): dataclasses.asdict(run) for (rate, _), run in zip(
            OPEN_LOOP, opened, strict=True)},
        "ours_128": dataclasses.asdict(heavy),
    }  # fmt: skip
