"""The Redis versions the service runs on, and the one sentence for the others."""

from __future__ import annotations

import subprocess
import sys

import pytest

from flask_pdfqueue.queue.redis_servers import parse_version, support_note, supported
from tests.servers import RunningServer


@pytest.mark.parametrize("version", ["7.0.15", "8.0.2", "6.2.0", "7.2.4"])
def test_the_versions_debian_ships_need_no_word(version: str) -> None:
    assert supported(version)
    assert support_note(version) is None


@pytest.mark.parametrize("version", ["6.0.16", "5.0.14", "4.0.9"])
def test_an_older_redis_is_refused_in_one_sentence(version: str) -> None:
    assert not supported(version)
    note = support_note(version)
    assert note is not None
    assert note.startswith(f"Redis {version} is older than 6.2")
    assert note.count(". ") == 0 and note.endswith(".")


def test_a_newer_redis_is_named_but_allowed() -> None:
    assert supported("9.0.0")
    assert support_note("9.0.0") == (
        "Redis 9.0.0 is newer than the 7.x and 8.x flask-pdfqueue is tested on: "
        "it should work, and anything that does not is worth an issue."
    )


def test_a_version_must_be_one() -> None:
    with pytest.raises(ValueError, match="is not a Redis version"):
        parse_version("7.0-rc1")


@pytest.mark.parametrize(("version", "code"), [("6.0.16", 1), ("9.1.0", 0), ("7.0.15", 0)])
def test_make_run_asks_it_from_the_shell(version: str, code: int) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "flask_pdfqueue.queue.redis_servers", version],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == code
    assert done.stdout.strip() == (support_note(version) or "")


def test_the_redis_the_suite_runs_on_is_supported(redis_server: RunningServer) -> None:
    import redis

    version = redis.Redis.from_url(redis_server.url).info("server")["redis_version"]
    assert supported(version), support_note(version)
