"""A database server that takes the connection and never answers costs seconds, not a
worker: the engine's client-side timeouts end the wait."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest
from sqlalchemy.exc import OperationalError

import flask_pdfqueue.records.sql.columns as columns
from flask_pdfqueue.records.sql import make_engine


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port whose kernel completes the TCP handshake for a process that never reads."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield listener.getsockname()[1]


@pytest.mark.parametrize(
    "url",
    ["postgresql+psycopg://u:p@127.0.0.1:{port}/db", "mysql+pymysql://u:p@127.0.0.1:{port}/db"],
)
def test_a_server_that_never_answers_is_given_up_after_the_client_timeouts(
    silent_server: int, url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # (PyMySQL waits for the server's greeting by its read timeout, libpq by its connect
    # timeout, whose least is 2 s)
    monkeypatch.setattr(columns, "CONNECT_TIMEOUT", 2)
    monkeypatch.setattr(columns, "READ_TIMEOUT", 2)
    engine = make_engine(url.format(port=silent_server))
    started = time.monotonic()
    with pytest.raises(OperationalError):
        engine.connect()
    assert time.monotonic() - started < 2 + 3
    engine.dispose()
