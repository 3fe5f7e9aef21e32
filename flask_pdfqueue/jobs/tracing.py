"""W3C trace context: the ``traceparent`` a submit brings, kept with its job.

A client (an n8n execution, a traced backend) may send ``traceparent`` with its
submit; the job keeps it, the worker's log lines for the job show its trace id,
and every webhook delivery carries a ``traceparent`` of the same trace with a span
of its own, so one trace id ties the request, the render and the callback
together. A submit without a valid one starts a trace of its own (the
recommendation's rule: an invalid header is ignored, never an error).
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import re
import secrets
from collections.abc import Iterator

#: ``version-traceid-parentid-flags``; version ff is forbidden, a future version may
#: carry more fields after the flags (they are dropped).
_TRACEPARENT = re.compile(
    r"(?P<version>[0-9a-f]{2})-(?P<trace_id>[0-9a-f]{32})-(?P<span_id>[0-9a-f]{16})"
    r"-(?P<flags>[0-9a-f]{2})(?P<rest>-.*)?"
)
_INVALID_TRACE_ID = "0" * 32
_INVALID_SPAN_ID = "0" * 16
#: What a traceparent we start says: sampled, so a tracing backend keeps it.
SAMPLED = "01"

_current_trace_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "pdfqueue_trace_id", default=None
)


def parse_traceparent(header: str | None) -> str | None:
    """The header in its version-00 form, or None when it is absent or invalid."""
    found = _TRACEPARENT.fullmatch((header or "").strip())
    if found is None:
        return None
    version, trace_id, span_id, flags = found.group("version", "trace_id", "span_id", "flags")
    if version == "ff" or (version == "00" and found.group("rest")):
        return None
    if trace_id == _INVALID_TRACE_ID or span_id == _INVALID_SPAN_ID:
        return None
    return f"00-{trace_id}-{span_id}-{flags}"


def traceparent_for_submit(header: str | None) -> str:
    """What a job keeps: the submit's valid ``traceparent``, else a new trace's."""
    return parse_traceparent(header) or (
        f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-{SAMPLED}"
    )


def trace_id_of(traceparent: str | None) -> str | None:
    parsed = parse_traceparent(traceparent)
    return parsed.split("-")[1] if parsed else None


def child_traceparent(traceparent: str | None) -> str | None:
    """A ``traceparent`` for one outgoing request: the same trace and flags, a new span."""
    parsed = parse_traceparent(traceparent)
    if parsed is None:
        return None
    _, trace_id, _, flags = parsed.split("-")
    return f"00-{trace_id}-{secrets.token_hex(8)}-{flags}"


@contextlib.contextmanager
def traced(traceparent: str | None) -> Iterator[None]:
    """Log lines written inside carry the trace id of ``traceparent``."""
    token = _current_trace_id.set(trace_id_of(traceparent))
    try:
        yield
    finally:
        _current_trace_id.reset(token)


class TraceIdFilter(logging.Filter):
    """Gives every record a ``trace`` attribute: `` trace=<id>`` inside :func:`traced`,
    empty outside, for a format such as ``%(name)s%(trace)s: %(message)s``.

    Attach it to a *handler* (``handler.addFilter``), so records propagated from any
    logger get it; the stand-alone service does this for its log.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        trace_id = _current_trace_id.get()
        record.trace = f" trace={trace_id}" if trace_id else ""
        return True
