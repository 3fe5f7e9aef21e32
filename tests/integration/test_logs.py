"""The logs of a real run: a line per transition, and no secret in any of them."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from flask_pdfqueue import PDFQueueState
from tests.conftest import API_KEY, WorkerProcess
from tests.integration.helpers import new_report, settled, submit_report
from tests.receiver import WebhookReceiver

pytestmark = pytest.mark.integration
SIGNATURE = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def test_a_job_logs_each_transition_and_no_secret(
    client: FlaskClient,
    auth: dict[str, str],
    state: PDFQueueState,
    receiver: WebhookReceiver,
    worker: WorkerProcess,
    caplog: pytest.LogCaptureFixture,
) -> None:
    document = new_report(state)
    resume = receiver.url_for(f"/webhook-waiting/77?signature={SIGNATURE}")
    accepted = submit_report(
        client,
        auth,
        document,
        callback=resume,
        failure_callback=resume,
    )
    job_id = accepted["job_id"]
    receiver.wait_for("/webhook-waiting/77", timeout=60)
    settled(state, job_id)

    worker_log = worker.log_path.read_text()
    delivery_log = (worker.log_path.parent / "delivery.log").read_text()
    ours = [line for line in worker_log.splitlines() if job_id in line]
    for stage in ("loading", "rendering", "storing", "recording", "completed"):
        assert any(f"job {job_id} {stage}" in line for line in ours), stage
    assert any("delivered" in line for line in ours)  # by the job process's courier

    everything = "\n".join([worker_log, delivery_log, caplog.text])
    for secret in (
        API_KEY,
        state.settings.webhook_secret,
        state.settings.webhook_secret.removeprefix("whsec_"),
        SIGNATURE,
    ):
        assert secret not in everything
