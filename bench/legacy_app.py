"""P6's baseline, "the old design": render the PDF inside the request.

``gunicorn -k sync -w W --timeout 30 bench.legacy_app:app`` with the variables of
``bench.inline.child_env``: each sync worker imports WeasyPrint and renders once at
start (warm, as P5's Celery processes), then ``POST /generate`` loads the document,
renders it, writes the PDF and answers 200 when it is done; the request holds its worker
the whole time, so calls beyond W wait in the listen backlog.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, jsonify, request

from bench.inline import InlineReport

app = Flask(__name__)
_report = InlineReport()


@app.post("/generate")
def generate() -> Any:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return jsonify(error="body must be a JSON object"), 400
    code, product_id = body.get("code"), body.get("productId")
    if not isinstance(code, str) or not isinstance(product_id, str) or not code or not product_id:
        return jsonify(error="code and productId are required strings"), 400
    try:
        path = _report.render_to_file(code, product_id, code)
    except LookupError as exc:
        return jsonify(error=str(exc)), 404
    return jsonify(status="completed", pdf=str(path)), 200
