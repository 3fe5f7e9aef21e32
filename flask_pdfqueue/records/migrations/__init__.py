"""Schema migrations (Alembic): bring a jobs database to the schema the code expects.

``flask pdfqueue db upgrade`` runs :func:`upgrade`; ``sql/<dialect>.sql`` holds
:func:`offline_sql`, for a DBA who creates the tables by hand. Databases made
before migrations existed (``init-db`` or the old ``sql/*.sql``) have the tables
but no ``alembic_version``: :func:`upgrade` recognises them and records them at
revision ``0001``, which is exactly what they hold, before migrating on.

The revisions live in ``versions/``; a new one is written by hand after
``0002_outbox.py`` (``down_revision`` the previous id), and ``make sql``
regenerates the SQL files from it.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect

__all__ = ["BASELINE", "DIALECTS", "current", "downgrade", "head", "offline_sql", "upgrade"]

#: The revision that is the schema as released before migrations.
BASELINE = "0001"
#: What :func:`offline_sql` writes for (``mysql`` serves MariaDB as well).
DIALECTS = ("sqlite", "postgresql", "mysql")

_HERE = Path(__file__).resolve().parent
_HEADER = """\
-- The flask-pdfqueue SQL schema for {dialect}, at revision {head}.
--
-- Generated from the Alembic migrations in flask_pdfqueue/records/migrations by `make sql`
-- (`flask pdfqueue db sql --dialect {dialect}` prints the same); do not edit.
-- Applied to an empty database it gives the schema at head, including the
-- alembic_version row, so `flask pdfqueue db upgrade` carries on from there.
-- A database that already has the tables is migrated with `flask pdfqueue db upgrade`.
{notes}
"""
_NOTES = {
    "sqlite": "-- Timestamps are UTC text; SQLite's CURRENT_TIMESTAMP is UTC too.\n",
    "postgresql": "-- Timestamps are TIMESTAMP WITHOUT TIME ZONE holding UTC wall-clock time.\n",
    "mysql": (
        "-- For MariaDB 10.2 or newer and MySQL 8.0.16 or newer (CHECK constraints;\n"
        "-- expression defaults need 8.0.13). Timestamps are DATETIME(6) holding UTC.\n"
    ),
}


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate the database up to ``revision``; at that revision already, do nothing.

    Each finished revision is recorded, so a rerun carries on after the last one.
    PostgreSQL undoes a failed upgrade entirely; MySQL and SQLite cannot undo all
    DDL, so there a revision that failed midway needs a look before the rerun.
    """
    if _made_before_migrations(engine):
        _run(engine, command.stamp, BASELINE)
    _run(engine, command.upgrade, revision)


def downgrade(engine: Engine, revision: str) -> None:
    """Migrate the database down to ``revision`` (e.g. ``0001`` to roll back to the
    release before the webhook outbox)."""
    _run(engine, command.downgrade, revision)


def head() -> str:
    """The newest revision: what :func:`upgrade` brings a database to."""
    revision = ScriptDirectory.from_config(_config()).get_current_head()
    assert revision is not None
    return revision


def current(engine: Engine) -> str | None:
    """The revision the database is at; None when it is empty or predates migrations."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def offline_sql(dialect_name: str) -> str:
    """The DDL that creates the schema at head on an empty database: what
    ``sql/<dialect_name>.sql`` holds. ``dialect_name`` is one of :data:`DIALECTS`."""
    if dialect_name not in DIALECTS:
        raise ValueError(f"no SQL for {dialect_name!r}: choose one of {', '.join(DIALECTS)}")
    output = io.StringIO()
    config = _config(output)
    config.attributes["dialect_name"] = dialect_name
    command.upgrade(config, "head", sql=True)
    header = _HEADER.format(dialect=dialect_name, head=head(), notes=_NOTES[dialect_name])
    return header + output.getvalue()


def _made_before_migrations(engine: Engine) -> bool:
    with engine.connect() as connection:
        tables = inspect(connection)
        return tables.has_table("pdf_job_results") and not tables.has_table("alembic_version")


def _run(engine: Engine, step: Callable[[Config, str], None], revision: str) -> None:
    with engine.connect() as connection:
        config = _config()
        config.attributes["connection"] = connection
        step(config, revision)


def _config(output: io.StringIO | None = None) -> Config:
    config = Config(output_buffer=output)
    config.set_main_option("script_location", str(_HERE))
    return config
