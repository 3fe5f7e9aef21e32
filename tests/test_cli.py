"""The ``flask pdfqueue`` group as a new user meets it: a backing service that does not
answer is one sentence naming the URL tried (without its password) and what to do, exit
status 1; and the embedded servers' URLs follow ``PDFQUEUE_REDIS_PORT`` and
``PDFQUEUE_MONGO_PORT`` as ``make run`` derives them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from flask_pdfqueue.service import create_app, embedded_urls
from tests.servers import free_port


def _flask(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("PDFQUEUE_")}
    environ.update(PDFQUEUE_HOME=str(home), **env)
    command = [sys.executable, "-m", "flask", "--app", "flask_pdfqueue.service", "pdfqueue"]
    return subprocess.run(
        [*command, *args], env=environ, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize(
    ("args", "setting", "url", "name"),
    [
        (["info"], "PDFQUEUE_REDIS_URL", "redis://:s3cret@127.0.0.1:{port}/0", "Redis"),
        (
            ["seed-demo"],
            "PDFQUEUE_MONGO_URL",
            "mongodb://u:s3cret@127.0.0.1:{port}/?directConnection=true&serverSelectionTimeoutMS=500",
            "MongoDB",
        ),
        (
            ["db", "current"],
            "PDFQUEUE_SQL_URL",
            "postgresql+psycopg://u:s3cret@127.0.0.1:{port}/pdfqueue",
            "The SQL database",
        ),
    ],
)
def test_a_service_that_does_not_answer_is_one_sentence_and_exit_1(
    tmp_path: Path, args: list[str], setting: str, url: str, name: str
) -> None:
    port = free_port()
    result = _flask(tmp_path, *args, **{setting: url.format(port=port)})
    assert result.returncode == 1, result
    assert "Traceback" not in result.stderr
    [line] = [text for text in result.stderr.splitlines() if text.strip()]
    assert line.startswith(f"Error: {name} at ")
    assert f"127.0.0.1:{port}" in line and f"set {setting} to where yours runs" in line
    assert "s3cret" not in result.stderr + result.stdout


def test_the_embedded_servers_urls_follow_the_ports_make_run_uses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key in [k for k in os.environ if k.startswith("PDFQUEUE_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("PDFQUEUE_HOME", str(tmp_path))
    monkeypatch.setenv("PDFQUEUE_REDIS_PORT", "26400")
    monkeypatch.setenv("PDFQUEUE_MONGO_PORT", "27400")
    state = create_app().extensions["pdfqueue"]
    settings = state.settings
    state.close()
    assert settings.redis_url == "redis://127.0.0.1:26400/0"
    assert settings.mongo_url == "mongodb://127.0.0.1:27400/?directConnection=true"
    # a URL given outright wins over the port
    given = {"PDFQUEUE_REDIS_PORT": "1", "PDFQUEUE_REDIS_URL": "redis://elsewhere:6379/2"}
    assert embedded_urls(given) == {}
    assert embedded_urls({}) == {}


def test_only_an_app_with_the_extension_has_the_commands(tmp_path: Path) -> None:
    (tmp_path / "plain.py").write_text("from flask import Flask\napp = Flask(__name__)\n")
    environ = {k: v for k, v in os.environ.items() if not k.startswith("PDFQUEUE_")}
    plain = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "plain", "--help"],
        cwd=tmp_path,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert plain.returncode == 0, plain.stderr
    assert "pdfqueue" not in plain.stdout
    service = _flask(tmp_path, "--help")
    assert service.returncode == 0, service.stderr
    assert "Operate the PDF queue." in service.stdout


def test_the_service_loads_alembic_only_for_the_schema_commands() -> None:
    # Every process of the service (web, workers) loads the CLI; Alembic and Mako would
    # cost each of them about 8 MB resident that only `flask pdfqueue db` uses.
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from flask_pdfqueue.service import create_app; "
            "from flask_pdfqueue.cli import database; create_app(); "
            "print(sorted(m for m in ('alembic', 'mako') if m in sys.modules))",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.strip() == "[]"
