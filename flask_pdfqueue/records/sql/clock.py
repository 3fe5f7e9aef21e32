"""The database's clock: the one clock for every time kept in SQL.

Hosts' clocks drift apart (NTP lagging, a VM resumed from a snapshot). A lease
taken on one host and judged on another, a due time set on one and claimed on
another, a row's age that the reconciler weighs: each must be read against the
same clock, or a host 30 s ahead takes live claims and one 30 s behind leaves due
work waiting. PostgreSQL and MariaDB have a clock of their own. A SQLite file has no
server, so no clock: its processes agree on a reference clock instead (the service
gives Redis's), and use their own only when they have none.

Asking the server for the time in every transaction would cost a round trip each;
the clock instead keeps the server's offset from the local clock, measured once a
minute and again whenever the local clock jumps.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import DateTime

from ...timestamps import as_utc, utcnow

log = logging.getLogger(__name__)

#: How long a measured offset is trusted while the local clock runs smoothly.
MEASURE_EVERY = 60.0
#: After a failed measurement (the server is down), when to try again.
RETRY_AFTER = 5.0
#: A local clock that moved this much more or less than the monotonic clock jumped.
JUMP = 0.5


class _server_time(FunctionElement[datetime]):
    """The server's UTC time at the moment the statement runs (not its transaction's)."""

    type = DateTime()
    inherit_cache = True


@compiles(_server_time, "postgresql")
def _server_time_postgresql(element: _server_time, compiler: SQLCompiler, **kw: Any) -> str:
    return "timezone('utc', clock_timestamp())"


@compiles(_server_time, "mysql")
@compiles(_server_time, "mariadb")
def _server_time_mysql(element: _server_time, compiler: SQLCompiler, **kw: Any) -> str:
    return "UTC_TIMESTAMP(6)"


#: A clock to agree on where the database has none; None when it cannot be read now.
ReferenceClock = Callable[[], datetime | None]


class DatabaseClock:
    """``now()`` by the database server's clock (on SQLite, by ``reference``)."""

    def __init__(self, engine: Engine, reference: ReferenceClock | None = None) -> None:
        self.engine = engine
        self.reference = reference
        self.has_own_clock = engine.dialect.name != "sqlite"
        self.offset = timedelta(0)
        self._measured_wall = 0.0
        self._measured_mono = -MEASURE_EVERY  # due at the first call
        self._valid_for = 0.0

    def now(self) -> datetime:
        if (self.has_own_clock or self.reference is not None) and self._stale():
            self._measure()
        return utcnow() + self.offset

    def _stale(self) -> bool:
        mono, wall = time.monotonic(), utcnow().timestamp()
        elapsed = mono - self._measured_mono
        jumped = abs((wall - self._measured_wall) - elapsed) > JUMP
        return elapsed >= self._valid_for or jumped

    def _measure(self) -> None:
        before = utcnow().timestamp()
        server = self._read_server() if self.has_own_clock else self._read_reference()
        if server is None:  # the caller's own statement will say what is wrong
            self._mark_measured(before, valid_for=RETRY_AFTER)
            return
        after = utcnow().timestamp()
        local = datetime.fromtimestamp((before + after) / 2, UTC)
        self.offset = server - local
        self._mark_measured(after, valid_for=MEASURE_EVERY)

    def _read_server(self) -> datetime | None:
        try:
            with self.engine.connect() as conn:
                return as_utc(conn.execute(select(_server_time())).scalar_one())
        except SQLAlchemyError as exc:
            log.debug("database clock not read: %s", type(exc).__name__)
            return None

    def _read_reference(self) -> datetime | None:
        return self.reference() if self.reference is not None else None

    def _mark_measured(self, wall: float, *, valid_for: float) -> None:
        self._measured_wall = wall
        self._measured_mono = time.monotonic()
        self._valid_for = valid_for
