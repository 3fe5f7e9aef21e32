"""``flask pdfqueue replay-webhooks | listen``: send events again; watch them arrive."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from ..jobs.delivery.replay import replay
from ..state import current_pdfqueue
from ..timestamps import iso_utc
from .listener import make_listener
from .operations import moment


@click.command("replay-webhooks")
@with_appcontext
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


@click.command("listen")
@with_appcontext
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8001, show_default=True, type=int)
def listen_command(host: str, port: int) -> None:
    """Receive webhooks and print them, checking signatures with PDFQUEUE_WEBHOOK_SECRET.

    For trying the service out without n8n: submit with
    "callback": "http://127.0.0.1:8001/webhook/pdf-complete".
    """
    secrets = current_pdfqueue().settings.webhook_secrets
    server = make_listener(host, port, secrets, lambda line: click.echo(line))
    click.echo(f"listening for webhooks on http://{host}:{port}/ (Ctrl-C stops)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


COMMANDS = (replay_webhooks_command, listen_command)
