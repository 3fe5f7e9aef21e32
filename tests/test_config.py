"""The PDFQUEUE_* namespace: where values come from, parsing, validation, generated secrets."""

from __future__ import annotations

import base64
import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from flask import Flask

from flask_pdfqueue import ConfigError, PDFQueue, Settings, current_pdfqueue
from flask_pdfqueue.service import create_app, create_worker_app


def settings(config: dict[str, object] | None = None) -> Settings:
    return Settings.from_config(config or {}, instance_path="/srv/instance")


def test_defaults_are_the_development_profile() -> None:
    s = settings()
    assert (s.profile, s.workers, s.max_queue_size, s.job_timeout) == ("development", 2, 100, 300)
    assert (s.retry_attempts, s.retry_intervals) == (3, (10, 60, 300))
    assert s.resolved_sql_url == "sqlite:////srv/instance/pdfqueue.sqlite3"
    assert s.resolved_storage_dir == Path("/srv/instance/pdfs")
    assert s.webhook_retry_schedule == (5, 30, 120, 600, 1800, 3600, 10800, 21600)
    assert (s.reconcile_interval, s.delivery_workers) == (60, 1)


def test_app_config_overrides_defaults_with_typed_values_or_strings() -> None:
    s = settings({"PDFQUEUE_WORKERS": 4, "PDFQUEUE_JOB_TIMEOUT": "100"})
    assert (s.workers, s.job_timeout, s.max_queue_size) == (4, 100, 100)


def test_lists_bools_and_maps_parse_from_strings() -> None:
    s = settings(
        {
            "PDFQUEUE_API_KEYS": "k1, k2,",
            "PDFQUEUE_RETRY_ATTEMPTS": "2",
            "PDFQUEUE_RETRY_INTERVALS": "5,30",
            "PDFQUEUE_HEALTH_PUBLIC": "no",
            "PDFQUEUE_TEMPLATE_MAP": "kepribadianDasar=big5.html, archive=psikotes.html pdf/a-3b",
            "PDFQUEUE_INLINE_PDF_MAX_BYTES": "2048",
        }
    )
    assert s.api_keys == ("k1", "k2")
    assert s.retry_intervals == (5, 30)
    assert s.health_public is False
    assert s.template_map == (
        ("kepribadianDasar", "big5.html"),
        ("archive", "psikotes.html pdf/a-3b"),
    )
    assert s.inline_pdf_max_bytes == 2048
    assert settings({"PDFQUEUE_API_KEYS": ["a", "b"]}).api_keys == ("a", "b")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PDFQUEUE_WORKERS": "two"}, "PDFQUEUE_WORKERS='two' is not valid"),
        ({"PDFQUEUE_PROFILE": "prod"}, "PDFQUEUE_PROFILE must be one of"),
        ({"PDFQUEUE_RETRY_INTERVALS": "10,60"}, "give one interval per retry"),
        ({"PDFQUEUE_STORAGE": "s3"}, "PDFQUEUE_STORAGE must be one of"),
        ({"PDFQUEUE_JOB_TIMEOUT": "0"}, "PDFQUEUE_JOB_TIMEOUT must be positive"),
        ({"PDFQUEUE_HEALTH_PUBLIC": "maybe"}, "expected true or false"),
        ({"PDFQUEUE_WEBHOOK_SECRET": "plain"}, "whsec_"),
        ({"PDFQUEUE_WEBHOOK_SECRET": "whsec_not base64!"}, "whsec_<base64>"),
        ({"PDFQUEUE_WEBHOOK_RETRY_SCHEDULE": "5,-1"}, "must not be negative"),
        ({"PDFQUEUE_PDF_VARIANT": "pdf/z-9"}, "PDFQUEUE_PDF_VARIANT must be"),
        ({"PDFQUEUE_TEMPLATE_MAP": "a=x.html pdf/z-9"}, "product 'a' names 'pdf/z-9'"),
        ({"PDFQUEUE_TEMPLATE_MAP": "a=x.html pdf/a-3b extra"}, "product 'a': 'x.html pdf/a-3b"),
        ({"PDFQUEUE_INLINE_PDF_MAX_BYTES": "-1"}, "PDFQUEUE_INLINE_PDF_MAX_BYTES must be 0"),
        ({"PDFQUEUE_RECONCILE_INTERVAL": "0"}, "PDFQUEUE_RECONCILE_INTERVAL must be positive"),
        ({"PDFQUEUE_WEBHOOK_TIMEOUT": "0"}, "must be positive"),
        ({"PDFQUEUE_RATE_LIMIT": "lots"}, "PDFQUEUE_RATE_LIMIT must be in Flask-Limiter's"),
        ({"PDFQUEUE_RATE_LIMIT": ""}, "such as 1200/minute"),
    ],
)
def test_invalid_values_are_refused_with_the_fix(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        settings(dict(env))


def test_production_refuses_to_start_without_its_secrets() -> None:
    with pytest.raises(ConfigError) as info:
        settings({"PDFQUEUE_PROFILE": "production"})
    for key in (
        "PDFQUEUE_API_KEYS",
        "PDFQUEUE_WEBHOOK_SECRET",
        "PDFQUEUE_CALLBACK_ALLOWED_HOSTS",
        "PDFQUEUE_PUBLIC_URL",
        "PDFQUEUE_DASHBOARD_PASSWORD",
    ):
        assert key in str(info.value)
    ok = settings(
        {
            "PDFQUEUE_PROFILE": "production",
            "PDFQUEUE_API_KEYS": "k",
            "PDFQUEUE_WEBHOOK_SECRET": "whsec_c2VjcmV0",
            "PDFQUEUE_CALLBACK_ALLOWED_HOSTS": "n8n.internal",
            "PDFQUEUE_PUBLIC_URL": "https://pdf.example.com/",
            "PDFQUEUE_DASHBOARD_PASSWORD": "s3cret-dashboard",
        }
    )
    assert ok.callback_allowed_hosts == ("n8n.internal",)
    assert ok.base_url == "https://pdf.example.com"
    assert settings().base_url == "http://127.0.0.1:8000"  # elsewhere, the local default


def _app(tmp_path: Path, **config: object) -> Flask:
    app = Flask("config_test", instance_path=str(tmp_path))
    app.config.update(config)
    return app


def test_missing_secrets_are_generated_once_into_the_instance_folder(tmp_path: Path) -> None:
    app = _app(tmp_path)
    PDFQueue(app)
    with app.app_context():
        generated = current_pdfqueue().settings
    key_file = tmp_path / "api-key"
    assert generated.api_keys == (key_file.read_text().strip(),)
    assert generated.webhook_secret.startswith("whsec_")
    # the HMAC key is text (n8n's Crypto node takes nothing else): 64 hex digits
    key = base64.b64decode(generated.webhook_secret.removeprefix("whsec_")).decode("ascii")
    assert re.fullmatch(r"[0-9a-f]{64}", key)
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    again = _app(tmp_path)
    PDFQueue(again)
    with again.app_context():
        assert current_pdfqueue().settings.api_keys == generated.api_keys
        assert current_pdfqueue().settings.webhook_secret == generated.webhook_secret


def test_registering_twice_says_what_to_do_instead(tmp_path: Path) -> None:
    app = _app(tmp_path, PDFQUEUE_API_KEYS="k")
    ext = PDFQueue()
    ext.init_app(app)
    with pytest.raises(RuntimeError, match="already registered"):
        ext.init_app(app)


def test_state_outside_an_initialised_app_is_a_clear_error(tmp_path: Path) -> None:
    with _app(tmp_path).app_context(), pytest.raises(RuntimeError, match="not initialised"):
        current_pdfqueue()


def test_readme_documents_every_setting() -> None:
    from dataclasses import fields

    readme = (Path(__file__).parent.parent / "README.md").read_text()
    for f in fields(Settings):
        if not f.metadata.get("internal"):
            assert f"| `PDFQUEUE_{f.name.upper()}` |" in readme, f.name


def test_a_default_callback_outside_the_allow_list_is_refused_at_start(tmp_path: Path) -> None:
    app = _app(
        tmp_path,
        PDFQUEUE_DEFAULT_CALLBACK="http://n8n.elsewhere/webhook/pdf-complete",
        PDFQUEUE_CALLBACK_ALLOWED_HOSTS="127.0.0.1",
    )
    with pytest.raises(ConfigError, match="PDFQUEUE_DEFAULT_CALLBACK is refused"):
        PDFQueue(app)


#: Values a shell would export (strings), all different from the defaults.
ENVIRONMENT = {
    "PDFQUEUE_WORKERS": "7",
    "PDFQUEUE_API_KEYS": "123456,k2",  # digits stay a key, not a number
    "PDFQUEUE_RETRY_ATTEMPTS": "1",
    "PDFQUEUE_RETRY_INTERVALS": "10",  # one value stays a list
    "PDFQUEUE_HEALTH_PUBLIC": "false",
    "PDFQUEUE_RATE_LIMIT": "5/second",
}


def test_an_app_is_configured_through_app_config_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in ENVIRONMENT.items():
        monkeypatch.setenv(name, value)  # an embedding app's environment does not leak in
    app = _app(tmp_path, PDFQUEUE_API_KEYS=["a", "b"], PDFQUEUE_JOB_TIMEOUT=120)
    PDFQueue(app)
    with app.app_context():
        s = current_pdfqueue().settings
    assert (s.api_keys, s.job_timeout) == (("a", "b"), 120)
    assert (s.workers, s.retry_attempts, s.health_public) == (2, 3, True)
    assert s.rate_limit == "1200/minute"
    # Every setting in effect shows in app.config: given ones as given, defaults filled in.
    assert app.config["PDFQUEUE_API_KEYS"] == ["a", "b"]
    assert (app.config["PDFQUEUE_WORKERS"], app.config["PDFQUEUE_RATE_LIMIT"]) == (
        2,
        "1200/minute",
    )


def test_the_service_loads_the_environment_over_its_profile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "staging.py").write_text(
        "PDFQUEUE_WORKERS = 3\nPDFQUEUE_JOB_TIMEOUT = 400\n"
    )
    monkeypatch.setenv("PDFQUEUE_HOME", str(tmp_path))
    monkeypatch.setenv("PDFQUEUE_PROFILE", "staging")
    for name, value in ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    app = create_app()
    with app.app_context():
        s = current_pdfqueue().settings
        current_pdfqueue().close()
    assert s.profile == "staging"
    assert s.job_timeout == 400  # from the profile
    assert s.workers == 7  # the environment wins over the profile
    assert s.api_keys == ("123456", "k2")
    assert (s.retry_attempts, s.retry_intervals) == (1, (10,))
    assert (s.health_public, s.rate_limit) == (False, "5/second")
    assert app.config["PDFQUEUE_WORKERS"] == "7"


def test_the_services_profile_argument_wins_over_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PDFQUEUE_HOME", str(tmp_path))
    monkeypatch.setenv("PDFQUEUE_PROFILE", "staging")
    app = create_app("development")
    with app.app_context():
        assert current_pdfqueue().settings.profile == "development"
        current_pdfqueue().close()


def test_the_worker_app_has_the_jobs_side_and_no_http_side(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PDFQUEUE_HOME", str(tmp_path))
    monkeypatch.setenv("PDFQUEUE_API_KEYS", "123456")
    app = create_worker_app()
    with app.app_context():
        state = current_pdfqueue()
        assert state.settings.api_keys == ("123456",)
        assert state.download_url("j1").endswith("/api/jobs/j1/download")
        state.close()
    assert [rule.rule for rule in app.url_map.iter_rules()] == ["/static/<path:filename>"]
    full = create_app()
    rules = {rule.rule for rule in full.url_map.iter_rules()}
    full.extensions["pdfqueue"].close()
    assert {"/api/reports/generate-async", "/metrics", "/rq/"} <= rules


#: Loads what a worker process runs, then names the HTTP side's packages it imported.
_WORKER_IMPORTS = """
import json, sys
from flask_pdfqueue.service import create_worker_app
import flask_pdfqueue.cli, flask_pdfqueue.worker.classes, workers.pdf_worker, workers.webhook_worker
create_worker_app()
http_side = ("pydantic", "flask_limiter", "prometheus_client", "rq_dashboard")
print(json.dumps(sorted(name for name in http_side if name in sys.modules)))
"""


def test_a_worker_process_does_not_import_the_http_side(tmp_path: Path) -> None:
    env = {**os.environ, "PDFQUEUE_HOME": str(tmp_path), "PDFQUEUE_API_KEYS": "123456"}
    done = subprocess.run(
        [sys.executable, "-c", _WORKER_IMPORTS], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == []
