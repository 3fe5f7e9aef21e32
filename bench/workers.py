"""The product's workers for a measurement, and the webhook check every pipeline run ends with."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from flask.testing import FlaskClient

from bench.results import Results
from bench.stack import API_KEY, PRODUCT, SUBMIT_PATH, Stack, spawn, stop, wait_for

FLASK = [sys.executable, "-m", "flask", "--app", "flask_pdfqueue.service:create_worker_app"]
FLASK += ["pdfqueue"]


@contextlib.contextmanager
def product_workers(
    s: Stack, workers: int, tag: str, *, fork: bool = False
) -> Iterator[list[subprocess.Popen[bytes]]]:
    """W ``flask pdfqueue worker`` (renderer preloaded; the default, or ``--fork``) and 1
    delivery worker, registered.

    Yields the render workers (RQ worker parents, or watchdogs; their work horses or job
    processes are their children).
    """
    logs = s.home / "logs"
    argv = render_worker_argv(fork)
    render = [spawn(argv, s.env, logs / f"{tag}-render-{n}.log") for n in range(workers)]
    procs = [*render, spawn([*FLASK, "delivery-worker"], s.env, logs / f"{tag}-delivery.log")]
    try:
        wait_registered(s, workers + 1)
        yield render
    finally:
        stop(procs)


def render_worker_argv(fork: bool) -> list[str]:
    """``flask pdfqueue worker --fork`` (a horse per run), or ``--no-fork`` (the default:
    one watched job process)."""
    return [*FLASK, "worker", "--fork" if fork else "--no-fork"]


def wait_registered(s: Stack, count: int) -> None:
    """Wait until ``count`` RQ workers registered (after their preload), and a second more."""
    from rq import Worker

    wait_for("workers registered", lambda: Worker.count(connection=s.state.redis) >= count, 120)
    time.sleep(1.0)


def submit_via_app(s: Stack, client: FlaskClient, code: str) -> str | None:
    """Submit the seeded report ``code`` through the app; its job id, or None if refused."""
    answer = client.post(
        SUBMIT_PATH,
        json={"code": code, "productId": PRODUCT, "callback": s.callback},
        headers={"X-API-Key": API_KEY},
    )
    return str(answer.get_json()["job_id"]) if answer.status_code == 202 else None


def wait_ready(ready_dir: Path, count: int, what: str, procs: list[Any], timeout: float) -> None:
    """Wait until ``count`` processes wrote their pid file (bench.inline warm-up done)."""

    def ready() -> bool:
        for p in procs:
            if p.poll() is not None:
                raise RuntimeError(f"{what} exited with {p.returncode} before it was ready")
        return ready_dir.is_dir() and len(list(ready_dir.iterdir())) >= count

    wait_for(what, ready, timeout)


def webhooks_after(s: Stack, before: int, job_ids: set[str], timeout: float) -> int:
    """Wait until a webhook for each of ``job_ids`` arrived after the first ``before``
    requests (another run's late webhook does not stop the clock); say how many of them."""

    def arrived() -> int:
        named = {req.json.get("job_id") for req in s.receiver.requests()[before:]}
        return len(job_ids & named)

    every = 0.05 if len(job_ids) < 200 else 0.2
    with contextlib.suppress(TimeoutError):
        wait_for("webhooks", lambda: arrived() >= len(job_ids), timeout, every=every)
    return arrived()


def check_webhooks(
    s: Stack, before: int, job_ids: set[str], tag: str, results: Results, settle: float = 2.0
) -> dict[str, int]:
    """After ``settle`` s (a duplicate would come then): every job exactly one ``completed``.

    Violations go to ``results`` (they fail ``make bench``); returns webhooks per job id.
    """
    time.sleep(settle)
    per_job: dict[str, int] = {}
    for req in s.receiver.requests()[before:]:
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
    return per_job
