"""sql/<dialect>.sql, the migrations and ``metadata.create_all`` build one schema, on every backend.

Each is built on a real server and reflected, so the comparison sees what the
database made of it (PostgreSQL rewrites CHECKs, MariaDB widens defaults), not the
text we wrote. The SQL files are generated from the migrations; a test regenerates
them and fails when the committed ones differ.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import (
    DefaultClause,
    Engine,
    MetaData,
    String,
    create_engine,
    insert,
    inspect,
    select,
)
from sqlalchemy.engine import Inspector
from sqlalchemy.exc import DBAPIError

from flask_pdfqueue.records.migrations import DIALECTS, current, head, offline_sql, upgrade
from flask_pdfqueue.records.sql import metadata, pdf_job_results
from tests.sql_backends import SQL_DIR, apply_sql_file, ddl_file

HEAD = head()
TABLES = sorted(metadata.tables)
Schema = dict[str, Any]


def _default(value: str | None) -> str | None:
    """A server default without PostgreSQL casts, outer quotes or case: ``'0'`` means 0."""
    if value is None:
        return None
    value = re.sub(r"::[a-z ]+", "", value.strip().lower())
    return value[1:-1] if len(value) >= 2 and value[0] == value[-1] == "'" else value


def _check(sqltext: str, columns: set[str]) -> tuple[frozenset[str], frozenset[str]]:
    """A CHECK reduced to (the columns it names, its string literals): PG rewrites IN to ANY."""
    literals = re.findall(r"'([^']*)'", sqltext)
    words = set(re.findall(r"\w+", re.sub(r"'[^']*'", "", sqltext)))
    return frozenset(words & columns), frozenset(literals)


def _table(inspector: Inspector, name: str) -> Schema:
    dialect = inspector.dialect
    columns = inspector.get_columns(name)
    options = inspector.get_table_options(name)
    return {
        "columns": {
            column["name"]: {
                "type": column["type"].compile(dialect=dialect),
                "nullable": column["nullable"],
                "default": _default(column["default"]),
            }
            for column in columns
        },
        "primary_key": inspector.get_pk_constraint(name)["constrained_columns"],
        "indexes": {
            index["name"]: (index["column_names"], bool(index["unique"]))
            for index in inspector.get_indexes(name)
        },
        "foreign_keys": {
            key["name"]: (
                key["constrained_columns"],
                key["referred_table"],
                key["referred_columns"],
            )
            for key in inspector.get_foreign_keys(name)
        },
        "checks": {
            check["name"]: _check(check["sqltext"], {c["name"] for c in columns})
            for check in inspector.get_check_constraints(name)
        },
        # MySQL only: the engine and character set (the collation follows the server's).
        "options": {
            key: options[key] for key in ("mysql_engine", "mysql_default charset") if key in options
        },
    }


def snapshot(engine: Engine) -> Schema:
    """What the database holds for every table of ``metadata``, in comparable form."""
    inspector = inspect(engine)
    names = sorted(set(inspector.get_table_names()) - {"alembic_version"})
    return {"tables": names, **{name: _table(inspector, name) for name in names}}


def differences(left: Any, right: Any) -> list[str]:
    """Dotted paths where two snapshots disagree, e.g. ``pdf_job_results.columns.code.type``."""
    if isinstance(left, dict) and isinstance(right, dict):
        return [
            f"{key}.{path}" if path else str(key)
            for key in sorted(left.keys() | right.keys(), key=str)
            for path in (
                differences(left[key], right[key]) if key in left and key in right else [""]
            )
        ]
    return [] if left == right else [""]


def _drop_everything(engine: Engine) -> None:
    found = MetaData()
    found.reflect(engine)
    found.drop_all(engine)


def _snapshot_of(engine: Engine, build: Callable[[], None]) -> Schema:
    build()
    try:
        return snapshot(engine)
    finally:
        _drop_everything(engine)


def _from_ddl(engine: Engine, path: Path) -> Schema:
    return _snapshot_of(
        engine, lambda: apply_sql_file(engine.url.render_as_string(hide_password=False), path)
    )


def _from_migrations(engine: Engine) -> Schema:
    return _snapshot_of(engine, lambda: upgrade(engine))


def _from_create_all(engine: Engine, schema: MetaData) -> Schema:
    return _snapshot_of(engine, lambda: schema.create_all(engine))


@pytest.fixture
def engine(sql_url: str) -> Iterator[Engine]:
    engine = create_engine(sql_url)
    yield engine
    engine.dispose()


def test_ddl_file_and_migrations_match_create_all(engine: Engine, sql_url: str) -> None:
    from_code = _from_create_all(engine, metadata)
    assert differences(_from_ddl(engine, ddl_file(sql_url)), from_code) == []
    assert differences(_from_migrations(engine), from_code) == []

    assert from_code["tables"] == TABLES
    jobs = from_code["pdf_job_results"]
    assert jobs["indexes"].keys() == {
        "idx_code_product",
        "idx_status",
        "idx_created_at",
        "idx_status_priority_started",
        "idx_status_completed_started",
        "uq_pdf_job_results_dedupe_key",
    }
    assert jobs["checks"] == {
        "ck_pdf_job_results_status": (
            frozenset({"status"}),
            frozenset({"queued", "processing", "completed", "failed", "cancelled"}),
        )
    }
    deliveries = from_code["pdf_webhook_deliveries"]
    assert deliveries["indexes"]["idx_deliveries_subscriber"] == (["subscriber_id"], True)
    assert deliveries["foreign_keys"] == {
        "fk_pdf_webhook_deliveries_job_id_pdf_job_results": (
            ["job_id"],
            "pdf_job_results",
            ["job_id"],
        ),
        "fk_pdf_webhook_deliveries_subscriber_id_pdf_job_subscribers": (
            ["subscriber_id"],
            "pdf_job_subscribers",
            ["id"],
        ),
    }


@pytest.mark.parametrize("dialect", DIALECTS)
def test_ddl_files_are_generated_from_the_migrations(dialect: str) -> None:
    """`make sql` writes these; an edit by hand or a new revision without it fails here."""
    assert (SQL_DIR / f"{dialect}.sql").read_text() == offline_sql(dialect)


def test_ddl_file_leaves_the_database_at_head(engine: Engine, sql_url: str) -> None:
    apply_sql_file(sql_url, ddl_file(sql_url))
    assert current(engine) == HEAD
    upgrade(engine)  # nothing to do: the version row says so
    assert current(engine) == HEAD


def _insert(engine: Engine, job_id: str, status: str) -> None:
    """Only the NOT NULL columns without a default: the server fills in the rest."""
    with engine.begin() as conn:
        conn.execute(
            insert(pdf_job_results),
            {"job_id": job_id, "code": "c", "product_id": "p", "status": status},
        )


@pytest.mark.parametrize("source", ["ddl", "migrations", "create_all"])
def test_status_check_rejects_unknown_status(engine: Engine, sql_url: str, source: str) -> None:
    if source == "ddl":
        apply_sql_file(sql_url, ddl_file(sql_url))
    elif source == "migrations":
        upgrade(engine)
    else:
        metadata.create_all(engine)
    _insert(engine, "ok", "cancelled")
    with pytest.raises(DBAPIError, match=r"(?i)check|constraint"):
        _insert(engine, "bad", "archived")
    columns = pdf_job_results.c
    with engine.connect() as conn:
        rows = conn.execute(
            select(columns.job_id, columns.retry_count, columns.priority, columns.mirror_pending)
        ).all()
    assert [tuple(row) for row in rows] == [("ok", 0, "normal", False)]


def _retype_code(schema: MetaData) -> None:
    schema.tables["pdf_job_results"].c.code.type = String(128)


def _allow_null_priority(schema: MetaData) -> None:
    schema.tables["pdf_job_results"].c.priority.nullable = True


def _change_status_default(schema: MetaData) -> None:
    schema.tables["pdf_job_results"].c.status.server_default = DefaultClause("processing")


def _drop_status_index(schema: MetaData) -> None:
    table = schema.tables["pdf_job_results"]
    table.indexes.discard(next(i for i in table.indexes if i.name == "idx_status"))


def _subscriber_not_unique(schema: MetaData) -> None:
    table = schema.tables["pdf_webhook_deliveries"]
    next(i for i in table.indexes if i.name == "idx_deliveries_subscriber").unique = False


def _drop_attempts_fk(schema: MetaData) -> None:
    table = schema.tables["pdf_webhook_attempts"]
    table.constraints.discard(next(iter(table.foreign_key_constraints)))


@pytest.mark.parametrize(
    ("alter", "expected"),
    [
        (_retype_code, ["pdf_job_results.columns.code.type"]),
        (_allow_null_priority, ["pdf_job_results.columns.priority.nullable"]),
        (_change_status_default, ["pdf_job_results.columns.status.default"]),
        (_drop_status_index, ["pdf_job_results.indexes.idx_status"]),
        (_subscriber_not_unique, ["pdf_webhook_deliveries.indexes.idx_deliveries_subscriber"]),
        (
            _drop_attempts_fk,
            [
                "pdf_webhook_attempts.foreign_keys."
                "fk_pdf_webhook_attempts_webhook_id_pdf_webhook_deliveries"
            ],
        ),
    ],
    ids=["type-length", "nullable", "server-default", "index", "unique", "foreign-key"],
)
def test_comparison_detects_altered_metadata(
    engine: Engine, sql_url: str, alter: Callable[[MetaData], None], expected: list[str]
) -> None:
    """The check above can fail: a schema drifted in one detail is reported at that detail."""
    altered = MetaData(naming_convention=metadata.naming_convention)
    for table in metadata.sorted_tables:
        table.to_metadata(altered)
    alter(altered)
    from_ddl = _from_ddl(engine, ddl_file(sql_url))
    assert differences(from_ddl, _from_create_all(engine, altered)) == expected


def test_comparison_detects_column_missing_from_ddl(
    engine: Engine, sql_url: str, tmp_path: Path
) -> None:
    edited = tmp_path / "edited.sql"
    original = ddl_file(sql_url).read_text()
    without = re.sub(r"(?m)^[ \t]*last_error TEXT,[ \t]*\n", "", original)
    edited.write_text(without.replace("last_error, ", ""))  # and from a table copy's INSERT
    assert edited.read_text() != original
    from_code = _from_create_all(engine, metadata)
    assert differences(_from_ddl(engine, edited), from_code) == [
        "pdf_webhook_deliveries.columns.last_error"
    ]
