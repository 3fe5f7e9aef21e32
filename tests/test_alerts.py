"""Alerts: judged from the figures, "since when" shared through Redis by every process,
each turn on and clear announced once by a signed webhook; judged by worker upkeep too."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from flask_pdfqueue import ConfigError, PDFQueue, PDFQueueState
from flask_pdfqueue.ops.alerts import KEY_PREFIX, LOCK_KEY, evaluate, evaluate_if_due, judge
from flask_pdfqueue.ops.stats import AlertInputs, alert_inputs
from flask_pdfqueue.records.migrations import upgrade
from flask_pdfqueue.records.sql.figures import Finished
from flask_pdfqueue.timestamps import utcnow
from flask_pdfqueue.worker.classes import InProcessWorker, PDFWorker
from tests.conftest import API_KEY, make_app
from tests.integration.helpers import verified
from tests.receiver import Received, WebhookReceiver
from tests.scripted_run import script_run
from tests.servers import RunningServer
from tests.test_stats import REDIS_DB

STATS = "/api/queue/stats"
AUTH = {"X-API-Key": API_KEY}


def _settings(
    stack_settings: dict[str, str], redis_server: RunningServer, home: Path, **extra: str
) -> dict[str, str]:
    return {
        **stack_settings,
        "PDFQUEUE_REDIS_URL": redis_server.url.rsplit("/", 1)[0] + f"/{REDIS_DB}",
        "PDFQUEUE_SQL_URL": f"sqlite:///{home / 'alerts.sqlite3'}",
        "PDFQUEUE_MONGO_DB": "isolated",
        **extra,
    }


@pytest.fixture
def hook(receiver: WebhookReceiver) -> str:
    """A path of the receiver of this test's own."""
    return f"/alerts/{uuid.uuid4().hex}"


@pytest.fixture
def two_processes(
    stack_settings: dict[str, str],
    redis_server: RunningServer,
    receiver: WebhookReceiver,
    hook: str,
    tmp_path: Path,
) -> Iterator[tuple[Flask, Flask]]:
    """Two apps on the same Redis and SQL, as two web processes of one deployment."""
    settings = _settings(
        stack_settings,
        redis_server,
        tmp_path,
        PDFQUEUE_ALERT_QUEUE_LENGTH="2",
        PDFQUEUE_ALERT_WEBHOOK=receiver.url_for(hook),
    )
    first = make_app(settings, tmp_path / "one")
    second = make_app(settings, tmp_path / "two")
    state: PDFQueueState = first.extensions["pdfqueue"]
    state.redis.flushdb()
    upgrade(state.jobs.engine)
    yield first, second
    state.redis.flushdb()
    for app in (first, second):
        app.extensions["pdfqueue"].close()


def _alerts(app: Flask) -> dict[str, dict[str, Any]]:
    response = app.test_client().get(STATS, headers=AUTH)
    assert response.status_code == 200, response.data
    return {alert["name"]: alert for alert in response.get_json()["alerts"]}


def _deliver(app: Flask) -> None:
    """What a delivery worker does: work the webhook queue (RQ's own worker, in burst)."""
    state: PDFQueueState = app.extensions["pdfqueue"]
    with app.app_context():
        worker = InProcessWorker([state.queue.webhooks], connection=state.redis)
        worker.work(burst=True, with_scheduler=True)


def _events(receiver: WebhookReceiver, hook: str, name: str) -> list[Received]:
    return [r for r in receiver.requests(hook) if r.json["alert"] == name]


def test_an_alert_fires_and_clears_once_whichever_process_sees_it(
    two_processes: tuple[Flask, Flask], receiver: WebhookReceiver, hook: str
) -> None:
    first, second = two_processes
    state: PDFQueueState = first.extensions["pdfqueue"]
    for number in range(3):
        state.queue.enqueue(f"waiting-{number}", "normal")

    seen_first = _alerts(first)["queue_length"]
    seen_second = _alerts(second)["queue_length"]

    assert seen_first["firing"] and seen_first["value"] == 3 and seen_first["threshold"] == 2
    assert seen_first["since"] == seen_second["since"] is not None  # kept in Redis
    _deliver(first)
    receiver.wait_for(hook, 2)  # queue_length and no_workers (no worker runs here)

    state.redis.delete(state.queue.queues["normal"].key)  # the backlog is worked off
    assert not _alerts(second)["queue_length"]["firing"]
    assert _alerts(first)["queue_length"]["since"] is None
    _deliver(second)
    receiver.wait_for(hook, 3)
    # Each event is in the outbox once, delivered, with its attempt logged.
    alerts = state.deliveries.find(states=["delivered"])
    assert sorted(d.event for d in alerts) == ["alert"] * 3
    assert all(d.job_id is None and d.attempts == 1 for d in alerts)

    events = _events(receiver, hook, "queue_length")
    assert [e.json["status"] for e in events] == ["firing", "resolved"]
    fired, resolved = events
    assert fired.json["since"] == resolved.json["since"] == seen_first["since"]
    assert resolved.json["resolved_at"] is not None and fired.json["resolved_at"] is None
    assert fired.json["value"] == 3 and resolved.json["value"] == 0
    assert fired.headers["webhook-id"] != resolved.headers["webhook-id"]
    secret = state.settings.webhook_secret
    for event in events:  # checked with the Standard Webhooks reference library
        assert verified(event, secret)["alert"] == "queue_length"
        assert event.headers["content-type"] == "application/json"


def test_an_alert_webhook_is_retried_with_the_same_webhook_id(
    two_processes: tuple[Flask, Flask], receiver: WebhookReceiver, hook: str
) -> None:
    first, _ = two_processes
    receiver.respond(hook, 503)  # the first attempt meets an outage

    assert _alerts(first)["no_workers"]["firing"]

    _deliver(first)
    # the retry is due a second later (±20 %, rounded up to RQ's whole second): a burst
    # worker's scheduler moves it to the queue once it is
    deadline = time.monotonic() + 15
    while len(receiver.requests(hook)) < 2 and time.monotonic() < deadline:
        time.sleep(0.5)
        _deliver(first)
    first_try, second_try = receiver.wait_for(hook, 2, timeout=1)
    assert first_try.headers["webhook-id"] == second_try.headers["webhook-id"]
    assert first_try.body == second_try.body
    assert second_try.json["alert"] == "no_workers" and second_try.json["status"] == "firing"


def test_each_alert_fires_on_its_own_figure(
    stack_settings: dict[str, str], redis_server: RunningServer, tmp_path: Path
) -> None:
    settings = _settings(
        stack_settings,
        redis_server,
        tmp_path,
        PDFQUEUE_ALERT_QUEUE_LENGTH="2",  # 3 waiting
        PDFQUEUE_ALERT_AVG_SECONDS="100",  # 115.25 s on average
        PDFQUEUE_ALERT_FAILURE_RATE="0.25",  # 1 of 5 failed: 20 %
    )
    app = make_app(settings, tmp_path)
    state: PDFQueueState = app.extensions["pdfqueue"]
    state.redis.flushdb()
    upgrade(state.jobs.engine)
    try:
        script_run(state)
        alerts = _alerts(app)
        assert {name for name, alert in alerts.items() if alert["firing"]} == {
            "queue_length",
            "avg_seconds",
        }
        assert alerts["avg_seconds"]["value"] == pytest.approx((4 + 12 + 45 + 400) / 4, abs=0.01)
        assert alerts["failure_rate"]["value"] == pytest.approx(0.2)
        assert alerts["no_workers"]["value"] == 1  # one live delivery worker, two render
    finally:
        state.redis.flushdb()
        state.close()


def _inputs(
    waiting: int = 0,
    completed: int = 10,
    failed: int = 0,
    seconds: float = 10.0,
    render: int = 1,
    delivery: int = 1,
) -> AlertInputs:
    finished = Finished(
        since=utcnow(),
        counts={"completed": completed, "failed": failed, "cancelled": 0},
        completed_seconds=seconds * completed,
    )
    return AlertInputs(
        waiting=waiting, finished=finished, live_workers={"render": render, "delivery": delivery}
    )


@pytest.mark.parametrize(
    ("inputs", "firing"),
    [
        (_inputs(), set()),
        (_inputs(waiting=100), set()),  # at the threshold: not above it
        (_inputs(waiting=101), {"queue_length"}),
        (_inputs(completed=95, failed=5), set()),  # exactly 5 %
        (_inputs(completed=94, failed=6), {"failure_rate"}),
        (_inputs(completed=0, failed=0), set()),  # nothing ended: no rate, no average
        (_inputs(completed=0, failed=3), {"failure_rate"}),
        (_inputs(seconds=300.0), set()),
        (_inputs(seconds=300.5), {"avg_seconds"}),
        (_inputs(render=0), {"no_workers"}),
        (_inputs(delivery=0), {"no_workers"}),
    ],
)
def test_thresholds(inputs: AlertInputs, firing: set[str]) -> None:
    alerts = judge(inputs, queue_length=100, failure_rate=0.05, avg_seconds=300)
    assert {a.name for a in alerts if a.firing} == firing
    assert all(a.since is None for a in alerts)  # judging alone records nothing


def test_no_workers_names_the_role_without_one() -> None:
    (alert,) = [a for a in judge(_inputs(delivery=0), **_DEFAULTS) if a.name == "no_workers"]
    assert alert.message == "no live delivery worker"
    assert (alert.value, alert.threshold, alert.fires_when) == (0, 1, "below")


_DEFAULTS: dict[str, Any] = {"queue_length": 100, "failure_rate": 0.05, "avg_seconds": 300}


def test_workers_judge_the_alerts_once_per_round_between_them(
    two_processes: tuple[Flask, Flask],
) -> None:
    app, _ = two_processes
    state: PDFQueueState = app.extensions["pdfqueue"]
    with app.app_context():
        worker = PDFWorker(state.queue.ordered, connection=state.redis, name="upkeep")
        worker.register_birth()
        worker.run_maintenance_tasks()

        assert state.redis.get(LOCK_KEY) == b"upkeep"
        assert state.redis.get(KEY_PREFIX + "no_workers") is not None  # no delivery worker
        assert state.redis.get(KEY_PREFIX + "queue_length") is None
        assert evaluate_if_due(state, "another") is None  # within the round: not again
        state.redis.delete(LOCK_KEY)
        assert evaluate_if_due(state, "another") is not None


def test_since_stays_while_an_alert_keeps_firing(two_processes: tuple[Flask, Flask]) -> None:
    app, _ = two_processes
    state: PDFQueueState = app.extensions["pdfqueue"]
    with app.app_context():
        inputs = alert_inputs(state)
        earlier = evaluate(state, inputs)
        later = evaluate(state, inputs)
    since = {a.name: a.since for a in earlier}
    assert since["no_workers"] is not None
    assert {a.name: a.since for a in later} == since


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"PDFQUEUE_ALERT_WEBHOOK": "http://alerts.example.com/hook"}, "PDFQUEUE_ALERT_WEBHOOK"),
        ({"PDFQUEUE_ALERT_FAILURE_RATE": "5"}, "PDFQUEUE_ALERT_FAILURE_RATE"),
        ({"PDFQUEUE_ALERT_AVG_SECONDS": "0"}, "PDFQUEUE_ALERT_AVG_SECONDS"),
        ({"PDFQUEUE_ALERT_QUEUE_LENGTH": "-1"}, "PDFQUEUE_ALERT_QUEUE_LENGTH"),
        ({"PDFQUEUE_METRICS_PUBLIC": "perhaps"}, "expected true or false"),
    ],
)
def test_bad_alert_settings_are_refused_at_start(
    config: dict[str, str], message: str, tmp_path: Path
) -> None:
    app = Flask("alerts_config", instance_path=str(tmp_path))
    app.config.update({"PDFQUEUE_API_KEYS": "k", **config})
    with pytest.raises(ConfigError, match=message):
        PDFQueue(app)
