"""``flask pdfqueue info | failed | cleanup | regenerate | reconcile``: looking after many
jobs at once."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta

import click
from flask.cli import with_appcontext

from ..jobs.reconcile import reconcile
from ..jobs.submission import Accepted
from ..ops.operations import clean_up, regenerate, reports_to_regenerate, requeue_failed
from ..queue.rq_state import queue_depths, read_workers
from ..records.sql import TERMINAL
from ..records.sql.figures import status_counts
from ..records.sql.listing import list_jobs
from ..state import current_pdfqueue
from ..timestamps import iso_utc, utcnow

_AGE = re.compile(r"(\d+)\s*([smhd])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def moment(text: str, option: str) -> datetime:
    """``24h``, ``30m``, ``2d`` ago, or an ISO 8601 time (UTC unless it says otherwise)."""
    age = _AGE.fullmatch(text.strip())
    if age:
        return utcnow() - timedelta(**{_UNITS[age.group(2)]: int(age.group(1))})
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(
            "give an ISO 8601 time (2026-11-30T08:00:00Z) or an age (24h, 30m, 2d)",
            param_hint=option,
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


@click.command("info")
@with_appcontext
def info_command() -> None:
    """Queues, workers (with the age of their last heartbeat) and jobs by status."""
    state = current_pdfqueue()
    click.echo("queues:")
    depths = queue_depths(state.redis)
    for queue in state.queue.all:
        click.echo(
            f"  {queue.name:<14} waiting {depths[queue.name]:>5}  "
            f"scheduled {queue.scheduled_job_registry.get_job_count(cleanup=False):>5}  "
            f"running {queue.started_job_registry.get_job_count(cleanup=False):>3}  "
            f"failed in RQ {queue.failed_job_registry.get_job_count(cleanup=False):>5}"
        )
    workers = read_workers(state.redis)
    click.echo(f"workers: {len(workers)}")
    for worker in sorted(workers, key=lambda w: w.name):
        age = worker.heartbeat_age
        beat = f"{age:.0f}s ago" if age is not None else "never"
        queues = ",".join(worker.queues)
        alive = "live" if worker.live else "dead"
        click.echo(f"  {worker.name:<30} {worker.state:<10} {queues:<30} {alive}, heartbeat {beat}")
    counts = status_counts(state.jobs.engine)
    click.echo(
        "jobs: "
        + ", ".join(
            f"{s} {counts.get(s, 0)}"
            for s in ("queued", "processing", "completed", "failed", "cancelled")
        )
    )


@click.command("failed")
@click.option("--limit", default=50, show_default=True, help="How many to list.")
@click.option(
    "--requeue",
    "requeue_ids",
    multiple=True,
    metavar="JOB_ID",
    help="Submit this failed job's report again (repeatable).",
)
@click.option(
    "--all",
    "--requeue-all",
    "requeue_all",
    is_flag=True,
    help="With --requeue: every listed failed job.",
)
@click.option("--purge", is_flag=True, help="Forget failed jobs (with --older-than).")
@click.option("--older-than", default=None, help="With --purge: ended before then (30d, ISO).")
@with_appcontext
def failed_command(
    limit: int,
    requeue_ids: tuple[str, ...],
    requeue_all: bool,
    purge: bool,
    older_than: str | None,
) -> None:
    """The dead letters: jobs that failed for good, newest first.

    --requeue submits a job's report again as a new job for the same subscribers;
    --purge --older-than 30d forgets the failed jobs that ended before then.
    """
    state = current_pdfqueue()
    if purge:
        if older_than is None:
            raise click.UsageError("--purge needs --older-than (e.g. 30d)")
        cleaned = clean_up(
            state, finished_before=moment(older_than, "--older-than"), statuses=("failed",)
        )
        click.echo(f"failed jobs forgotten: {cleaned.jobs}")
        return
    failed = list_jobs(state.jobs.engine, status="failed", limit=limit).jobs
    for record in failed:
        click.echo(
            f"{record.job_id}  {record.code}/{record.product_id}  {record.error_code}  "
            f"after {record.retry_count} retries, {iso_utc(record.completed_at)}: "
            f"{record.error_message}"
        )
    chosen = failed if requeue_all else [state.jobs.get(job_id) for job_id in requeue_ids]
    for job in chosen:
        if job is None or job.status != "failed":
            raise click.BadParameter("not a failed job", param_hint="--requeue")
        accepted = requeue_failed(state, job)
        click.echo(f"{job.job_id} submitted again as {accepted.record.job_id}")
    if not failed:
        click.echo("no failed jobs")


@click.command("cleanup")
@click.option(
    "--older-than",
    default="90d",
    show_default=True,
    help="Forget finished jobs that ended before then (an age, or ISO 8601).",
)
@click.option(
    "--status",
    "statuses",
    multiple=True,
    type=click.Choice(TERMINAL),
    help="Only jobs with this outcome (repeatable; default: all).",
)
@with_appcontext
def cleanup_command(older_than: str, statuses: tuple[str, ...]) -> None:
    """Forget finished jobs: their records and their locally stored PDFs."""
    cleaned = clean_up(
        current_pdfqueue(),
        finished_before=moment(older_than, "--older-than"),
        statuses=statuses or TERMINAL,
    )
    click.echo(f"jobs forgotten: {cleaned.jobs}, PDF files removed: {cleaned.files}")


@click.command("regenerate")
@click.option("--product", "product_id", required=True, help="The productId to render again.")
@click.option("--code", "codes", multiple=True, help="Only this report (repeatable).")
@click.option("--since", default=None, help="Only reports completed since then (7d, ISO).")
@click.option("--dry-run", is_flag=True, help="Say what would be rendered; submit nothing.")
@click.option(
    "--wait/--no-wait", default=True, show_default=True, help="Show progress until every job ended."
)
@with_appcontext
def regenerate_command(
    product_id: str, codes: tuple[str, ...], since: str | None, dry_run: bool, wait: bool
) -> None:
    """Render every report of a product again (after a template fix), at low priority."""
    state = current_pdfqueue()
    found = reports_to_regenerate(
        state,
        product_id=product_id,
        codes=codes,
        since=moment(since, "--since") if since else None,
    )
    click.echo(f"reports of {product_id}: {len(found)}")
    if dry_run or not found:
        for code in found:
            click.echo(f"  {code}")
        return
    outcomes = regenerate(state, product_id, found)
    jobs = [o.record.job_id for o in outcomes if isinstance(o, Accepted)]
    refused = [o for o in outcomes if not isinstance(o, Accepted)]
    for rejection in refused:
        click.echo(f"refused: {rejection}", err=True)
    click.echo(f"submitted: {len(jobs)}")
    if not wait:
        return
    with click.progressbar(length=len(jobs), label="rendering") as bar:
        pending = set(jobs)
        while pending:
            done = {j for j in pending if (r := state.jobs.get(j)) is not None and r.is_terminal}
            bar.update(len(done))
            pending -= done
            if pending:
                time.sleep(1)
    counts = status_counts(state.jobs.engine, jobs)
    click.echo(", ".join(f"{status} {count}" for status, count in sorted(counts.items())))


@click.command("reconcile")
@with_appcontext
def reconcile_command() -> None:
    """Run one reconciler round now: lost jobs, stuck deliveries, lagging mirrors."""
    report = reconcile(current_pdfqueue())
    click.echo(
        f"jobs queued again: {report.jobs_requeued}, lost runs settled: {report.runs_lost}, "
        f"claims released: {report.claims_released}, "
        f"deliveries queued: {report.deliveries_queued}, "
        f"mirrors written: {report.mirrors_written}, "
        f"idempotency keys forgotten: {report.idempotency_keys_forgotten}, "
        f"webhook claims forgotten: {report.webhook_claims_forgotten}"
    )


COMMANDS = (info_command, failed_command, cleanup_command, regenerate_command, reconcile_command)
