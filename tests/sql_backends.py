"""Run a test against every SQL backend: SQLite always, PostgreSQL and MariaDB when installed.

``tests/conftest.py`` exposes the ``sql_url`` fixture with one import line. The two
servers start once per session, on first use (a run that needs no SQL starts none),
and every test gets an empty database of its own, so no test sees another's rows.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, make_url

from tests.servers import RunningServer, ServerError, ServerUnavailable
from tests.sql_servers import start_mariadb, start_postgres

BACKENDS = ("sqlite", "postgresql", "mariadb")
SQL_DIR = Path(__file__).resolve().parent.parent / "sql"

_STARTERS: dict[str, Callable[[Path], RunningServer]] = {
    "postgresql": start_postgres,
    "mariadb": start_mariadb,
}
_database_numbers = itertools.count(1)


class _Servers:
    """This session's PostgreSQL and MariaDB; a failed start is remembered, not retried."""

    def __init__(self, base_dir: Path) -> None:
        self._base_dir = base_dir
        self._servers: list[RunningServer] = []
        self._admin: dict[str, Engine] = {}
        self._unavailable: dict[str, str] = {}
        self._broken: dict[str, str] = {}

    def _admin_engine(self, backend: str) -> Engine:
        if backend in self._unavailable:
            pytest.skip(f"{backend}: {self._unavailable[backend]}")
        if backend in self._broken:
            pytest.fail(
                f"{backend} failed to start earlier in this session:\n{self._broken[backend]}"
            )
        if backend not in self._admin:
            try:
                server = _STARTERS[backend](self._base_dir / backend)
            except ServerUnavailable as exc:
                self._unavailable[backend] = str(exc)
                pytest.skip(f"{backend}: {exc}")
            except ServerError as exc:
                self._broken[backend] = str(exc)
                raise
            self._servers.append(server)
            self._admin[backend] = create_engine(server.url, isolation_level="AUTOCOMMIT")
        return self._admin[backend]

    def new_database(self, backend: str) -> str:
        """CREATE DATABASE is a few ms on these throwaway servers: cheaper than cleaning up."""
        engine = self._admin_engine(backend)
        name = f"test_{next(_database_numbers)}"
        with engine.connect() as conn:
            conn.exec_driver_sql(f"CREATE DATABASE {name}")
        return engine.url.set(database=name).render_as_string(hide_password=False)

    def close(self) -> None:
        for engine in self._admin.values():
            engine.dispose()
        for server in self._servers:
            server.stop()


_SERVERS = pytest.StashKey[_Servers]()


def _servers(request: pytest.FixtureRequest) -> _Servers:
    """Kept in the config stash so conftest needs to import only ``sql_url``."""
    config = request.config
    if _SERVERS not in config.stash:
        factory: pytest.TempPathFactory = request.getfixturevalue("tmp_path_factory")
        servers = _Servers(factory.mktemp("sql-servers"))
        config.stash[_SERVERS] = servers
        config.add_cleanup(servers.close)
    return config.stash[_SERVERS]


def new_database(request: pytest.FixtureRequest, backend: str) -> str:
    """SQLAlchemy URL of a new, empty database on `backend` (one of BACKENDS)."""
    if backend == "sqlite":
        tmp_path: Path = request.getfixturevalue("tmp_path")
        return f"sqlite:///{tmp_path / f'test_{next(_database_numbers)}.sqlite3'}"
    return _servers(request).new_database(backend)


@pytest.fixture(params=BACKENDS)
def sql_url(request: pytest.FixtureRequest) -> str:
    """An empty database on sqlite, postgresql or mariadb (skipped when not installed)."""
    return new_database(request, request.param)


def ddl_file(url: str) -> Path:
    """The hand-written DDL for the URL's dialect: sql/sqlite.sql, postgresql.sql, mysql.sql."""
    return SQL_DIR / f"{make_url(url).get_backend_name()}.sql"


def split_sql(text: str) -> list[str]:
    """Statements of a DDL file: ``--`` comments dropped, split at a ``;`` that ends a line."""
    code = "\n".join(line.split("--", 1)[0].rstrip() for line in text.splitlines())
    return [
        statement.strip() for statement in re.split(r";$", code, flags=re.M) if statement.strip()
    ]


def apply_sql_file(url: str, path: Path) -> None:
    """Run every statement of `path` in one transaction (DDL autocommits on MariaDB anyway)."""
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            for statement in split_sql(path.read_text()):
                conn.exec_driver_sql(statement)
    finally:
        engine.dispose()
