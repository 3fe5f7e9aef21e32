"""Alembic's environment, run by :mod:`alembic.command` (never imported).

:mod:`flask_pdfqueue.records.migrations` hands over either a connection (online: the
migrations run on it) or a dialect name (offline: they are written out as SQL).
No ``alembic.ini``, no URL here: the application owns its engine.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager, nullcontext
from typing import Any

from alembic import context
from alembic.runtime.migration import MigrationContext, MigrationInfo
from sqlalchemy import Connection

from flask_pdfqueue.records.sql import metadata

target_metadata = metadata


def run_offline(dialect_name: str) -> None:
    context.configure(
        dialect_name=dialect_name,
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=dialect_name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online(connection: Connection) -> None:
    sqlite = connection.dialect.name == "sqlite"
    with _sqlite_foreign_keys_off(connection) if sqlite else nullcontext():
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=sqlite,
            on_version_apply=_check_foreign_keys if sqlite else None,
        )
        with context.begin_transaction():
            context.run_migrations()


@contextmanager
def _sqlite_foreign_keys_off(connection: Connection) -> Iterator[None]:
    """Batch mode rebuilds a SQLite table (copy, drop, rename), and dropping a table
    that other tables point at fails while foreign keys are enforced. SQLite's own
    recipe, which Alembic's docs follow: switch enforcement off outside any
    transaction, check the references before each commit, switch it back on."""
    was_on = connection.exec_driver_sql("PRAGMA foreign_keys").scalar()
    connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
    if connection.exec_driver_sql("PRAGMA foreign_keys").scalar():
        raise RuntimeError("SQLite foreign keys stay on inside a transaction: migrate outside one")
    connection.commit()  # so Alembic runs its own transactions
    try:
        yield
    finally:
        if was_on:
            connection.exec_driver_sql("PRAGMA foreign_keys=ON")
            connection.commit()


def _check_foreign_keys(
    ctx: MigrationContext, step: MigrationInfo, heads: Collection[Any], run_args: Mapping[str, Any]
) -> None:
    """Runs after each revision, before its commit: no row may point at nothing."""
    assert ctx.connection is not None
    broken = ctx.connection.exec_driver_sql("PRAGMA foreign_key_check").all()
    if broken:
        raise RuntimeError(f"migration left rows referring to missing rows: {broken[:5]}")


if context.is_offline_mode():
    run_offline(context.config.attributes["dialect_name"])
else:
    run_online(context.config.attributes["connection"])
