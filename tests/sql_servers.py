"""Start and stop the optional SQL servers (PostgreSQL, MariaDB) for the tests.

Built on the machinery in ``tests/servers.py``: each server runs as its own process
group on a free loopback port with a private data directory. When one is not
installed here, its start_* raises ServerUnavailable with the reason to skip.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import tempfile
from pathlib import Path
from typing import Any

from tests.servers import (
    RunningServer,
    ServerError,
    ServerUnavailable,
    _find,
    _launch,
    _run_setup,
    free_port,
)

SQL_DATABASE = "pdfqueue_test"


def _postgres_bindir() -> Path | None:
    initdb = shutil.which("initdb")
    if initdb and (Path(initdb).parent / "postgres").exists():
        return Path(initdb).parent
    dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda d: int(d.split("/")[-2]))
    for d in reversed(dirs):
        if (Path(d) / "initdb").exists() and (Path(d) / "postgres").exists():
            return Path(d)
    return None


def postgres_unavailable_reason() -> str | None:
    """Why PostgreSQL cannot be started here, or None when it can."""
    if _postgres_bindir() is None:
        return "PostgreSQL binaries (initdb, postgres) not found"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no 'postgres' OS user to run PostgreSQL"
    return None


def start_postgres(base_dir: Path, *, host: str = "127.0.0.1") -> RunningServer:
    """Fresh private PostgreSQL cluster with database pdfqueue_test (trust auth), listening
    on ``host`` (and trusting that address's /24, for tests with a second host)."""

    reason = postgres_unavailable_reason()
    if reason:
        raise ServerUnavailable(reason)
    bindir = _postgres_bindir()
    assert bindir is not None
    base_dir.mkdir(parents=True, exist_ok=True)
    log_path = base_dir / "postgres.log"
    popen = _as_postgres_user()
    remove: list[Path] = []
    if os.geteuid() == 0:
        # postgres refuses root; its user cannot traverse pytest's 0700 temp dirs,
        # so the cluster lives in a /tmp dir of its own, removed on stop().
        pw = pwd.getpwnam("postgres")
        data_dir = Path(tempfile.mkdtemp(prefix="pdfqueue-pg-"))
        os.chown(data_dir, pw.pw_uid, pw.pw_gid)
        remove.append(data_dir)
    else:
        data_dir = Path(tempfile.mkdtemp(prefix="postgres-", dir=base_dir))
    initdb = [
        str(bindir / "initdb"),
        "-D",
        str(data_dir),
        "-U",
        "postgres",
        "--auth=trust",
        "-E",
        "UTF8",
        "--no-sync",
    ]
    try:
        _run_setup("postgres", initdb, log_path, **popen)
    except ServerError:
        for path in remove:
            shutil.rmtree(path, ignore_errors=True)
        raise
    if host != "127.0.0.1":
        with (data_dir / "pg_hba.conf").open("a") as hba:
            hba.write(f"host all all {host}/24 trust\n")
    return _serve_postgres(data_dir, free_port(host), host, log_path, remove)


def restart_postgres(server: RunningServer, *, host: str = "127.0.0.1") -> RunningServer:
    """Start a cluster that was killed (:meth:`RunningServer.kill` keeps its data) again,
    on its data and its port: what a database server restarted for maintenance is."""
    return _serve_postgres(
        server.data_dir, server.port, host, server.log_path, server.remove_on_stop
    )


def _serve_postgres(
    data_dir: Path, port: int, host: str, log_path: Path, remove: list[Path]
) -> RunningServer:
    import psycopg

    bindir = _postgres_bindir()
    assert bindir is not None
    cmd = [
        str(bindir / "postgres"),
        "-D",
        str(data_dir),
        "-p",
        str(port),
        "-c",
        f"listen_addresses={host}",
        "-c",
        "unix_socket_directories=",
        "-c",
        "fsync=off",
        "-c",
        "full_page_writes=off",
    ]
    conninfo = f"host={host} port={port} user=postgres dbname=postgres connect_timeout=2"

    def ready() -> bool:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (SQL_DATABASE,)
            ).fetchone()
            if not exists:
                conn.execute(f"CREATE DATABASE {SQL_DATABASE}")
            return True

    # SIGINT is PostgreSQL's "fast" shutdown; SIGTERM would wait for clients to leave.
    return _launch(
        "postgres",
        cmd,
        url=f"postgresql+psycopg://postgres@{host}:{port}/{SQL_DATABASE}",
        port=port,
        data_dir=data_dir,
        log_path=log_path,
        ready=ready,
        timeout=30,
        stop_signal=signal.SIGINT,
        remove_on_stop=remove,
        **_as_postgres_user(),
    )


def _as_postgres_user() -> dict[str, Any]:
    """Popen options that run a PostgreSQL program as the postgres user (it refuses root)."""
    if os.geteuid() != 0:
        return {}
    pw = pwd.getpwnam("postgres")
    return {
        "user": pw.pw_uid,
        "group": pw.pw_gid,
        "extra_groups": [],
        "env": {**os.environ, "HOME": pw.pw_dir},
    }


_SBIN = ["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"]


def _mariadb_binaries() -> tuple[str | None, str | None]:
    server = _find(["mariadbd", "mysqld"], _SBIN)
    install = _find(["mariadb-install-db", "mysql_install_db"], _SBIN)
    return server, install


def mariadb_unavailable_reason() -> str | None:
    """Why MariaDB cannot be started here, or None when it can."""
    server, install = _mariadb_binaries()
    if server is None or install is None:
        return (
            "MariaDB binaries (mariadbd, mariadb-install-db) not found; "
            "install mariadb-server (scripts/test-services.sh does it as root)"
        )
    return None


def start_mariadb(base_dir: Path) -> RunningServer:
    """Private MariaDB with database pdfqueue_test; root@127.0.0.1 has no password."""
    import pymysql  # type: ignore[import-untyped]

    server_bin, install_bin = _mariadb_binaries()
    if server_bin is None or install_bin is None:
        raise ServerUnavailable(str(mariadb_unavailable_reason()))
    data_dir = base_dir / "mariadb"
    log_path = base_dir / "mariadb.log"
    data_dir.mkdir(parents=True, exist_ok=True)
    user = ["--user=root"] if os.geteuid() == 0 else []
    if not (data_dir / "mysql").is_dir():
        _run_setup(
            "mariadb",
            [
                install_bin,
                "--no-defaults",
                *user,
                f"--datadir={data_dir}",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
                "--skip-name-resolve",
            ],
            log_path,
        )
    remove: list[Path] = []
    sock = data_dir / "mysqld.sock"
    if len(str(sock)) > 100:  # AF_UNIX path limit; TCP is what the tests use anyway
        remove.append(Path(tempfile.mkdtemp(prefix="pdfq-my-")))
        sock = remove[0] / "mysqld.sock"
    port = free_port()
    cmd = [
        server_bin,
        "--no-defaults",
        *user,
        f"--datadir={data_dir}",
        f"--port={port}",
        "--bind-address=127.0.0.1",
        f"--socket={sock}",
        f"--pid-file={data_dir}/mysqld.pid",
        "--skip-name-resolve",
        "--innodb-buffer-pool-size=64M",
        "--innodb-flush-log-at-trx-commit=2",
        "--character-set-server=utf8mb4",
        "--collation-server=utf8mb4_unicode_ci",
    ]

    def ready() -> bool:
        conn = pymysql.connect(host="127.0.0.1", port=port, user="root", connect_timeout=2)
        try:
            with conn.cursor() as cur:
                cur.execute(f"CREATE DATABASE IF NOT EXISTS {SQL_DATABASE}")
            return True
        finally:
            conn.close()

    return _launch(
        "mariadb",
        cmd,
        url=f"mysql+pymysql://root@127.0.0.1:{port}/{SQL_DATABASE}",
        port=port,
        data_dir=data_dir,
        log_path=log_path,
        ready=ready,
        timeout=60,
        remove_on_stop=remove,
    )
