"""Where the time goes: pyinstrument over the submit path and over the worker's job function.

``python -m bench.profile`` starts the same private stack as ``bench/run.py`` and writes
``bench/profiles/submit.txt`` (N submits through the real app, in-process test client)
and ``bench/profiles/job.txt`` (render jobs and their webhook deliveries run by an
in-process ``rq.SimpleWorker``, so the profile sees the job function's steps; the fork
per job is measured by ``run.py``'s P1 against the bare render loop instead).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from pyinstrument import Profiler

from bench.renders import seed_reports
from bench.stack import API_KEY, PRODUCT, SUBMIT_PATH, stack

OUT = Path(__file__).resolve().parent / "profiles"


def main() -> None:
    submits = int(os.environ.get("BENCH_PROFILE_SUBMITS", "300"))
    jobs = int(os.environ.get("BENCH_PROFILE_JOBS", "10"))
    OUT.mkdir(exist_ok=True)
    with stack() as s:
        from rq import SimpleWorker

        client = s.app.test_client()
        headers = {"X-API-Key": API_KEY}
        for i in range(20):  # warm: first-request setup, connection pools
            client.post(
                SUBMIT_PATH,
                json={"code": f"warm-{i}", "productId": PRODUCT, "callback": s.callback},
                headers=headers,
            )
        s.state.redis.flushdb()
        profiler = Profiler(interval=0.0005)
        started = time.perf_counter()
        with profiler:
            for i in range(submits):
                r = client.post(
                    SUBMIT_PATH,
                    json={"code": f"prof-{i}", "productId": PRODUCT, "callback": s.callback},
                    headers=headers,
                )
                assert r.status_code == 202, r.get_data(as_text=True)
        per = (time.perf_counter() - started) / submits * 1000
        (OUT / "submit.txt").write_text(
            f"{submits} submits in-process, {per:.2f} ms each (profiled)\n\n"
            + profiler.output_text(unicode=True, show_all=False)
        )
        print(f"submit: {per:.2f} ms per submit (profiled); bench/profiles/submit.txt")

        s.state.redis.flushdb()
        codes = [f"job-{i}" for i in range(jobs)]
        seed_reports(s, codes)
        with s.app.app_context():
            s.state.renderer.preload()
            for code in codes:
                client.post(
                    SUBMIT_PATH,
                    json={"code": code, "productId": PRODUCT, "callback": s.callback},
                    headers=headers,
                )
            profiler = Profiler(interval=0.001)
            started = time.perf_counter()
            with profiler:
                SimpleWorker(s.state.queue.ordered, connection=s.state.redis).work(
                    burst=True, with_scheduler=False, logging_level="WARNING"
                )
                SimpleWorker([s.state.queue.webhooks], connection=s.state.redis).work(
                    burst=True, with_scheduler=False, logging_level="WARNING"
                )
            per = (time.perf_counter() - started) / jobs * 1000
        delivered = len(s.receiver.requests())
        (OUT / "job.txt").write_text(
            f"{jobs} jobs + {delivered} webhooks, SimpleWorker in-process, {per:.0f} ms per job\n\n"
            + profiler.output_text(
                unicode=True, show_all=False, processor_options={"filter_threshold": 0.002}
            )
        )
        print(f"job: {per:.0f} ms per job, {delivered} webhooks; bench/profiles/job.txt")


if __name__ == "__main__":
    main()
