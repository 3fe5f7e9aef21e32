"""The database clock's bookkeeping: an offset measured once, again after a minute, again
at once when the local clock jumps, and kept when the reference cannot be read."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

import flask_pdfqueue.records.sql.clock as clock_module
from flask_pdfqueue.records.sql import make_engine
from flask_pdfqueue.records.sql.clock import MEASURE_EVERY, DatabaseClock

REFERENCE = datetime(2026, 12, 7, 6, 0, tzinfo=UTC)


class Clocks:
    """The reference clock and the local one, moved by hand (monotonic time too)."""

    def __init__(self) -> None:
        self.reference: datetime | None = REFERENCE
        self.local = REFERENCE + timedelta(seconds=30)
        self.mono = 1000.0
        self.readings = 0

    def read_reference(self) -> datetime | None:
        self.readings += 1
        return self.reference

    def advance(self, seconds: float) -> None:
        self.local += timedelta(seconds=seconds)
        self.mono += seconds
        if self.reference is not None:
            self.reference += timedelta(seconds=seconds)


@pytest.fixture
def clocks(monkeypatch: pytest.MonkeyPatch) -> Clocks:
    clocks = Clocks()
    monkeypatch.setattr(clock_module, "utcnow", lambda: clocks.local)
    monkeypatch.setattr(time, "monotonic", lambda: clocks.mono)
    return clocks


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'clock.sqlite3'}")
    yield engine
    engine.dispose()


def test_the_reference_clock_is_read_once_a_minute(clocks: Clocks, engine: Engine) -> None:
    clock = DatabaseClock(engine, reference=clocks.read_reference)
    assert clock.now() == REFERENCE
    clocks.advance(MEASURE_EVERY - 1)
    assert clock.now() == REFERENCE + timedelta(seconds=MEASURE_EVERY - 1)
    assert clocks.readings == 1
    clocks.advance(1)
    clock.now()
    assert clocks.readings == 2


def test_a_jump_of_the_local_clock_is_measured_again_at_once(
    clocks: Clocks, engine: Engine
) -> None:
    clock = DatabaseClock(engine, reference=clocks.read_reference)
    assert clock.now() == REFERENCE
    clocks.local -= timedelta(seconds=60)  # NTP steps it back a minute
    clocks.advance(1)
    assert clock.now() == REFERENCE + timedelta(seconds=1)
    assert clocks.readings == 2


def test_an_unreadable_reference_keeps_the_last_offset(clocks: Clocks, engine: Engine) -> None:
    clock = DatabaseClock(engine, reference=clocks.read_reference)
    assert clock.now() == REFERENCE
    clocks.reference = None  # Redis is down
    clocks.advance(MEASURE_EVERY)
    assert clock.now() == REFERENCE + timedelta(seconds=MEASURE_EVERY)
    clocks.advance(1)
    clock.now()
    assert clocks.readings == 2  # tried again a few seconds later, not at every call


def test_without_a_reference_sqlite_uses_the_local_clock(clocks: Clocks, engine: Engine) -> None:
    assert DatabaseClock(engine).now() == clocks.local
