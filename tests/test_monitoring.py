"""``monitoring/``: the alert rules pass promtool and their unit tests; a real Prometheus
scrapes a running app's ``/metrics``, accepts every query of the Grafana dashboard and
every alert expression, and reads back exactly what a scripted run put in SQL and Redis.

Prometheus and promtool come from Debian's ``prometheus`` package (``make test``
installs it when root, through ``scripts/test-services.sh``); without them these
tests skip and say so.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import make_server

from flask_pdfqueue import PDFQueueState
from tests.conftest import API_KEY, make_isolated_app
from tests.scripted_run import ScriptedRun, script_run
from tests.servers import RunningServer, _launch, free_port
from tests.test_metrics import Samples, expected_samples
from tests.test_stats import REDIS_DB

MONITORING = Path(__file__).resolve().parent.parent / "monitoring"
RULES = MONITORING / "prometheus" / "alerts.yml"
RULE_TESTS = MONITORING / "prometheus" / "alerts_test.yml"
DASHBOARD = MONITORING / "grafana" / "pdfqueue.json"
PROMETHEUS = shutil.which("prometheus")
PROMTOOL = shutil.which("promtool")
_MISSING = "not installed (`make test` installs Debian's prometheus package when run as root)"
needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason=f"promtool {_MISSING}")
ALERTS = {
    "PDFQueueQueueTooLong",
    "PDFQueueFailureRateHigh",
    "PDFQueueJobsSlow",
    "PDFQueueDependencyDown",
    "PDFQueueNoWorkers",
}
needs_prometheus = pytest.mark.skipif(PROMETHEUS is None, reason=f"prometheus {_MISSING}")


def dashboard_queries() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]


@needs_promtool
def test_the_alert_rules_are_valid() -> None:
    result = _promtool("check", "rules", str(RULES))
    assert "SUCCESS: 5 rules found" in result


@needs_promtool
def test_each_alert_fires_and_clears_in_promtools_unit_tests() -> None:
    assert "SUCCESS" in _promtool("test", "rules", str(RULE_TESTS))


def _promtool(*args: str) -> str:
    assert PROMTOOL is not None
    done = subprocess.run([PROMTOOL, *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_the_dashboard_shows_what_operators_watch() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["__inputs"][0]["name"] == "DS_PROMETHEUS"
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == "${DS_PROMETHEUS}"
        assert panel["targets"], panel["title"]
    queries = "\n".join(dashboard_queries())
    for needed in (
        "pdfqueue_queue_depth",
        'pdfqueue_jobs_total{status=~"completed|failed|cancelled"}',
        'pdfqueue_jobs_total{status="failed"}',
        "pdfqueue_webhook_deliveries_total",
        "pdfqueue_workers",
        "pdfqueue_dependency_down_seconds",
        *(
            f"histogram_quantile({q}, sum by (le) (rate(pdfqueue_job_duration_seconds_bucket"
            for q in ("0.50", "0.95", "0.99")
        ),
    ):
        assert needed in queries
    assert "$__" not in queries  # no Grafana-only variables: Prometheus runs them as they are


@pytest.fixture(scope="module")
def served_app(
    stack_settings: dict[str, str],
    redis_server: RunningServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[str, ScriptedRun]]:
    """A scripted queue behind a real HTTP server (werkzeug, threaded) on a free port."""
    app: Flask = make_isolated_app(
        stack_settings, redis_server, tmp_path_factory.mktemp("monitoring"), redis_db=REDIS_DB
    )
    state: PDFQueueState = app.extensions["pdfqueue"]
    run = script_run(state)
    server = make_server("127.0.0.1", free_port(), app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_port}", run
    server.shutdown()
    thread.join(timeout=10)
    state.redis.flushdb()
    state.close()


@pytest.fixture(scope="module")
def prometheus(
    served_app: tuple[str, ScriptedRun], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A private Prometheus (loopback, data in a temporary folder) scraping the app every
    second, with the alert rules loaded; its base URL."""
    assert PROMETHEUS is not None
    target, _ = served_app
    home = tmp_path_factory.mktemp("prometheus")
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(RULES)],
        "scrape_configs": [
            {
                "job_name": "pdfqueue",
                "authorization": {"credentials": API_KEY},
                "static_configs": [{"targets": [target]}],
            }
        ],
    }
    (home / "prometheus.yml").write_text(json.dumps(config))  # YAML reads JSON
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = _launch(
        "prometheus",
        [
            PROMETHEUS,
            f"--config.file={home / 'prometheus.yml'}",
            f"--storage.tsdb.path={home / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        url=url,
        port=port,
        data_dir=home / "data",
        log_path=home / "prometheus.log",
        ready=lambda: _get(f"{url}/-/ready", timeout=0.5).startswith("Prometheus"),
        timeout=60,
    )
    yield url
    server.stop()


def _get(url: str, timeout: float = 10) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as answer:
        return str(answer.read().decode())


def query(prometheus: str, expr: str) -> dict[str, Any]:
    """Prometheus's answer to an instant query (its ``status`` says whether it was accepted)."""
    url = f"{prometheus}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    try:
        answer: dict[str, Any] = json.loads(_get(url))
    except urllib.error.HTTPError as exc:  # a refused query answers 400 with the reason
        answer = json.loads(exc.read())
    return answer


def _wait_for(check: Any, what: str, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.5)
    raise AssertionError(f"Prometheus: {what} within {timeout} s")


@needs_prometheus
def test_prometheus_accepts_every_dashboard_query_and_alert_expression(prometheus: str) -> None:
    _wait_for(
        lambda: query(prometheus, 'up{job="pdfqueue"} == 1')["data"]["result"],
        "a successful scrape of /metrics",
    )

    def evaluated() -> list[dict[str, Any]]:
        groups = json.loads(_get(f"{prometheus}/api/v1/rules"))["data"]["groups"]
        rules = [rule for group in groups for rule in group["rules"]]
        return rules if all(r["lastEvaluation"] > "0001-01-01T00:00:00Z" for r in rules) else []

    rules = _wait_for(evaluated, "every alert rule evaluated")
    assert {r["name"] for r in rules} == ALERTS
    assert all(r["health"] == "ok" for r in rules), rules
    for expr in [*dashboard_queries(), *(rule["query"] for rule in rules)]:
        answer = query(prometheus, expr)
        assert answer["status"] == "success", (expr, answer)
        assert not answer.get("warnings"), (expr, answer)


@needs_prometheus
def test_prometheus_reads_what_the_scripted_run_put_in_sql_and_redis(
    prometheus: str, served_app: tuple[str, ScriptedRun]
) -> None:
    _, run = served_app
    expected = expected_samples(run)

    def scraped() -> Samples:
        answer = query(prometheus, '{__name__=~"pdfqueue_.+"}')
        got: Samples = {}
        for series in answer["data"]["result"]:
            labels = dict(series["metric"])
            name = labels.pop("__name__")
            for dropped in ("job", "instance"):
                labels.pop(dropped)
            got[(name, tuple(sorted(labels.items())))] = float(series["value"][1])
        return got if set(expected) <= set(got) else {}

    got = _wait_for(scraped, "every pdfqueue series")
    assert {k: pytest.approx(v, abs=0.01) for k, v in got.items()} == expected
    # A scripted failure rate of 1 in 5 is what the service's own alert sees; Prometheus's
    # rule needs two scrapes an hour apart to see an increase, so it stays quiet here.
    answer = query(prometheus, 'ALERTS{alertname="PDFQueueNoWorkers"}')
    assert answer["data"]["result"] == []  # both roles have a live worker
