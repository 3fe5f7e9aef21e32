"""The stores' clock is the database's: a process whose own clock is 30 s off (libfaketime)
still stamps and judges SQL-held times as the others do. On SQLite, which has no clock,
Redis's is the one agreed on."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from tests.servers import RunningServer
from tests.skewed_clock import skewed

pytestmark = pytest.mark.integration

#: Prints the process's own clock and its database clock's, as Unix seconds.
PROBE = """
import json, sys
from redis import Redis
from flask_pdfqueue.records.sql import make_engine
from flask_pdfqueue.records.sql.clock import DatabaseClock
from flask_pdfqueue.timestamps import redis_clock, utcnow
clock = DatabaseClock(make_engine(sys.argv[1]), reference=redis_clock(Redis.from_url(sys.argv[2])))
print(json.dumps([utcnow().timestamp(), clock.now().timestamp()]))
"""


@pytest.mark.parametrize("offset", [30, -30])
def test_a_process_whose_clock_is_off_reads_the_database_clock(
    stack_settings: dict[str, str], redis_server: RunningServer, offset: int
) -> None:
    command = [*skewed(f"{offset:+d}s"), sys.executable, "-c", PROBE]
    sql_url = stack_settings["PDFQUEUE_SQL_URL"]
    answer = subprocess.run(
        [*command, sql_url, redis_server.url], capture_output=True, text=True, timeout=60
    )
    assert answer.returncode == 0, answer.stderr
    own, database = json.loads(answer.stdout)
    real = time.time()
    assert abs(own - real - offset) < 5  # its own clock is off...
    assert abs(database - real) < 1  # ...the one it stamps SQL with is not
