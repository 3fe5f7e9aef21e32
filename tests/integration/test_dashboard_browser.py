"""The dashboard in a real browser: headless Chromium (Debian's) logs in and sees the queues.

Skipped, with the reason, where Chromium is not installed (``make test`` installs it
when run as root).
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from werkzeug.serving import make_server

from flask_pdfqueue import PDFQueueState
from tests.conftest import make_isolated_app
from tests.servers import RunningServer

pytestmark = pytest.mark.integration
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
PASSWORD = "browser-test-password"


@pytest.fixture
def served(
    stack_settings: dict[str, str], redis_server: RunningServer, tmp_path: Path
) -> Iterator[tuple[Flask, str]]:
    if not Path(CHROMIUM).exists():
        pytest.skip("Chromium is not installed (apt-get install chromium; make test does as root)")
    settings = {**stack_settings, "PDFQUEUE_DASHBOARD_PASSWORD": PASSWORD}
    app = make_isolated_app(settings, redis_server, tmp_path, redis_db=13)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield app, f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    app.extensions["pdfqueue"].close()


def _browser_args() -> list[str]:
    # As root, in a sandbox, on a machine whose network ends at loopback.
    return [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
    ]


def test_chromium_logs_in_and_sees_the_three_queues(served: tuple[Flask, str]) -> None:
    from playwright.sync_api import sync_playwright

    app, base = served
    state: PDFQueueState = app.extensions["pdfqueue"]
    for n, priority in enumerate(("high", "normal", "low")):
        state.queue.enqueue(f"pdf_browser_{n}", priority)
    evil = state.queue.queues["low"].enqueue(
        "flask_pdfqueue.rq_jobs.generate_pdf_job",
        "nothing",
        description='<img src=x onerror="window.pwned = 1">',
    )

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=_browser_args())
        try:
            anonymous = browser.new_context()
            assert anonymous.request.get(f"{base}/rq/").status == 401

            context = browser.new_context(
                http_credentials={"username": "admin", "password": PASSWORD}
            )
            page = context.new_page()
            seen: list[str] = []
            page.on("console", lambda m: seen.append(f"console {m.text}"))
            page.on("pageerror", lambda e: seen.append(f"error {e}"))
            page.on("response", lambda r: seen.append(f"{r.status} {r.url}"))
            response = page.goto(f"{base}/rq/")
            assert response is not None and response.status == 200
            for queue in ("pdf-high", "pdf-normal", "pdf-low"):
                page.wait_for_selector(f"text={queue}", timeout=15000)
            assert not [line for line in seen if "Content Security" in line]

            # A job field with markup (the dashboard renders it raw) runs nothing.
            page.goto(f"{base}/rq/0/view/job/{evil.id}")
            page.wait_for_selector("img[src=x]", state="attached", timeout=15000)
            assert page.evaluate("window.pwned") is None
            assert any("Content Security Policy" in line for line in seen)
        finally:
            browser.close()
