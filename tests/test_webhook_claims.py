"""``POST /api/webhooks/claims``: the first claim of a ``webhook-id`` wins, also under a race."""

from __future__ import annotations

import threading
import uuid

from flask import Flask
from flask.testing import FlaskClient

from flask_pdfqueue import PDFQueueState
from flask_pdfqueue.webhooks.claims import KEY, RETENTION_SECONDS

PATH = "/api/webhooks/claims"


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
    claimed = [
        client.post(PATH, json={"webhook_id": webhook_id, "consumer": c}, headers=auth).get_json()[
            "claimed"
        ]
        for c in ("a", "b", "a", "")
    ]
    assert claimed == [True, True, False, True]


def test_simultaneous_claims_have_one_winner(app: Flask, auth: dict[str, str]) -> None:
    webhook_id = f"msg_{uuid.uuid4().hex}"
    start = threading.Barrier(8)
    results: list[bool] = []

    def claim() -> None:
        client = app.test_client()
        start.wait()
        answer = client.post(PATH, json={"webhook_id": webhook_id}, headers=auth)
        results.append(answer.get_json()["claimed"])

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(results) == [False] * 7 + [True]


def test_a_claim_is_kept_for_the_retention(
    client: FlaskClient, auth: dict[str, str], state: PDFQueueState
) -> None:
    client.post(PATH, json={"webhook_id": f"msg_{uuid.uuid4().hex}"}, headers=auth)
    ttls = [state.redis.ttl(key) for key in state.redis.scan_iter(KEY.format(digest="*"))]
    assert ttls and all(RETENTION_SECONDS - 60 < ttl <= RETENTION_SECONDS for ttl in ttls)


def test_claims_need_a_key_and_a_valid_body(client: FlaskClient, auth: dict[str, str]) -> None:
    unkeyed = client.post(PATH, json={"webhook_id": "msg_1"})
    assert unkeyed.status_code == 401
    assert unkeyed.get_json()["error"]["code"] == "unauthorized"

    empty = client.post(PATH, json={"webhook_id": ""}, headers=auth)
    assert empty.status_code == 400
    assert empty.get_json()["error"]["code"] == "invalid_fields"
    assert "webhook_id" in empty.get_json()["error"]["fields"]

    unknown = client.post(PATH, json={"webhook_id": "msg_1", "extra": 1}, headers=auth)
    assert unknown.status_code == 400 and "extra" in unknown.get_json()["error"]["fields"]

    text = client.post(PATH, data="msg_1", headers={**auth, "Content-Type": "text/plain"})
    assert text.status_code == 415
