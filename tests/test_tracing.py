"""W3C trace context: which headers are kept, what a delivery sends, what log lines show."""

from __future__ import annotations

import logging
import re

import pytest

from flask_pdfqueue.jobs.tracing import (
    TraceIdFilter,
    child_traceparent,
    parse_traceparent,
    trace_id_of,
    traced,
    traceparent_for_submit,
)

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
VALID = f"00-{TRACE}-00f067aa0ba902b7-01"
TRACEPARENT = re.compile(r"00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}")


@pytest.mark.parametrize(
    ("header", "kept"),
    [
        (VALID, VALID),
        (f"  {VALID} ", VALID),
        (f"cc-{TRACE}-00f067aa0ba902b7-09-what-comes-later", f"00-{TRACE}-00f067aa0ba902b7-09"),
        (None, None),
        ("", None),
        (VALID.upper(), None),  # lower-case hex only
        (f"00-{'0' * 32}-00f067aa0ba902b7-01", None),  # all-zero trace id
        (f"00-{TRACE}-{'0' * 16}-01", None),  # all-zero parent id
        (f"ff-{TRACE}-00f067aa0ba902b7-01", None),  # version ff is invalid
        (f"{VALID}-extra", None),  # version 00 has exactly four fields
        (f"00-{TRACE[:-1]}-00f067aa0ba902b7-01", None),
    ],
)
def test_a_submit_header_is_kept_only_when_valid(header: str | None, kept: str | None) -> None:
    assert parse_traceparent(header) == kept


def test_without_a_valid_header_the_job_starts_a_trace_of_its_own() -> None:
    started = traceparent_for_submit("garbage")
    assert TRACEPARENT.fullmatch(started)
    assert started.endswith("-01")  # sampled
    assert traceparent_for_submit("garbage") != started
    assert traceparent_for_submit(VALID) == VALID


def test_each_delivery_gets_the_trace_and_flags_with_a_new_span() -> None:
    first, second = child_traceparent(VALID), child_traceparent(VALID)
    assert first is not None and second is not None
    assert trace_id_of(first) == trace_id_of(second) == TRACE
    assert first.endswith("-01")
    spans = {first.split("-")[2], second.split("-")[2], VALID.split("-")[2]}
    assert len(spans) == 3
    assert child_traceparent(None) is None


def test_log_lines_inside_a_trace_carry_its_id() -> None:
    formatter = logging.Formatter("%(name)s%(trace)s: %(message)s")
    lines: list[str] = []

    class Lines(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(formatter.format(record))

    handler = Lines()
    handler.addFilter(TraceIdFilter())
    log = logging.getLogger("tests.tracing")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        with traced(VALID):
            log.info("inside")
        log.info("outside")
    finally:
        log.removeHandler(handler)
    assert lines == [
        f"tests.tracing trace={TRACE}: inside",
        "tests.tracing: outside",
    ]
