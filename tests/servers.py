"""Start and stop real servers for the tests: shared machinery, Redis and SecantusDB.

Each server runs as its own process group on a free loopback port with a private
data directory, so the suite never touches a system service. Redis and SecantusDB
must start (failure raises ServerError and the suite fails). The optional SQL
servers (PostgreSQL, MariaDB) live in ``tests/sql_servers.py`` and raise
ServerUnavailable, with the reason, when not installed.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class ServerError(RuntimeError):
    """A server that must run could not be started (the suite should fail)."""


class ServerUnavailable(Exception):
    """An optional server is not installed here; str(exc) is the reason to skip."""


@dataclass
class RunningServer:
    """A server process we started; stop() or kill() it, or atexit will."""

    name: str
    url: str
    port: int
    process: subprocess.Popen[bytes]
    data_dir: Path
    log_path: Path
    stop_signal: int = field(default=signal.SIGTERM, repr=False)
    remove_on_stop: list[Path] = field(default_factory=list, repr=False)

    def stop(self) -> None:
        """Graceful stop of the whole process group: signal, wait 10 s, then SIGKILL."""
        if self.process.poll() is None:
            _signal_group(self.process, self.stop_signal)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                _signal_group(self.process, signal.SIGKILL)
                self.process.wait(timeout=10)
        else:  # leader gone: make sure no child of it lingers
            _signal_group(self.process, signal.SIGKILL)
        for path in self.remove_on_stop:
            shutil.rmtree(path, ignore_errors=True)
        self.remove_on_stop.clear()
        _unregister(self)

    def kill(self) -> None:
        """SIGKILL the process group now, as a crash would (data dir is kept)."""
        _signal_group(self.process, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)


def _signal_group(process: subprocess.Popen[bytes], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)  # pgid == pid: started with start_new_session


_running: list[RunningServer] = []


def _unregister(server: RunningServer) -> None:
    with contextlib.suppress(ValueError):
        _running.remove(server)


@atexit.register
def _stop_all() -> None:
    """A crashed or interrupted test session must not leave servers behind."""
    for server in list(_running):
        with contextlib.suppress(Exception):
            server.stop()


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on ``host`` that was free a moment ago (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _log_tail(path: Path, lines: int = 25) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"(no log: {exc})"
    return "\n".join(text.splitlines()[-lines:]) or "(log is empty)"


def _error(name: str, what: str, cmd: list[str], log_path: Path) -> ServerError:
    return ServerError(
        f"{name}: {what}\ncommand: {' '.join(cmd)}\nlog {log_path} (tail):\n{_log_tail(log_path)}"
    )


def _find(names: list[str], dirs: list[str]) -> str | None:
    """First of `names` on PATH, else in `dirs` (sbin is often not on PATH)."""
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    for d in dirs:
        for name in names:
            candidate = Path(d) / name
            if candidate.is_file() and os.access(candidate, os.X_OK):
                return str(candidate)
    return None


def _run_setup(name: str, cmd: list[str], log_path: Path, **kwargs: Any) -> None:
    """Run a one-off setup command (initdb, install-db), logging into log_path."""
    with log_path.open("ab") as log:
        log.write(f"$ {' '.join(cmd)}\n".encode())
        log.flush()
        try:
            rc = subprocess.run(
                cmd, stdout=log, stderr=subprocess.STDOUT, timeout=120, check=False, **kwargs
            ).returncode
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise _error(name, f"setup failed: {exc}", cmd, log_path) from exc
    if rc != 0:
        raise _error(name, f"setup exited with {rc}", cmd, log_path)


def _launch(
    name: str,
    cmd: list[str],
    *,
    url: str,
    port: int,
    data_dir: Path,
    log_path: Path,
    ready: Callable[[], bool],
    timeout: float,
    stop_signal: int = signal.SIGTERM,
    remove_on_stop: list[Path] | None = None,
    **popen: Any,
) -> RunningServer:
    """Start cmd in its own session and wait until ready() answers or it dies."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        log.write(f"$ {' '.join(cmd)}\n".encode())
        log.flush()
        try:
            process = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                **popen,
            )
        except OSError as exc:
            raise _error(name, f"cannot execute: {exc}", cmd, log_path) from exc
    server = RunningServer(
        name, url, port, process, data_dir, log_path, stop_signal, remove_on_stop or []
    )
    _running.append(server)
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            server.stop()
            raise _error(name, f"exited with {process.returncode} while starting", cmd, log_path)
        try:
            # re-check the process: a foreign server on a raced port must not count
            if ready() and process.poll() is None:
                return server
        except Exception:  # noqa: S110 - not up yet; the deadline decides
            pass
        if time.monotonic() > deadline:
            server.stop()
            raise _error(name, f"not answering on port {port} after {timeout:.0f} s", cmd, log_path)
        time.sleep(0.05)


def start_redis(
    base_dir: Path, *, port: int | None = None, appendonly: bool = True, host: str = "127.0.0.1"
) -> RunningServer:
    """Private redis-server; data in base_dir/redis, so a restart on it replays the AOF."""
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    binary = _find(["redis-server"], ["/usr/bin", "/usr/sbin", "/usr/local/bin"])
    data_dir = base_dir / "redis"
    log_path = data_dir / "redis.log"
    data_dir.mkdir(parents=True, exist_ok=True)
    if binary is None:
        raise _error(
            "redis",
            "redis-server not found (apt-get install redis-server)",
            ["redis-server"],
            log_path,
        )
    port = port or free_port(host)
    cmd = [
        binary,
        "--bind",
        host,
        "--protected-mode",
        "no",
        "--port",
        str(port),
        "--dir",
        str(data_dir),
        "--appendonly",
        "yes" if appendonly else "no",
        "--appendfsync",
        "everysec",
        "--save",
        "",
        "--daemonize",
        "no",
        "--logfile",
        str(log_path),
    ]

    def ready() -> bool:
        # No retries: a probe must not block while the process may already have died.
        with redis.Redis(
            host=host,
            port=port,
            socket_timeout=0.5,
            socket_connect_timeout=0.5,
            retry=Retry(NoBackoff(), 0),
        ) as client:
            return bool(client.ping())

    return _launch(
        "redis",
        cmd,
        url=f"redis://{host}:{port}/0",
        port=port,
        data_dir=data_dir,
        log_path=log_path,
        ready=ready,
        timeout=10,
    )


def start_secantus(
    base_dir: Path, *, port: int | None = None, host: str = "127.0.0.1"
) -> RunningServer:
    """SecantusDB (MongoDB wire protocol) with storage in base_dir/secantus."""
    import pymongo

    local = Path(sys.executable).parent / "secantusd-py"
    binary = str(local) if local.exists() else shutil.which("secantusd-py")
    data_dir = base_dir / "secantus"
    log_path = base_dir / "secantus.log"
    base_dir.mkdir(parents=True, exist_ok=True)
    config = base_dir / "secantusd.toml"
    config.touch()  # an explicit (empty) config turns off ~/.secantus auto-discovery
    if binary is None:
        raise _error(
            "secantus",
            "secantusd-py not found (pip install SecantusDB)",
            ["secantusd-py"],
            log_path,
        )
    port = port or free_port(host)
    cmd = [
        binary,
        "--config",
        str(config),
        "--host",
        host,
        "--port",
        str(port),
        "--storage-path",
        str(data_dir),
        "--standalone",
        "--cache-size",
        "128M",
    ]
    url = f"mongodb://{host}:{port}/?directConnection=true"

    def ready() -> bool:
        client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(
            url, serverSelectionTimeoutMS=500, connectTimeoutMS=500
        )
        with client:
            return bool(client.admin.command("ping").get("ok"))

    return _launch(
        "secantus",
        cmd,
        url=url,
        port=port,
        data_dir=data_dir,
        log_path=log_path,
        ready=ready,
        timeout=30,
        cwd=base_dir,
    )
