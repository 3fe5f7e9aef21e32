"""``flask pdfqueue worker | delivery-worker``: the two kinds of worker process."""

from __future__ import annotations

import gc
import logging

import click
from flask import current_app
from flask.cli import with_appcontext
from pymongo.errors import PyMongoError
from redis.exceptions import RedisError

from ..jobs.delivery import courier
from ..jobs.delivery.courier import Courier
from ..jobs.outages import DEPENDENCIES
from ..queue.redis_servers import support_note
from ..rq_jobs import on_horse_killed
from ..state import current_pdfqueue
from ..worker.classes import InProcessWorker, PDFWorker
from ..worker.watchdog import Watchdog, WatchedWorker, forks_die_with_me

log = logging.getLogger(__name__)


@click.command("worker")
@with_appcontext
@click.option("--burst", is_flag=True, help="Exit once the queues are empty.")
@click.option("--name", default=None, help="Worker name (default: RQ's host.pid name).")
@click.option("--max-jobs", type=int, default=None, help="Exit after this many jobs.")
@click.option(
    "--retire-after",
    type=int,
    default=None,
    help="Replace the job process after this many jobs (default: PDFQUEUE_WORKER_MAX_JOBS).",
)
@click.option("--preload/--no-preload", default=True, help="Warm the renderer before any job.")
@click.option(
    "--fork/--no-fork",
    default=None,
    help="A forked work horse per run, or every run in one warm job process that a "
    "watchdog replaces when it dies, hangs or grows (the default; PDFQUEUE_WORKER_FORK).",
)
@click.option("--logging-level", default="INFO", show_default=True)
def worker_command(
    burst: bool,
    name: str | None,
    max_jobs: int | None,
    retire_after: int | None,
    preload: bool,
    fork: bool | None,
    logging_level: str,
) -> None:
    """Work the high, normal and low queues in that order, with RQ's scheduler.

    Every run starts warm. By default the watchdog loads WeasyPrint and the compiled
    templates, and the job process it forks adds its own fonts and a warm-up render
    before its first job (so nothing of a render is held twice). With ``--fork`` this
    process loads all of it and each run's work horse inherits it (see the README's
    Operations for the trade-off).
    """
    from ..reports.rendering import (
        harfbuzz_subset_available,  # (WeasyPrint: only when a worker starts)
    )

    state = current_pdfqueue()
    if not harfbuzz_subset_available():
        click.secho(
            "WARNING: HarfBuzz subsetting is unavailable (install libharfbuzz-subset0): "
            "WeasyPrint falls back to fontTools and renders 1.6-2.7x slower.",
            fg="red",
            err=True,
        )
    try:
        note = support_note(str(state.redis.info("server")["redis_version"]))
    except RedisError:
        note = None  # RQ says so at once, in its own words
    if note:
        click.secho(f"WARNING: {note}", fg="red", err=True)
    try:  # every job looks its report up by code and product id
        state.documents.ensure_indexes()
    except PyMongoError as exc:
        log.warning("could not make sure of the report collection's index: %s", exc)
    forking = state.settings.worker_fork if fork is None else fork
    if preload:
        if forking:
            state.renderer.preload()
        else:
            state.renderer.prepare()
        _freeze_heap()
    level = logging_level.upper()
    if forking:
        worker = PDFWorker(
            state.queue.ordered,
            connection=state.redis,
            name=name,
            work_horse_killed_handler=on_horse_killed,
            needs=DEPENDENCIES,
        )
        worker.work(burst=burst, with_scheduler=True, max_jobs=max_jobs, logging_level=level)
        return
    settings = state.settings

    def start(report_fd: int, process_name: str) -> WatchedWorker:
        return WatchedWorker(
            state.queue.ordered,
            connection=state.redis,
            name=process_name,
            needs=DEPENDENCIES,
            report_fd=report_fd,
            retire_after=retire_after or settings.worker_max_jobs,
            max_rss_mb=settings.worker_max_rss_mb,
        )

    def work(worker: WatchedWorker, remaining: int | None) -> None:
        if preload:
            state.renderer.preload()
            _freeze_heap()
        courier.install(Courier(state, current_app._get_current_object()))  # type: ignore[attr-defined]
        try:
            worker.work(burst=burst, with_scheduler=True, max_jobs=remaining, logging_level=level)
        finally:
            _close_courier()

    watchdog = Watchdog(state, start, name=name, burst=burst, max_jobs=max_jobs, work=work)
    raise SystemExit(watchdog.run())


def _close_courier() -> None:
    """The job process is ending: what its courier has not attempted goes to the delivery
    worker, and the attempt under way has a moment to finish."""
    ours = courier.installed()
    if ours is not None:
        ours.close(courier.CLOSE_SECONDS)
        courier.install(None)


def _freeze_heap() -> None:
    """Collect the warm-up's garbage, then leave what is loaded out of every later
    collection: a full collection no longer walks the imported modules and compiled
    templates (renders are about 7 % faster), and a forked process's pages stay shared.
    Freezing without collecting first would keep the warm-up's garbage for ever."""
    gc.collect()
    gc.freeze()


@click.command("delivery-worker")
@with_appcontext
@click.option("--burst", is_flag=True, help="Exit once the queue is empty.")
@click.option("--name", default=None, help="Worker name (default: RQ's host.pid name).")
@click.option("--logging-level", default="INFO", show_default=True)
def delivery_worker_command(burst: bool, name: str | None, logging_level: str) -> None:
    """Work the webhook queue: one delivery attempt per job, retries scheduled; and run
    the reconciler on a thread beside it.

    Kept apart from the render workers, so a slow or dead receiver never holds one.
    """
    state = current_pdfqueue()
    worker = InProcessWorker(
        [state.queue.webhooks], connection=state.redis, name=name, reconciles=True
    )
    forks_die_with_me()  # RQ's scheduler: killed with this process, it frees its locks
    worker.work(burst=burst, with_scheduler=True, logging_level=logging_level.upper())


COMMANDS = (worker_command, delivery_worker_command)
