"""Fast checks of the test infrastructure: real servers and the webhook receiver."""

from __future__ import annotations

import http.client
import json
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pymongo
import pytest
import redis
import sqlalchemy

from tests import sql_servers
from tests.receiver import WebhookReceiver
from tests.servers import (
    RunningServer,
    ServerError,
    ServerUnavailable,
    free_port,
    start_redis,
    start_secantus,
)
from tests.sql_servers import start_mariadb, start_postgres


@pytest.fixture(scope="module")
def base_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One temp tree for this module's servers (pytest keeps the last few for post-mortems)."""
    return tmp_path_factory.mktemp("servers")


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as r:
        yield r


def _port_is_free(port: int) -> bool:
    """Nothing listens there any more (bind may still see TIME_WAIT; connect does not)."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    return False


def _post(
    url: str,
    path: str,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    timeout: float = 5,
) -> tuple[int, bytes]:
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        conn.request("POST", path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def _select_one(server: RunningServer) -> None:
    engine = sqlalchemy.create_engine(server.url)
    try:
        with engine.connect() as conn:
            assert conn.execute(sqlalchemy.text("SELECT 1")).scalar() == 1
    finally:
        engine.dispose()


# --- servers -----------------------------------------------------------------------------


def test_redis_starts_keeps_aof_data_across_restart_and_frees_port(base_dir: Path) -> None:
    server = start_redis(base_dir / "r1")
    assert server.url == f"redis://127.0.0.1:{server.port}/0"
    client = redis.Redis.from_url(server.url)
    assert client.ping()
    client.set("k", "v")
    client.close()
    server.stop()
    server.stop()  # idempotent
    assert _port_is_free(server.port)

    again = start_redis(base_dir / "r1")  # same data dir: the AOF is replayed
    try:
        with redis.Redis.from_url(again.url) as client2:
            assert client2.get("k") == b"v"
        again.kill()
        assert again.process.returncode == -signal.SIGKILL
    finally:
        again.stop()


def test_redis_failure_raises_server_error_with_log_tail(base_dir: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(ServerError) as info:
            start_redis(base_dir / "busy", port=port)
    message = str(info.value)
    assert message.startswith("redis:")
    assert "--port" in message
    assert "in use" in message.lower()  # the tail of redis' own log


def test_secantus_failure_on_busy_port_raises_server_error_with_log_tail(base_dir: Path) -> None:
    """The mongo_server fixture then errors the session: make test fails, it does not skip."""
    from tests.servers import _running

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(ServerError) as info:
            start_secantus(base_dir / "secantus-busy", port=port)
    message = str(info.value)
    assert message.startswith("secantus:")
    assert "exited with" in message
    assert f"--port {port}" in message
    assert "address already in use" in message.lower()  # the tail of secantusd's own log
    assert not [s for s in _running if s.name == "secantus" and s.port == port]  # stopped


def test_secantus_failure_on_unusable_storage_raises_server_error(base_dir: Path) -> None:
    base = base_dir / "secantus-file"
    base.mkdir()
    (base / "secantus").write_text("a file where the storage directory should be")
    with pytest.raises(ServerError) as info:
        start_secantus(base)
    message = str(info.value)
    assert message.startswith("secantus:")
    assert "exited with" in message
    assert "File exists" in message
    assert str(base / "secantus") in message


def test_secantus_round_trip(base_dir: Path) -> None:
    server = start_secantus(base_dir / "mongo")
    try:
        client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(
            server.url, serverSelectionTimeoutMS=5000
        )
        with client:
            reports = client["pdfqueue_test"]["reports"]
            reports.insert_one({"code": "DEMO-001", "nested": {"n": 1}})
            found = reports.find_one({"code": "DEMO-001"}, {"_id": 0})
            assert found == {"code": "DEMO-001", "nested": {"n": 1}}
    finally:
        server.stop()
    assert server.process.returncode is not None
    assert _port_is_free(server.port)


@pytest.mark.parametrize("start", [start_postgres, start_mariadb], ids=["postgres", "mariadb"])
def test_sql_server_select_one(base_dir: Path, start: Any) -> None:
    try:
        server = start(base_dir / start.__name__)
    except ServerUnavailable as exc:
        pytest.skip(str(exc))
    try:
        assert server.url.endswith(f"@127.0.0.1:{server.port}/pdfqueue_test")
        _select_one(server)
    finally:
        server.stop()
    assert _port_is_free(server.port)


def test_free_port_is_bindable() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", free_port()))


# --- webhook receiver --------------------------------------------------------------------


def test_receiver_records_path_query_headers_body(receiver: WebhookReceiver) -> None:
    path = "/webhook/abc?a=1&b=%2F%20x&a=2&empty="
    body = json.dumps({"jobId": "j1", "status": "done"}).encode()
    status, answer = _post(
        receiver.url, path, body, {"Content-Type": "application/json", "X-Signature": "v1,abc"}
    )
    assert status == 200
    assert json.loads(answer) == {"message": "Workflow was started"}
    (got,) = receiver.wait_for("/webhook/abc")
    assert got.method == "POST"
    assert got.path == path  # byte for byte, percent-encoding and order kept
    assert got.headers["x-signature"] == "v1,abc"
    assert got.headers["content-type"] == "application/json"
    assert got.body == body
    assert got.json == {"jobId": "j1", "status": "done"}
    assert receiver.requests(path) == [got]
    assert receiver.requests("/webhook/abc?a=1") == []
    assert receiver.requests("/other") == []
    assert receiver.url_for("/webhook/abc") == receiver.url + "/webhook/abc"


def test_receiver_scripted_statuses_then_200(receiver: WebhookReceiver) -> None:
    receiver.respond("/hook", 500, (429, {"Retry-After": "1"}, b"slow down"))
    first = _post(receiver.url, "/hook?try=1")
    second = _post(receiver.url, "/hook?try=2")
    third = _post(receiver.url, "/hook?try=3")
    assert [first[0], second[0], third[0]] == [500, 429, 200]
    assert second[1] == b"slow down"
    assert [r.path for r in receiver.wait_for("/hook", 3)] == [
        "/hook?try=1",
        "/hook?try=2",
        "/hook?try=3",
    ]


def test_receiver_delay_lets_client_time_out(receiver: WebhookReceiver) -> None:
    receiver.respond("/slow", ("delay", 5))
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        _post(receiver.url, "/slow", b"x", timeout=0.3)
    assert time.monotonic() - started < 2
    assert len(receiver.wait_for("/slow", timeout=1)) == 1  # recorded on arrival
    assert _post(receiver.url, "/slow")[0] == 200  # the script is used up


def test_receiver_wait_for_timeout_says_what_arrived(receiver: WebhookReceiver) -> None:
    _post(receiver.url, "/elsewhere?x=1")
    with pytest.raises(AssertionError) as info:
        receiver.wait_for("/hook", count=2, timeout=0.2)
    message = str(info.value)
    assert "expected 2 request(s) on /hook" in message
    assert "POST /elsewhere?x=1" in message


def test_missing_sql_servers_are_unavailable_not_errors(
    base_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sql_servers, "_postgres_bindir", lambda: None)
    monkeypatch.setattr(sql_servers, "_mariadb_binaries", lambda: (None, None))
    with pytest.raises(ServerUnavailable, match="PostgreSQL binaries"):
        start_postgres(base_dir / "nopg")
    with pytest.raises(ServerUnavailable, match="install mariadb-server"):
        start_mariadb(base_dir / "nomy")


def test_receiver_reads_chunked_bodies_and_delayed_status(receiver: WebhookReceiver) -> None:
    receiver.respond("/late", ("delay", 0.1, 503))
    conn = http.client.HTTPConnection("127.0.0.1", receiver.port, timeout=5)
    try:
        conn.request(
            "PUT",
            "/late",
            body=iter([b'{"a":', b"1}"]),
            encode_chunked=True,
            headers={"Transfer-Encoding": "chunked"},
        )
        assert conn.getresponse().status == 503
    finally:
        conn.close()
    assert receiver.requests("/late")[0].json == {"a": 1}
