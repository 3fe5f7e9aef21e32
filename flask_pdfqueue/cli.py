"""``flask pdfqueue …``: run workers, create the schema, seed the demo reports."""

from __future__ import annotations

import logging

import click
from flask.cli import AppGroup

from .extension import current_pdfqueue
from .rq_worker import PDFWorker

log = logging.getLogger(__name__)

pdfqueue_cli = AppGroup("pdfqueue", help="Operate the PDF queue.")


@pdfqueue_cli.command("worker")
@click.option("--burst", is_flag=True, help="Exit once the queues are empty.")
@click.option("--name", default=None, help="Worker name (default: RQ's host.pid name).")
@click.option("--max-jobs", type=int, default=None, help="Exit after this many jobs.")
@click.option("--preload/--no-preload", default=True, help="Warm the renderer before forking.")
@click.option("--logging-level", default="INFO", show_default=True)
def worker_command(
    burst: bool, name: str | None, max_jobs: int | None, preload: bool, logging_level: str
) -> None:
    """Work the high, normal and low queues in that order, with RQ's scheduler.

    The renderer (WeasyPrint, fonts, compiled templates) is loaded in this parent
    process before any job, so every forked work horse starts warm.
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
    if preload:
        state.renderer.preload()
    worker = PDFWorker(state.queue.ordered, connection=state.redis, name=name)
    worker.work(
        burst=burst, with_scheduler=True, max_jobs=max_jobs, logging_level=logging_level.upper()
    )


@pdfqueue_cli.command("init-db")
def init_db_command() -> None:
    """Create the SQL tables (safe to run again)."""
    current_pdfqueue().jobs.create_schema()
    click.echo("pdf_job_results ready")


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

    secret = current_pdfqueue().settings.webhook_secret
    server = make_listener(host, port, secret, lambda line: click.echo(line))
    click.echo(f"listening for webhooks on http://{host}:{port}/ (Ctrl-C stops)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
