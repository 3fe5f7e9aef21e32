"""A worker stopped with TERM (supervisord's stopsignal) finishes the job it runs."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from flask_pdfqueue import PDFQueueState
from tests.conftest import isolated_worker_env, make_isolated_app, start_worker_process
from tests.integration.helpers import settled, sql_row, wait_until
from tests.integration.test_worker_lost import slow_report
from tests.servers import RunningServer

pytestmark = pytest.mark.integration


def test_a_worker_told_to_stop_finishes_its_job_then_exits(
    stack_settings: dict[str, str], redis_server: RunningServer, tmp_path: Path
) -> None:
    app = make_isolated_app(stack_settings, redis_server, tmp_path, redis_db=12)
    state: PDFQueueState = app.extensions["pdfqueue"]
    env = isolated_worker_env(stack_settings, state)
    worker = start_worker_process(state, env, tmp_path / "worker.log")
    try:
        document = slow_report(state)
        response = app.test_client().post(
            "/api/reports/generate-async",
            json={"code": document["code"], "productId": document["product_id"]},
            headers={"X-API-Key": stack_settings["PDFQUEUE_API_KEYS"].split(",")[0]},
        )
        job_id = response.get_json()["job_id"]
        wait_until(lambda: sql_row(state, job_id)["stage"] == "rendering", timeout=60)

        os.kill(worker.pid, signal.SIGTERM)  # warm shutdown: the running job goes on

        assert worker.wait(timeout=120) == 0
        settled(state, job_id, timeout=5)
        row = sql_row(state, job_id)
        assert (row["status"], row["retry_count"]) == ("completed", 0)
        assert "warm shut down requested" in (tmp_path / "worker.log").read_text()
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
        state.close()
