"""``flask pdfqueue …``: the service's commands, one module per concern.

Each module defines plain Click commands and lists them in ``COMMANDS``; this group
adds them all. The group is the ``flask.commands`` entry point.
"""

from __future__ import annotations

from flask.cli import AppGroup

from . import database, drive, operations, render, webhooks, workers

pdfqueue_cli = AppGroup("pdfqueue", help="Operate the PDF queue.")
for module in (workers, operations, webhooks, render, database, drive):
    for command in module.COMMANDS:
        pdfqueue_cli.add_command(command)
