"""sql/<dialect>.sql must mean what ``metadata.create_all`` creates, on every backend.

Both schemas are built on a real server and reflected, so the comparison sees what
the database made of each (PostgreSQL rewrites CHECKs, MariaDB widens defaults), not
the text we wrote.
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
    Table,
    create_engine,
    insert,
    inspect,
    select,
)
from sqlalchemy.exc import DBAPIError

from flask_pdfqueue.records.sql import metadata, pdf_job_results
from tests.sql_backends import apply_sql_file, ddl_file

TABLE = pdf_job_results.name
Schema = dict[str, Any]


def _default(value: str | None) -> str | None:
    """A server default without PostgreSQL casts, outer quotes or case: ``'0'`` means 0."""
    if value is None:
        return None
    value = re.sub(r"::[a-z ]+", "", value.strip().lower())
    return value[1:-1] if len(value) >= 2 and value[0] == value[-1] == "'" else value


def _check(sqltext: str) -> tuple[bool, frozenset[str]]:
    """A CHECK reduced to (mentions status, its string literals): PG rewrites IN to ANY."""
    return "status" in sqltext, frozenset(re.findall(r"'([^']*)'", sqltext))


def snapshot(engine: Engine) -> Schema:
    """What the database holds for the table, in comparable form."""
    inspector = inspect(engine)
    dialect = engine.dialect
    options = inspector.get_table_options(TABLE)
    return {
        "tables": sorted(inspector.get_table_names()),
        "columns": {
            column["name"]: {
                "type": column["type"].compile(dialect=dialect),
                "nullable": column["nullable"],
                "default": _default(column["default"]),
            }
            for column in inspector.get_columns(TABLE)
        },
        "primary_key": inspector.get_pk_constraint(TABLE)["constrained_columns"],
        "indexes": {
            index["name"]: (index["column_names"], bool(index["unique"]))
            for index in inspector.get_indexes(TABLE)
        },
        "checks": {
            check["name"]: _check(check["sqltext"])
            for check in inspector.get_check_constraints(TABLE)
        },
        # MySQL only: the engine and character set (the collation follows the server's).
        "options": {
            key: options[key] for key in ("mysql_engine", "mysql_default charset") if key in options
        },
    }


def differences(left: Any, right: Any) -> list[str]:
    """Dotted paths where two snapshots disagree, e.g. ``columns.code.type``."""
    if isinstance(left, dict) and isinstance(right, dict):
        return [
            f"{key}.{path}" if path else str(key)
            for key in sorted(left.keys() | right.keys(), key=str)
            for path in (
                differences(left[key], right[key]) if key in left and key in right else [""]
            )
        ]
    return [] if left == right else [""]


def _drop_table(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.exec_driver_sql(f"DROP TABLE {TABLE}")


def _snapshot_of_create_all(engine: Engine, schema: MetaData) -> Schema:
    schema.create_all(engine)
    try:
        return snapshot(engine)
    finally:
        _drop_table(engine)


def _snapshot_of_ddl(engine: Engine, path: Path) -> Schema:
    apply_sql_file(engine.url.render_as_string(hide_password=False), path)
    try:
        return snapshot(engine)
    finally:
        _drop_table(engine)


@pytest.fixture
def engine(sql_url: str) -> Iterator[Engine]:
    engine = create_engine(sql_url)
    yield engine
    engine.dispose()


def test_ddl_file_matches_create_all(engine: Engine, sql_url: str) -> None:
    from_ddl = _snapshot_of_ddl(engine, ddl_file(sql_url))
    from_code = _snapshot_of_create_all(engine, metadata)
    assert differences(from_ddl, from_code) == []
    assert from_code["tables"] == [TABLE]
    assert from_code["indexes"].keys() == {"idx_code_product", "idx_status", "idx_created_at"}
    assert from_code["checks"] == {
        "ck_pdf_job_results_status": (
            True,
            frozenset({"queued", "processing", "completed", "failed", "cancelled"}),
        )
    }


def _insert(engine: Engine, job_id: str, status: str) -> None:
    """Only the NOT NULL columns without a default: the server fills in the rest."""
    with engine.begin() as conn:
        conn.execute(
            insert(pdf_job_results),
            {"job_id": job_id, "code": "c", "product_id": "p", "status": status},
        )


@pytest.mark.parametrize("source", ["ddl", "create_all"])
def test_status_check_rejects_unknown_status(engine: Engine, sql_url: str, source: str) -> None:
    if source == "ddl":
        apply_sql_file(sql_url, ddl_file(sql_url))
    else:
        metadata.create_all(engine)
    _insert(engine, "ok", "cancelled")
    with pytest.raises(DBAPIError, match=r"(?i)check|constraint"):
        _insert(engine, "bad", "archived")
    columns = pdf_job_results.c
    with engine.connect() as conn:
        rows = conn.execute(select(columns.job_id, columns.retry_count, columns.priority)).all()
    assert [tuple(row) for row in rows] == [("ok", 0, "normal")]


def test_ddl_file_applies_twice(engine: Engine, sql_url: str) -> None:
    path = ddl_file(sql_url)
    apply_sql_file(sql_url, path)
    apply_sql_file(sql_url, path)
    assert snapshot(engine)["indexes"].keys() == {
        "idx_code_product",
        "idx_status",
        "idx_created_at",
    }


def _retype_code(table: Table) -> None:
    table.c.code.type = String(128)


def _allow_null_priority(table: Table) -> None:
    table.c.priority.nullable = True


def _change_status_default(table: Table) -> None:
    table.c.status.server_default = DefaultClause("processing")


def _drop_status_index(table: Table) -> None:
    table.indexes.discard(next(i for i in table.indexes if i.name == "idx_status"))


@pytest.mark.parametrize(
    ("alter", "expected"),
    [
        (_retype_code, ["columns.code.type"]),
        (_allow_null_priority, ["columns.priority.nullable"]),
        (_change_status_default, ["columns.status.default"]),
        (_drop_status_index, ["indexes.idx_status"]),
    ],
    ids=["type-length", "nullable", "server-default", "index"],
)
def test_comparison_detects_altered_metadata(
    engine: Engine, sql_url: str, alter: Callable[[Table], None], expected: list[str]
) -> None:
    """The check above can fail: a schema drifted in one detail is reported at that detail."""
    altered = MetaData()
    alter(pdf_job_results.to_metadata(altered))
    from_ddl = _snapshot_of_ddl(engine, ddl_file(sql_url))
    assert differences(from_ddl, _snapshot_of_create_all(engine, altered)) == expected


def test_comparison_detects_column_missing_from_ddl(
    engine: Engine, sql_url: str, tmp_path: Path
) -> None:
    edited = tmp_path / "edited.sql"
    original = ddl_file(sql_url).read_text()
    edited.write_text(re.sub(r"(?m)^\s*pdf_url\s+TEXT,\n", "", original))
    assert edited.read_text() != original
    from_code = _snapshot_of_create_all(engine, metadata)
    assert differences(_snapshot_of_ddl(engine, edited), from_code) == ["columns.pdf_url"]
