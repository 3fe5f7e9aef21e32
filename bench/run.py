"""`make bench`: issue 12's benchmarks, each a ratio against a baseline measured in this run.

Starts a private redis-server, a SecantusDB (MongoDB wire protocol) and SQLite under a
temporary directory, runs the measurements one after another (nothing else of ours runs
meanwhile), prints the table and exits non-zero when a correctness invariant broke
(a refused submit, a lost or failed job or a duplicate webhook in any run of our pipeline:
P1, P4, P5, P6, P7; a failed baseline job in P2 or P5). Slowness never fails it.

``BENCH_SCALE`` (default 1) multiplies job counts and load windows; ``BENCH_WORKERS``
(default 2) is W; ``BENCH_REPEAT`` (default 3) alternates P1's pipeline and bare loop (and
P5's pipeline and Celery) that many times and reports medians; ``BENCH_ONLY`` (comma list
such as ``P1,P3``) runs a subset; ``BENCH_SYNC_TIMEOUT`` (default 25) is the service's
``PDFQUEUE_SYNC_TIMEOUT`` in P6; ``BENCH_SQL_URL`` replaces SQLite, and ``BENCH_SQL=postgresql``
starts a private PostgreSQL to replace it; ``BENCH_PYSPY`` (a
folder) records render worker 0 with py-spy; ``BENCH_KEEP`` keeps the temporary directory.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time

from bench.burst import burst_rows
from bench.celery_rate import celery_rows
from bench.legacy import legacy_rows
from bench.load import batch_fill, flush, load, redis_breakdown, start_gunicorn
from bench.memory import rss_run
from bench.renders import (
    bare_render_rate,
    pipeline_rate,
    render_loop_main,
    report_html,
    rq_default_rate,
)
from bench.report import save, update_readme
from bench.results import Results, Row, paired_ratio_row, yes
from bench.stack import SUBMIT_PATH, log, stack, stop
from bench.submits import p3_rows

# --------------------------------------------------------------------------- the run


def run() -> int:
    scale = float(os.environ.get("BENCH_SCALE", "1"))
    workers = int(os.environ.get("BENCH_WORKERS", "2"))
    only = {x.strip().upper() for x in os.environ.get("BENCH_ONLY", "").split(",") if x.strip()}
    jobs = max(workers, int(60 * scale))
    window = 10.0 * scale
    repeat = max(1, int(os.environ.get("BENCH_REPEAT", "3")))
    results = Results()
    started = time.time()

    def wanted(pid: str) -> bool:
        return not only or pid in only

    with stack() as s:
        html_path, base_url = report_html(s)
        if wanted("P1") or wanted("P2"):
            # Pipeline and baselines alternate, and medians of per-pair ratios are reported:
            # this VM's speed drifts between runs a minute apart (bench/README.md). The
            # pipeline runs with the default render workers, and with `worker --fork` for
            # information; P2's baseline (RQ's own worker) runs in the same rounds.
            pipes: list[float] = []
            forked: list[float] = []
            bares: list[float] = []
            plains: list[float] = []
            for rep in range(repeat):
                log(f"pipeline #{rep + 1}: {jobs} jobs, {workers} render + 1 delivery worker")
                pipes.append(pipeline_rate(s, workers, jobs, results, f"P1.{rep + 1}"))
                if wanted("P1"):
                    log(f"bare warm render loop #{rep + 1} in {workers} processes, {jobs} renders")
                    bares.append(bare_render_rate(html_path, base_url, workers, jobs))
                    log(f"pipeline #{rep + 1} with worker --fork: {jobs} jobs")
                    forked.append(
                        pipeline_rate(s, workers, jobs, results, f"P1f.{rep + 1}", fork=True)
                    )
                if wanted("P2"):
                    log(f"rq worker (fork, no preload) x{workers}, {jobs} plain render jobs")
                    plains.append(rq_default_rate(s, html_path, base_url, workers, jobs))
            results.samples["P1"] = {"ours": pipes, "fork": forked, "bare": bares}
            results.samples["P2"] = {"ours": pipes, "rq_worker": plains}
        if wanted("P1"):
            measure = f"end-to-end reports/s, W={workers}, {jobs} jobs ÷ warm WeasyPrint loop"
            results.add(paired_ratio_row("P1", measure, pipes, bares, 0.95))
            results.add(paired_ratio_row("P1", "`worker --fork` (for information): " + measure,
                                         forked, bares, None))  # fmt: skip
        if wanted("P2"):
            results.add(
                paired_ratio_row(
                    "P2", "same pipeline ÷ `rq worker` default fork, no preload", pipes, plains, 1.8
                )
            )
        # Rows that run workers come before the submit-only loads (P7 Redis, P8, P3): those
        # leave thousands of queued jobs in SQL, which a worker's reconciler would re-enqueue.
        if wanted("P4"):
            burst = max(20, int(2000 * scale))
            for fork in (False, True):
                burst_rows(
                    s, (html_path, base_url), workers, burst, jobs, results, wanted("P7"), fork=fork
                )
        if wanted("P5"):
            celery_rows(s, workers, jobs, repeat, results)
        if wanted("P6"):
            legacy_rows(s, workers, max(10, int(100 * scale)), results)
        if wanted("P7") and not wanted("P4"):
            for fork in (False, True):
                rss_run(s, workers, max(20, int(300 * scale)), results, fork=fork)
        if wanted("P7") or wanted("P8"):
            flush(s)
            proc, port = start_gunicorn(s, "flask_pdfqueue.service:create_app()", "service-p8", {})
            try:
                # Both P8 runs come after the same warm-up: a run at the same load.
                load(port, SUBMIT_PATH, 8, window / 2, "P8we", s.callback)
                flush(s)
                log("P8: submit latency, empty queue (8 connections)")
                empty = load(port, SUBMIT_PATH, 8, window / 2, "P8e", s.callback)
                flush(s)
                used = int(s.state.redis.info("memory")["used_memory"])
                batch_fill(port, 1000, "P7", s.callback)
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
                        yes(per_job <= 1024),
                    )
                )
                log("P8: filling the queue to 10,000 waiting jobs")
                batch_fill(port, 9000, "P8f", s.callback)
                waiting = s.state.queue.waiting()
                load(port, SUBMIT_PATH, 8, window / 2, "P8ww", s.callback)
                full = load(port, SUBMIT_PATH, 8, window / 2, "P8w", s.callback)
                ratio = full.pct(0.99) / empty.pct(0.99)
                results.samples["P8"] = {
                    "empty": dataclasses.asdict(empty),
                    "full": dataclasses.asdict(full),
                }
                results.add(
                    Row(
                        "P8",
                        f"submit p99 with {waiting:,} waiting ÷ empty queue (8 conns)",
                        f"{full.pct(0.99):.1f} ms",
                        f"{empty.pct(0.99):.1f} ms",
                        f"{ratio:.2f}",
                        "≤ 1.5",
                        yes(ratio <= 1.5),
                    )
                )
            finally:
                stop([proc])
        if wanted("P3"):
            p3_rows(s, window, repeat, results)
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
    for key in ("p6", "p7_rss", "p7_rss_fork"):
        if key in results.extra:
            print(f"\n{key.upper()}: " + json.dumps(results.extra[key]))
    settings: dict[str, object] = {"BENCH_SCALE": scale, "W": workers, "BENCH_REPEAT": repeat}
    if only:
        settings["BENCH_ONLY"] = ",".join(sorted(only))
    saved = save(results, settings, started)
    print(f"\nraw results: {saved}")
    if not only and update_readme():
        print("bench/README.md: its table is made again from the newest run and the one before")
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
