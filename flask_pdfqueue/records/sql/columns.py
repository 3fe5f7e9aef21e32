"""What every table shares: the ``MetaData``, UTC timestamps, and the engine's settings.

The migrations under :mod:`flask_pdfqueue.records.migrations` build the same schema as
this ``metadata`` describes (a test compares them on every backend).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Engine, MetaData, Text, TypeDecorator, create_engine, event
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import TypeEngine

from ...timestamps import as_utc

#: Constraint names spelled the same on every backend, so migrations can name them
#: (primary keys keep each backend's own name, as the first schema had them).
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

#: MySQL and MariaDB table options: InnoDB (transactions, row locks) and full UTF-8.
MYSQL_OPTIONS: dict[str, Any] = {
    "mysql_engine": "InnoDB",
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_unicode_ci",
}


class Timestamp(TypeDecorator[datetime]):
    """UTC wall-clock time in a zone-less column, whatever the session's time zone.

    Aware datetimes go in as naive UTC and come back aware. MySQL and MariaDB get
    ``DATETIME(6)``: a plain DATETIME drops the microseconds there.
    """

    impl = DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name in ("mysql", "mariadb"):
            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        return dialect.type_descriptor(DateTime())

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return as_utc(value)


class TextList(TypeDecorator[tuple[str, ...]]):
    """A short list of strings, kept as JSON text (every backend has TEXT); empty is NULL."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: tuple[str, ...] | None, dialect: Dialect) -> str | None:
        return json.dumps(list(value), ensure_ascii=False) if value else None

    def process_result_value(self, value: str | None, dialect: Dialect) -> tuple[str, ...]:
        return tuple(json.loads(value)) if value else ()


#: A body too large for MySQL's and MariaDB's TEXT (64 KB): a webhook with the PDF inline.
LongText = Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")


class utc_now_default(FunctionElement[datetime]):
    """The current UTC time as a column default, for rows inserted by other tools.

    (The service always sets its timestamps itself.) Each dialect needs its own
    spelling: PostgreSQL and MySQL's ``CURRENT_TIMESTAMP`` is session-local time.
    """

    type = DateTime()
    inherit_cache = True


@compiles(utc_now_default)
def _utc_now_sqlite(element: utc_now_default, compiler: SQLCompiler, **kw: Any) -> str:
    return "CURRENT_TIMESTAMP"  # SQLite's is UTC


@compiles(utc_now_default, "postgresql")
def _utc_now_postgresql(element: utc_now_default, compiler: SQLCompiler, **kw: Any) -> str:
    return "timezone('utc', now())"


@compiles(utc_now_default, "mysql")
@compiles(utc_now_default, "mariadb")
def _utc_now_mysql(element: utc_now_default, compiler: SQLCompiler, **kw: Any) -> str:
    return "(UTC_TIMESTAMP(6))"


#: Seconds to wait for a database server to answer a new connection.
CONNECT_TIMEOUT = 5
#: Seconds a MySQL or MariaDB statement may wait for its answer (longer than any of ours).
READ_TIMEOUT = 60
#: A PostgreSQL connection whose peer stops acknowledging (a host gone, a network cut) is
#: given up after this many seconds, by TCP keepalives and the kernel's user timeout.
DEAD_PEER_SECONDS = 30


def make_engine(url: str, **engine_options: Any) -> Engine:
    """An engine that keeps bound values out of error messages (callback URLs carry
    n8n's token) and, on SQLite, lets readers and one writer work side by side.

    A server's connection is pinged before use (a restarted server leaves dead ones in
    the pool); a SQLite file has no connection to go stale, so it is not. A server that
    does not answer costs seconds, not a worker: see :func:`_timeouts`."""
    parsed = make_url(url)
    sqlite = parsed.get_backend_name() == "sqlite"
    engine_options.setdefault("connect_args", _timeouts(parsed.get_backend_name()))
    engine = create_engine(url, pool_pre_ping=not sqlite, hide_parameters=True, **engine_options)
    if sqlite:
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _timeouts(backend: str) -> dict[str, Any]:
    """Client-side limits on waiting for a server (libpq's and PyMySQL's options)."""
    if backend == "postgresql":
        return {
            "connect_timeout": CONNECT_TIMEOUT,
            "keepalives": 1,
            "keepalives_idle": DEAD_PEER_SECONDS // 3,
            "keepalives_interval": DEAD_PEER_SECONDS // 6,
            "keepalives_count": 2,
            "tcp_user_timeout": DEAD_PEER_SECONDS * 1000,
        }
    if backend in ("mysql", "mariadb"):
        return {
            "connect_timeout": CONNECT_TIMEOUT,
            "read_timeout": READ_TIMEOUT,
            "write_timeout": READ_TIMEOUT,
        }
    return {}


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """WAL lets the web app read while a worker writes; wait rather than fail on a lock;
    enforce foreign keys as the other backends do.

    ``synchronous=NORMAL`` is SQLite's advice for WAL: a commit survives any process
    crash, and only a power loss or kernel crash may take the last commits back (never
    consistency), the same window as the embedded Redis' ``appendfsync everysec``. It
    spares an fsync per commit, several per job.
    """
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
