"""``flask pdfqueue …``: the service's commands, one module per concern.

Each module defines plain Click commands and lists them in ``COMMANDS``; this group
adds them all. The group is the ``flask.commands`` entry point. A backing service that
does not answer is one sentence, naming the URL tried and what to do, and exit
status 1: never a traceback.
"""

from __future__ import annotations

from typing import Any

import click
from flask.cli import AppGroup, ScriptInfo
from pymongo.errors import PyMongoError
from redis.exceptions import RedisError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError

from ..config.settings import Settings
from . import database, drive, operations, render, webhooks, workers

#: What each unreachable service is called, the setting that points at it, and the hint.
_SERVICES: dict[type[Exception], tuple[str, str, str]] = {
    RedisError: ("Redis", "PDFQUEUE_REDIS_URL", "`make run` starts the embedded one"),
    PyMongoError: ("MongoDB", "PDFQUEUE_MONGO_URL", "`make run` starts the embedded one"),
    OperationalError: ("The SQL database", "PDFQUEUE_SQL_URL", "is the server running?"),
}


class _PDFQueueGroup(AppGroup):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (RedisError, PyMongoError, OperationalError) as exc:
            raise click.ClickException(_unreachable(ctx, exc)) from None


def _unreachable(ctx: click.Context, exc: Exception) -> str:
    kind = next(k for k in _SERVICES if isinstance(exc, k))
    name, setting, hint = _SERVICES[kind]
    settings: Settings = ctx.ensure_object(ScriptInfo).load_app().extensions["pdfqueue"].settings
    url = {
        RedisError: settings.redis_url,
        PyMongoError: settings.mongo_url,
        OperationalError: settings.resolved_sql_url,
    }[kind]
    reason = str(getattr(exc, "orig", None) or exc).splitlines()[0][:200]
    return (
        f"{name} at {_without_password(url)} does not answer ({type(exc).__name__}: {reason}). "
        f"Start it ({hint}), or set {setting} to where yours runs."
    )


def _without_password(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url.split("@")[-1]


pdfqueue_cli = _PDFQueueGroup("pdfqueue", help="Operate the PDF queue.")
for module in (workers, operations, webhooks, render, database, drive):
    for command in module.COMMANDS:
        pdfqueue_cli.add_command(command)
