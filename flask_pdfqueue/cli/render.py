"""``flask pdfqueue render | seed-demo``: one report rendered on the spot, no queue (template
authors); the demo documents seeded.

From the report document in MongoDB (``--code``), or from a JSON file
(``--document``), in which case nothing else runs: no Redis, MongoDB or SQL.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import click
from flask.cli import with_appcontext
from pymongo.errors import PyMongoError

from ..errors import JobFailure
from ..state import current_pdfqueue


@click.command("render")
@click.option("--product", "product_id", required=True, help="The report's productId.")
@click.option("--code", default=None, help="Render the report document with this code.")
@click.option(
    "--document",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Render this JSON report document instead (no service needed).",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    required=True,
    help="Where to write the PDF.",
)
@click.option(
    "--html",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    default=None,
    help="Also write the HTML the template made (to see what WeasyPrint got).",
)
@with_appcontext
def render_command(
    product_id: str, code: str | None, document: Path | None, output: Path, html: Path | None
) -> None:
    """Render one report with the configured templates, as a job would."""
    if (code is None) == (document is None):
        raise click.UsageError("give one of --code (from MongoDB) or --document (a JSON file)")
    state = current_pdfqueue()
    # The renderer's warnings are printed once, below, without the log's timestamps.
    logging.getLogger("weasyprint").propagate = False
    try:
        report = _from_file(document) if document else state.documents.load(str(code), product_id)
        if html is not None:
            html.write_text(state.renderer.render_html(report, product_id), encoding="utf-8")
        rendered = state.renderer.render(report, product_id)
    except JobFailure as failure:  # one sentence naming the field or template line
        raise click.ClickException(failure.message) from None
    except PyMongoError:
        raise click.ClickException(
            "MongoDB did not answer; render from a JSON file with --document instead"
        ) from None
    output.write_bytes(rendered.pdf)
    variant = state.renderer.pdf_variant_for(product_id)
    click.echo(
        f"{output}: {len(rendered.pdf)} bytes, report pack {state.renderer.pack_for(product_id)}, "
        f"template {state.renderer.template_for(product_id)}" + (f", {variant}" if variant else "")
    )
    for warning in rendered.warnings:  # the PDF is written all the same
        click.echo(f"warning: {warning}", err=True)


def _from_file(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise click.ClickException(f"{path.name} is not a JSON document: {exc}") from None
    if not isinstance(document, dict):
        raise click.ClickException(f"{path.name} must hold one JSON object, the report document")
    return document


@click.command("seed-demo")
@with_appcontext
def seed_demo_command() -> None:
    """Index the report collection and insert every pack's sample documents (DEMO-001 …)
    where missing."""
    state = current_pdfqueue()
    state.documents.ensure_indexes()
    for name, pack in state.renderer.packs.items():
        inserted = state.documents.seed(pack.sample_documents())
        click.echo(f"{name}: sample documents inserted: {inserted}")


COMMANDS = (render_command, seed_demo_command)
