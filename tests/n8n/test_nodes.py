"""The community package n8n-nodes-pdfqueue on a real n8n 2.41.1 and the real service.

The package is built and packed with n8n's tooling and npm-installed from its tarball
(fixture ``n8n_nodes``); the workflows of ``n8n/workflows-with-nodes`` use its nodes. Every
outcome is read from n8n's execution history, the trigger's HTTP answers and the service's
records: no part of n8n or of the service is stood in for.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests
from sqlalchemy import select

from flask_pdfqueue.records.sql import pdf_job_results
from flask_pdfqueue.records.sql.subscribers import pdf_job_subscribers
from flask_pdfqueue.webhooks.signing import signatures
from tests.conftest import API_KEY
from tests.integration.helpers import new_report, wait_until
from tests.n8n.conftest import N8nWithNodes, Service, node_json, node_output

pytestmark = pytest.mark.integration
PRODUCT = "minatBakatUmum"
TRIGGER = "PDF Queue Trigger"


def _trigger_item(execution: dict[str, Any]) -> dict[str, Any]:
    """The item the trigger put out: its json and its binary fields (metadata)."""
    runs = execution["data"]["resultData"]["runData"][TRIGGER]
    item: dict[str, Any] = runs[0]["data"]["main"][0][0]
    return item


def _for_job(job_id: str) -> Callable[[dict[str, Any]], bool]:
    def match(execution: dict[str, Any]) -> bool:
        return (node_json(execution, TRIGGER) or {}).get("job_id") == job_id

    return match


def _runs_for(n8n: N8nWithNodes, job_id: str) -> list[dict[str, Any]]:
    return [e for e in n8n.executions("nodes-receive") if _for_job(job_id)(e)]


def _delivered(service: Service, job_id: str, attempts: int = 1) -> None:
    """The service's webhook for the job was taken (2xx) on its ``attempts``-th attempt."""

    def done() -> bool:
        deliveries = service.state.deliveries.for_job(job_id)
        return bool(deliveries) and all(
            d.state == "delivered" and d.attempts >= attempts for d in deliveries
        )

    wait_until(done, timeout=90)


def _submit(n8n: N8nWithNodes, body: dict[str, Any]) -> dict[str, Any]:
    answer = requests.post(f"{n8n.url}/webhook/nodes-start-pdf", json=body, timeout=90)
    assert answer.status_code == 200, answer.text
    job: dict[str, Any] = answer.json()
    assert job["status"] == "queued" and job["job_id"].startswith("pdf_")
    return job


def _pdf_starts_like_a_pdf(service: Service, job_id: str) -> None:
    record = service.state.jobs.get(job_id)
    assert record is not None and record.storage_key is not None
    path = service.state.storage.local_path(record.storage_key)
    assert path is not None and path.read_bytes().startswith(b"%PDF")


def _assert_pdf_attached(execution: dict[str, Any], service: Service, job_id: str) -> None:
    item = _trigger_item(execution)
    pdf = item["binary"]["data"]
    assert (pdf["mimeType"], pdf["fileName"]) == ("application/pdf", f"{job_id}.pdf")
    assert "pdf_base64" not in item["json"]  # the bytes are in the binary field, not twice
    checksum = node_json(execution, "PDF checksum")
    assert checksum is not None
    assert checksum["pdf_sha256"] == service.pdf_sha256(job_id)  # the very bytes stored
    _pdf_starts_like_a_pdf(service, job_id)


def test_submit_then_the_trigger_fires_once_with_the_verified_pdf(
    n8n_nodes: N8nWithNodes, service: Service
) -> None:
    report = new_report(service.state)
    job = _submit(n8n_nodes, {"code": report["code"], "productId": PRODUCT, "priority": "high"})
    job_id = job["job_id"]

    execution = n8n_nodes.wait_for_execution("nodes-receive", _for_job(job_id))
    assert execution["status"] == "success"
    event = _trigger_item(execution)["json"]
    assert (event["status"], event["code"], event["productId"]) == (
        "completed",
        report["code"],
        PRODUCT,
    )
    assert event["webhook"]["secret"] == "current"
    (delivery,) = service.state.deliveries.for_job(job_id)
    assert event["webhook"]["id"] == delivery.webhook_id
    _assert_pdf_attached(execution, service, job_id)  # downloaded with the credential
    assert node_output(execution, "Failed report") is None
    _delivered(service, job_id)

    # The service sends the same event again (same webhook-id): taken, and dropped.
    replay = requests.post(
        f"{service.url}/api/webhooks/{job_id}/replay", headers={"X-API-Key": API_KEY}, timeout=30
    )
    assert replay.status_code == 202, replay.text
    _delivered(service, job_id, attempts=2)
    time.sleep(2)  # an execution, had one started, would be listed by now
    assert len(_runs_for(n8n_nodes, job_id)) == 1


def test_an_inline_pdf_comes_from_pdf_base64(n8n_nodes: N8nWithNodes, service: Service) -> None:
    report = new_report(service.state)
    job = _submit(n8n_nodes, {"code": report["code"], "productId": PRODUCT, "deliver": "inline"})

    execution = n8n_nodes.wait_for_execution("nodes-receive", _for_job(job["job_id"]))
    assert execution["status"] == "success"
    (delivery,) = service.state.deliveries.for_job(job["job_id"])
    assert "pdf_base64" in json.loads(delivery.payload)  # the event carried the PDF
    _assert_pdf_attached(execution, service, job["job_id"])


def test_the_same_idempotency_key_answers_the_first_job_again(
    n8n_nodes: N8nWithNodes, service: Service
) -> None:
    """The key the node sends (here the caller's) reaches the service: a second submit with
    it, another execution of the workflow, gets the first job, not a second one."""
    report = new_report(service.state)
    body = {"code": report["code"], "productId": PRODUCT, "priority": "low"}
    key = {"Idempotency-Key": f"nodes-{uuid.uuid4().hex}"}
    url = f"{n8n_nodes.url}/webhook/nodes-start-pdf"
    first = requests.post(url, json=body, headers=key, timeout=90)
    again = requests.post(url, json=body, headers=key, timeout=90)
    assert first.status_code == again.status_code == 200, (first.text, again.text)
    assert first.json()["job_id"] == again.json()["job_id"]


def test_retry_on_fail_after_a_lost_answer_sends_the_same_key_and_subscribes_once(
    n8n_nodes: N8nWithNodes, service: Service
) -> None:
    """The service takes the submit, but its answer is lost on the way back (a proxy's 504).
    The shipped workflow's Retry On Fail sends it again with the derived key: the service
    answers the first job again, and the job has one subscriber, so one webhook and one run
    of the trigger. A retry with a new key would have joined the job as a second subscriber."""
    report = new_report(service.state)
    path = "/api/reports/generate-async"
    before = len(n8n_nodes.proxy.requests_to("POST", path))
    n8n_nodes.proxy.lose_next_answer("POST", path)

    job_id = _submit(n8n_nodes, {"code": report["code"], "productId": PRODUCT})["job_id"]

    tries = n8n_nodes.proxy.requests_to("POST", path)[before:]
    assert [t.status for t in tries] == [504, 202]
    key = tries[0].idempotency_key
    assert key is not None and key.startswith("n8n-") and tries[1].idempotency_key == key
    subscribers = pdf_job_subscribers.c
    with service.state.jobs.engine.connect() as conn:
        rows = conn.execute(
            select(subscribers.job_id)
            .join(pdf_job_results, pdf_job_results.c.job_id == subscribers.job_id)
            .where(pdf_job_results.c.code == report["code"])
        ).all()
    assert [row.job_id for row in rows] == [job_id]  # one job, one subscriber
    n8n_nodes.wait_for_execution("nodes-receive", _for_job(job_id))
    _delivered(service, job_id)
    time.sleep(2)  # a second execution, had one started, would be listed by now
    assert len(_runs_for(n8n_nodes, job_id)) == 1


def test_a_failed_job_fires_the_trigger_with_its_error(
    n8n_nodes: N8nWithNodes, service: Service
) -> None:
    code = f"MISSING-{uuid.uuid4().hex[:8]}"  # no such report: fails at once, not retried
    job = _submit(n8n_nodes, {"code": code, "productId": PRODUCT})

    execution = n8n_nodes.wait_for_execution("nodes-receive", _for_job(job["job_id"]))
    assert execution["status"] == "success"
    item = _trigger_item(execution)
    assert item["json"]["status"] == "failed"
    assert (item["json"]["error_code"], item["json"]["retryable"]) == ("report_not_found", False)
    assert "binary" not in item
    assert node_json(execution, "Failed report") is not None
    assert node_output(execution, "PDF checksum") is None


def _failure_event(job_id: str) -> bytes:
    """A failure event as the service sends one (a failure needs no PDF to fetch)."""
    return json.dumps(
        {
            "job_id": job_id,
            "status": "failed",
            "error": "No report document matches this code and productId.",
            "error_code": "report_not_found",
            "retryable": False,
            "failed_at": "2026-12-07T10:00:00Z",
            "retry_count": 0,
            "code": "SIGNED-BY-THE-TEST",
            "productId": PRODUCT,
        },
        separators=(",", ":"),
    ).encode()


def _headers(secrets: list[str], body: bytes, webhook_id: str, age: int = 0) -> dict[str, str]:
    timestamp = int(time.time()) - age
    return {
        "Content-Type": "application/json",
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signatures(secrets, webhook_id, timestamp, body),
    }


def _deliver(n8n: N8nWithNodes, body: bytes, headers: dict[str, str]) -> requests.Response:
    return requests.post(f"{n8n.url}/webhook/pdfqueue", data=body, headers=headers, timeout=30)


def test_tampered_wrong_secret_stale_and_unsigned_events_get_401_and_run_nothing(
    n8n_nodes: N8nWithNodes, service: Service
) -> None:
    secret = service.webhook_secret
    wrong = "whsec_" + "d3Jvbmcta2V5LXdyb25nLWtleS13cm9uZy1rZXk="
    job_ids = [f"pdf_refused_{uuid.uuid4().hex}" for _ in range(4)]
    signed = _failure_event(job_ids[0])
    tampered = signed.replace(b'"retry_count":0', b'"retry_count":9')
    cases = [
        (tampered, _headers([secret], signed, f"msg_{uuid.uuid4().hex}")),
        (_failure_event(job_ids[1]), _headers([wrong], _failure_event(job_ids[1]), "msg_w")),
        (_failure_event(job_ids[2]), _headers([secret], _failure_event(job_ids[2]), "msg_s", 600)),
        (_failure_event(job_ids[3]), {"Content-Type": "application/json"}),
    ]
    for body, headers in cases:
        answer = _deliver(n8n_nodes, body, headers)
        assert answer.status_code == 401, answer.text
        assert answer.json()["error"]["code"] == "invalid_signature"

    time.sleep(2)  # an execution, had one started, would be listed by now
    for job_id in job_ids:
        assert _runs_for(n8n_nodes, job_id) == []


def test_during_a_rotation_events_signed_with_either_secret_run(
    n8n_nodes: N8nWithNodes, service: Service
) -> None:
    """The credential holds the new secret and the previous one: no event is lost, whichever
    the service still signs with (only the old, both, or only the new)."""
    new, old = service.webhook_secret, n8n_nodes.previous_secret
    expected = {"old": "previous", "both": "current", "new": "current"}
    job_ids = {}
    for name, secrets in {"old": [old], "both": [new, old], "new": [new]}.items():
        job_ids[name] = f"pdf_rotation_{name}_{uuid.uuid4().hex}"
        body = _failure_event(job_ids[name])
        answer = _deliver(n8n_nodes, body, _headers(secrets, body, f"msg_{uuid.uuid4().hex}"))
        assert answer.status_code == 200, answer.text

    for name, job_id in job_ids.items():
        execution = n8n_nodes.wait_for_execution("nodes-receive", _for_job(job_id))
        assert execution["status"] == "success"
        assert _trigger_item(execution)["json"]["webhook"]["secret"] == expected[name]


def test_simultaneous_deliveries_of_one_event_run_the_workflow_once(
    n8n_nodes: N8nWithNodes, service: Service
) -> None:
    job_id = f"pdf_race_{uuid.uuid4().hex}"
    body = _failure_event(job_id)
    headers = _headers([service.webhook_secret], body, f"msg_{uuid.uuid4().hex}")

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda _: _deliver(n8n_nodes, body, headers), range(8)))

    assert [a.status_code for a in answers] == [200] * 8
    bodies = [a.json() for a in answers]
    started = {"received": True, "webhook_id": headers["webhook-id"]}
    assert bodies.count(started) == 1
    assert bodies.count({"received": True, "duplicate": True}) == 7
    n8n_nodes.wait_for_execution("nodes-receive", _for_job(job_id))
    time.sleep(2)
    assert len(_runs_for(n8n_nodes, job_id)) == 1


def test_submit_and_wait_resumes_then_gets_status_and_downloads(
    n8n_nodes: N8nWithNodes, service: Service
) -> None:
    report = new_report(service.state)
    answer = requests.post(
        f"{n8n_nodes.url}/webhook/nodes-start-pdf-wait",
        json={"code": report["code"], "productId": PRODUCT},
        timeout=90,
    )
    assert answer.status_code == 202, answer.text
    job_id = answer.json()["job_id"]

    def submitted_this_job(execution: dict[str, Any]) -> bool:
        return bool((node_json(execution, "Submit") or {}).get("job_id") == job_id)

    execution = n8n_nodes.wait_for_execution("nodes-submit-and-wait", submitted_this_job)
    assert execution["status"] == "success"
    resumed = node_json(execution, "Wait for the outcome")
    assert resumed is not None
    assert resumed["body"]["status"] == "completed" and resumed["body"]["job_id"] == job_id
    assert resumed["query"]["signature"]  # the service POSTed to $execution.resumeUrl
    status = node_json(execution, "Get status")
    assert status is not None and (status["job_id"], status["status"]) == (job_id, "completed")
    downloaded = node_output(execution, "Download")
    assert downloaded is not None
    assert downloaded[0]["binary"]["data"]["mimeType"] == "application/pdf"
    checksum = node_json(execution, "PDF checksum")
    assert checksum is not None and checksum["pdf_sha256"] == service.pdf_sha256(job_id)
    _pdf_starts_like_a_pdf(service, job_id)


def test_service_errors_show_the_service_error_code(
    n8n_nodes: N8nWithNodes, service: Service
) -> None:
    answer = requests.post(
        f"{n8n_nodes.url}/webhook/nodes-start-pdf",
        json={"code": "", "productId": PRODUCT},
        timeout=90,
    )
    assert answer.status_code == 500  # the Submit node failed: n8n answers its webhook 500

    def refused(execution: dict[str, Any]) -> bool:
        error = execution["data"]["resultData"].get("error") or {}
        return "invalid_fields" in str(error.get("message", ""))

    execution = n8n_nodes.wait_for_execution("nodes-submit", refused)
    assert execution["status"] == "error"
    error = execution["data"]["resultData"]["error"]
    assert error["message"].startswith("invalid_fields: ")
    assert error["httpCode"] == "400"


def _jobs(n8n: N8nWithNodes, body: dict[str, Any]) -> requests.Response:
    return requests.post(f"{n8n.url}/webhook/nodes-jobs", json=body, timeout=90)


def test_batch_list_replay_and_cancel_through_the_node(
    n8n_nodes: N8nWithNodes, service: Service
) -> None:
    codes = [new_report(service.state)["code"] for _ in range(2)]
    jobs = [{"code": code, "productId": PRODUCT} for code in codes]
    batch = _jobs(
        n8n_nodes, {"action": "batch", "jobs": [*jobs, {"code": "", "productId": PRODUCT}]}
    )
    assert batch.status_code == 200, batch.text
    first, second, refused = batch.json()  # one result per item, in order
    assert first["status"] == second["status"] == "queued"
    assert refused["error"]["code"] == "invalid_fields"
    job_ids = [first["job_id"], second["job_id"]]
    for job_id in job_ids:  # the batch's default callback is the trigger too
        n8n_nodes.wait_for_execution("nodes-receive", _for_job(job_id))
        _delivered(service, job_id)

    listed = _jobs(n8n_nodes, {"action": "list"})
    assert listed.status_code == 200, listed.text
    completed = {job["job_id"]: job["status"] for job in listed.json()}
    assert all(completed.get(job_id) == "completed" for job_id in job_ids)

    replayed = _jobs(n8n_nodes, {"action": "replay", "job_id": job_ids[0]})
    assert replayed.status_code == 200, replayed.text
    (delivery,) = service.state.deliveries.for_job(job_ids[0])
    assert replayed.json() == [
        {"job_id": job_ids[0], "replayed": [delivery.webhook_id], "in_flight": []}
    ]
    _delivered(service, job_ids[0], attempts=2)

    # Cancelling a finished job: the service's 409 fails the node with its code and message.
    assert _jobs(n8n_nodes, {"action": "cancel", "job_id": job_ids[1]}).status_code == 500

    def refused_cancel(execution: dict[str, Any]) -> bool:
        error = execution["data"]["resultData"].get("error") or {}
        return bool(str(error.get("message", "")).startswith("already_finished: "))

    execution = n8n_nodes.wait_for_execution("nodes-jobs", refused_cancel)
    assert execution["data"]["resultData"]["error"]["httpCode"] == "409"
    time.sleep(2)
    assert len(_runs_for(n8n_nodes, job_ids[0])) == 1  # the replayed event ran nothing


def test_the_credential_test_checks_the_key(n8n_nodes: N8nWithNodes, service: Service) -> None:
    def test(api_key: str) -> dict[str, Any]:
        answer = n8n_nodes.rest.post(
            f"{n8n_nodes.url}/rest/credentials/test",
            json={
                "credentials": {
                    "id": "pdfqueueNodesApi",
                    "name": "PDF Queue API",
                    "type": "pdfQueueApi",
                    "data": {
                        "url": service.url,
                        "apiKey": api_key,
                        "webhookSecret": service.webhook_secret,
                        "previousWebhookSecret": "",
                    },
                }
            },
            timeout=30,
        )
        assert answer.status_code == 200, answer.text
        result: dict[str, Any] = answer.json()["data"]
        return result

    assert test(API_KEY)["status"] == "OK"
    refused = test("not-the-key")
    assert refused["status"] == "Error"
    assert "401" in refused["message"] or "unauthorized" in refused["message"].lower()
