"""``GET /reports/preview?code=&productId=&format=html|pdf``: a report rendered on the spot.

For template authors: edit, reload, see. No job, no queue, no records. Off in
production unless ``PDFQUEUE_PREVIEW=true`` (it renders in the web process, which
then loads WeasyPrint, and it shows report data to anyone with a key).
"""

from __future__ import annotations

import threading

from flask import Response, request

from ..errors import ReportNotFound, TemplateError
from ..state import current_pdfqueue
from .envelope import APIError

#: The renderer is not meant for several threads at once, and the web process serves
#: requests on many: previews render one after the other.
_one_render_at_a_time = threading.Lock()


def preview() -> Response:
    state = current_pdfqueue()
    if not state.settings.preview_enabled:
        raise APIError(
            403,
            "preview_disabled",
            "Preview is off in production; set PDFQUEUE_PREVIEW=true to switch it on.",
        )
    code, product_id = request.args.get("code"), request.args.get("productId")
    output = request.args.get("format", "html")
    problems = {
        name: "is required"
        for name, value in (("code", code), ("productId", product_id))
        if not value
    }
    if output not in ("html", "pdf"):
        problems["format"] = "must be html or pdf"
    if problems:
        raise APIError(400, "invalid_query", "Some query parameters are invalid.", fields=problems)
    assert code is not None and product_id is not None
    try:
        document = state.documents.load(code, product_id)
        if output == "html":
            return Response(state.renderer.render_html(document, product_id), mimetype="text/html")
        with _one_render_at_a_time:
            rendered = state.renderer.render(document, product_id)
        return Response(rendered.pdf, mimetype="application/pdf")
    except ReportNotFound as exc:
        raise APIError(404, exc.error_code, exc.message) from None
    except TemplateError as exc:
        raise APIError(422, exc.error_code, exc.message) from None
