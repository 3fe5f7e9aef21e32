"""``flask pdfqueue …``: run workers, reconcile, replay webhooks, seed the demo reports."""

from __future__ import annotations

import gc
import logging

import click
from flask.cli import AppGroup
from pymongo.errors import PyMongoError
from redis.exceptions import RedisError

from . import cli_operations, cli_render
from .attempts import on_horse_killed
from .cli_operations import moment
from .outages import DEPENDENCIES
from .redis_support import support_note
from .rq_worker import InProcessWorker, PDFWorker
from .state import current_pdfqueue
from .timestamps import iso_utc

log = logging.getLogger(__name__)

pdfqueue_cli = AppGroup("pdfqueue", help="Operate the PDF queue.")
for _command in (*cli_operations.COMMANDS, cli_render.render_command):
    pdfqueue_cli.add_command(_command)


@pdfqueue_cli.command("worker")
@click.option("--burst", is_flag=True, help="Exit once the queues are empty.")
@click.option("--name", default=None, help="Worker name (default: RQ's host.pid name).")
@click.option("--max-jobs", type=int, default=None, help="Exit after this many jobs.")
@click.option("--preload/--no-preload", default=True, help="Warm the renderer before any job.")
@click.option(
    "--fork/--no-fork",
    default=None,
    help="A work horse per run (the default), or every run in this process "
    "(default: PDFQUEUE_WORKER_FORK).",
)
@click.option("--logging-level", default="INFO", show_default=True)
def worker_command(
    burst: bool,
    name: str | None,
    max_jobs: int | None,
    preload: bool,
    fork: bool | None,
    logging_level: str,
) -> None:
    """Work the high, normal and low queues in that order, with RQ's scheduler.

    The renderer (WeasyPrint, fonts, compiled templates) is loaded in this process
    before any job, so every run starts warm: in a forked work horse, or here with
    ``--no-fork`` (see the README's Operations for the trade-off).
    """
    from .rendering import harfbuzz_subset_available

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
    if preload:
        state.renderer.preload()
        gc.freeze()  # what is loaded now stays shared with every forked work horse
    worker: PDFWorker | InProcessWorker
    if state.settings.worker_fork if fork is None else fork:
        worker = PDFWorker(
            state.queue.ordered,
            connection=state.redis,
            name=name,
            work_horse_killed_handler=on_horse_killed,
            needs=DEPENDENCIES,
        )
    else:
        worker = InProcessWorker(
            state.queue.ordered, connection=state.redis, name=name, needs=DEPENDENCIES
        )
    worker.work(
        burst=burst, with_scheduler=True, max_jobs=max_jobs, logging_level=logging_level.upper()
    )


@pdfqueue_cli.command("delivery-worker")
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
    worker.work(burst=burst, with_scheduler=True, logging_level=logging_level.upper())


@pdfqueue_cli.command("reconcile")
def reconcile_command() -> None:
    """Run one reconciler round now: lost jobs, stuck deliveries, lagging mirrors."""
    from .reconcile import reconcile

    report = reconcile(current_pdfqueue())
    click.echo(
        f"jobs queued again: {report.jobs_requeued}, lost runs settled: {report.runs_lost}, "
        f"claims released: {report.claims_released}, "
        f"deliveries queued: {report.deliveries_queued}, "
        f"mirrors written: {report.mirrors_written}, "
        f"idempotency keys forgotten: {report.idempotency_keys_forgotten}"
    )


@pdfqueue_cli.command("replay-webhooks")
@click.option("--job", "job_id", default=None, help="Only this job's events.")
@click.option(
    "--state",
    "states",
    type=click.Choice(["failed", "pending", "delivered"]),
    multiple=True,
    help="Only events in this delivery state (repeatable; default: failed).",
)
@click.option(
    "--since",
    default=None,
    help="Only events created since then: an ISO 8601 time, or an age such as 24h, 30m, 2d.",
)
@click.option("--dry-run", is_flag=True, help="List what would be sent, send nothing.")
def replay_webhooks_command(
    job_id: str | None, states: tuple[str, ...], since: str | None, dry_run: bool
) -> None:
    """Send webhook events again, with the same body and webhook-id.

    After n8n was down longer than the retry schedule: `--state failed --since 2d`.
    """
    from .delivery.replay import replay

    state = current_pdfqueue()
    chosen = state.deliveries.find(
        job_id=job_id,
        states=states or ("failed",),
        since=moment(since, "--since") if since else None,
    )
    for delivery in chosen:
        click.echo(
            f"{delivery.webhook_id}  job {delivery.job_id}  {delivery.event}  "
            f"{delivery.state} after {delivery.attempts} attempt(s), "
            f"created {iso_utc(delivery.created_at)}"
        )
    if dry_run:
        click.echo(f"{len(chosen)} event(s) would be sent again")
        return
    replayed = replay(state, chosen)
    click.echo(f"{len(replayed)} event(s) queued for delivery")


@pdfqueue_cli.group("db")
def db_cli() -> None:
    """The SQL schema: migrate it, show its revision, print its DDL."""


@db_cli.command("upgrade")
@click.option("--revision", default="head", show_default=True, help="Migrate up to this one.")
def db_upgrade_command(revision: str) -> None:
    """Create or migrate the SQL tables (safe to run again).

    A database made before migrations existed is recognised and migrated too.
    """
    from .migrations import current, upgrade

    engine = current_pdfqueue().jobs.engine
    upgrade(engine, revision)
    click.echo(f"schema at revision {current(engine)}")


@db_cli.command("downgrade")
@click.option("--revision", required=True, help="Migrate down to this one, e.g. 0001.")
def db_downgrade_command(revision: str) -> None:
    """Roll the SQL schema back, for running an older release (0001: before the outbox)."""
    from .migrations import current, downgrade

    engine = current_pdfqueue().jobs.engine
    downgrade(engine, revision)
    click.echo(f"schema at revision {current(engine)}")


@db_cli.command("current")
def db_current_command() -> None:
    """Show the revision the database is at."""
    from .migrations import current

    click.echo(current(current_pdfqueue().jobs.engine) or "none (empty, or made before migrations)")


@db_cli.command("sql", with_appcontext=False)
@click.option("--dialect", type=click.Choice(["sqlite", "postgresql", "mysql"]), required=True)
def db_sql_command(dialect: str) -> None:
    """Print the DDL that creates the schema in an empty database (sql/<dialect>.sql)."""
    from .migrations import offline_sql

    click.echo(offline_sql(dialect), nl=False)


@pdfqueue_cli.command("seed-demo")
def seed_demo_command() -> None:
    """Index the report collection and insert the demo documents (DEMO-001 …) where missing."""
    from .demo import seed_demo_documents

    documents = current_pdfqueue().documents
    documents.ensure_indexes()
    inserted = seed_demo_documents(documents.collection)
    click.echo(f"demo documents inserted: {inserted}")


@pdfqueue_cli.command("listen")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8001, show_default=True, type=int)
def listen_command(host: str, port: int) -> None:
    """Receive webhooks and print them, checking signatures with PDFQUEUE_WEBHOOK_SECRET.

    For trying the service out without n8n: submit with
    "callback": "http://127.0.0.1:8001/webhook/pdf-complete".
    """
    from .webhook_listener import make_listener

    secrets = current_pdfqueue().settings.webhook_secrets
    server = make_listener(host, port, secrets, lambda line: click.echo(line))
    click.echo(f"listening for webhooks on http://{host}:{port}/ (Ctrl-C stops)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


from . import cli_drive  # noqa: E402, F401  (drive-check, drive-login, drive-folder)
