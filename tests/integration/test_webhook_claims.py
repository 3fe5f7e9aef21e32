"""``POST /api/webhooks/claims``: the first claim of a ``webhook-id`` wins, also under a race,
and stays won in SQL whatever becomes of Redis (on each SQL backend)."""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update

from flask_pdfqueue import PDFQueueState
from flask_pdfqueue.jobs.reconcile import reconcile
from flask_pdfqueue.records.sql.webhook_claims import RETENTION, claim_digest, pdf_webhook_claims
from tests.conftest import make_app
from tests.servers import RunningServer

pytestmark = pytest.mark.integration

PATH = "/api/webhooks/claims"


def _claimed(client: FlaskClient, auth: dict[str, str], webhook_id: str, consumer: str) -> bool:
    answer = client.post(PATH, json={"webhook_id": webhook_id, "consumer": consumer}, headers=auth)
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["webhook_id"] == webhook_id
    return bool(answer.get_json()["claimed"])


def _age(state: PDFQueueState, webhook_id: str, consumer: str, by: timedelta) -> None:
    """Make the claim ``by`` older, as if it was made that long ago."""
    digest = claim_digest(webhook_id, consumer)
    table = pdf_webhook_claims.c
    with state.jobs.engine.begin() as conn:
        claimed_at = conn.execute(
            select(table.claimed_at).where(table.claim_digest == digest)
        ).scalar_one()
        conn.execute(
            update(pdf_webhook_claims)
            .where(table.claim_digest == digest)
            .values(claimed_at=claimed_at - by)
        )


def test_the_first_claim_wins_and_every_later_one_loses(
    client: FlaskClient, auth: dict[str, str]
) -> None:
    webhook_id = f"msg_{uuid.uuid4().hex}"
    body = {"webhook_id": webhook_id, "consumer": "workflow-1/node-1"}

    answers = [client.post(PATH, json=body, headers=auth) for _ in range(3)]

    assert [a.status_code for a in answers] == [200, 200, 200]
    assert [a.get_json() for a in answers] == [
        {"webhook_id": webhook_id, "claimed": True},
        {"webhook_id": webhook_id, "claimed": False},
        {"webhook_id": webhook_id, "claimed": False},
    ]


def test_each_consumer_has_claims_of_its_own(client: FlaskClient, auth: dict[str, str]) -> None:
    webhook_id = f"msg_{uuid.uuid4().hex}"
    claimed = [_claimed(client, auth, webhook_id, c) for c in ("a", "b", "a", "")]
    assert claimed == [True, True, False, True]
    # the consumer's length is part of the digest: no other split of the same text collides
    assert _claimed(client, auth, webhook_id[1:], "a" + webhook_id[0]) is True


def test_simultaneous_claims_have_one_winner(app: Flask, auth: dict[str, str]) -> None:
    webhook_id = f"msg_{uuid.uuid4().hex}"
    start = threading.Barrier(8)
    answers: list[tuple[int, bool | None]] = []

    def claim() -> None:
        client = app.test_client()
        start.wait()
        answer = client.post(PATH, json={"webhook_id": webhook_id}, headers=auth)
        answers.append((answer.status_code, answer.get_json().get("claimed")))

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(answers) == [(200, False)] * 7 + [(200, True)]


def test_a_claim_is_kept_in_sql_so_an_emptied_redis_forgets_none(
    client: FlaskClient,
    auth: dict[str, str],
    stack_settings: dict[str, str],
    redis_server: RunningServer,
    tmp_path: Path,
) -> None:
    webhook_id = f"msg_{uuid.uuid4().hex}"
    assert _claimed(client, auth, webhook_id, "trigger") is True
    # the same service after a Redis flush: the same SQL database, a Redis with nothing in it
    flushed = make_app(
        {**stack_settings, "PDFQUEUE_REDIS_URL": redis_server.url.rsplit("/", 1)[0] + "/13"},
        tmp_path,
    )
    flushed_state: PDFQueueState = flushed.extensions["pdfqueue"]
    flushed_state.redis.flushdb()
    try:
        assert _claimed(flushed.test_client(), auth, webhook_id, "trigger") is False
    finally:
        flushed_state.close()


def test_a_claim_older_than_the_retention_is_forgotten_by_the_reconciler(
    client: FlaskClient, auth: dict[str, str], state: PDFQueueState
) -> None:
    old, young = f"msg_{uuid.uuid4().hex}", f"msg_{uuid.uuid4().hex}"
    assert _claimed(client, auth, old, "trigger") and _claimed(client, auth, young, "trigger")
    _age(state, old, "trigger", RETENTION + timedelta(minutes=1))
    _age(state, young, "trigger", RETENTION - timedelta(hours=1))

    assert reconcile(state).webhook_claims_forgotten == 1

    assert _claimed(client, auth, old, "trigger") is True  # claimable again
    assert _claimed(client, auth, young, "trigger") is False  # still held


def test_an_expired_claim_not_yet_forgotten_is_won_once_again(
    client: FlaskClient, auth: dict[str, str], state: PDFQueueState
) -> None:
    webhook_id = f"msg_{uuid.uuid4().hex}"
    assert _claimed(client, auth, webhook_id, "trigger") is True
    _age(state, webhook_id, "trigger", RETENTION + timedelta(minutes=1))

    assert [_claimed(client, auth, webhook_id, "trigger") for _ in range(2)] == [True, False]


def test_claims_need_a_key_and_a_valid_body(client: FlaskClient, auth: dict[str, str]) -> None:
    unkeyed = client.post(PATH, json={"webhook_id": "msg_1"})
    assert unkeyed.status_code == 401
    assert unkeyed.get_json()["error"]["code"] == "unauthorized"

    empty = client.post(PATH, json={"webhook_id": ""}, headers=auth)
    assert empty.status_code == 400
    assert empty.get_json()["error"]["code"] == "invalid_fields"
    assert "webhook_id" in empty.get_json()["error"]["fields"]
