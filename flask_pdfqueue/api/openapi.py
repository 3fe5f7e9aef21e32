"""``GET /openapi.json``: the API's OpenAPI 3.1 document, generated, never written by hand.

Bodies come from the pydantic models the routes use (requests from :mod:`.models`,
answers from :mod:`.responses`, every error as ``ErrorEnvelope``), so a field that
changes there changes here. What a model cannot say (which route answers what, its
error codes, parameters, headers) is the table :data:`.routes.ROUTES`, one entry
per operation, from which the blueprint registers the routes too; and schemathesis
holds it to the answers the running API gives.

Decisions, also in the README:

- The document needs an API key, like every route but health (SPEC §2: only health and
  ``/metrics`` may be opened). It tells nothing a client with a key cannot learn, but
  it maps the whole surface for anyone without one, and the clients that need it
  (n8n, code generators) hold a key anyway.
- Paths are written relative to the blueprint's mount point (``/jobs/{job_id}``), and
  ``servers`` names that mount point as a URL relative to where the document was
  fetched (``/api``, behind the WSGI ``SCRIPT_NAME`` if any), so a client joining the
  server URL and a path reaches the route on whatever host served the document.
- Each error answer lists its machine codes: in the description, as ``x-error-codes``,
  and as an ``enum`` on ``error.code`` (so validating an answer checks its code too),
  except where the set is open: a legacy call whose job failed answers 503 with the
  job's own ``error_code``, whatever failure it met.
- ``405`` (a method no route at the path takes, with ``Allow``) and ``404 not_found``
  (a path no route serves) belong to no operation; the document's description says so.
"""

from __future__ import annotations

import copy
from functools import cache
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from ..version import __version__
from .responses import (
    ErrorEnvelope,
)
from .route_docs import (
    ERROR_HEADERS,
    ERROR_TITLES,
    HEADERS,
    HTML,
    JSON,
    PDF,
    Param,
    Route,
    SuccessDoc,
)

OPENAPI_VERSION = "3.1.0"
REF = "#/components/schemas/{model}"


def openapi_document(
    routes: tuple[Route, ...], *, server_url: str, health_public: bool, batch_max: int
) -> dict[str, Any]:
    """The document for the ``routes`` of an API mounted at ``server_url``."""
    schemas = copy.deepcopy(component_schemas(routes))
    schemas["BatchRequest"]["properties"]["jobs"]["maxItems"] = batch_max
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        public = route.public and health_public
        paths.setdefault(route.path, {})[route.method] = _operation(route, public=public)
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "flask-pdfqueue",
            "version": __version__,
            "description": DESCRIPTION,
        },
        "servers": [{"url": server_url, "description": "Where the API is mounted."}],
        "tags": [
            {"name": "reports", "description": "Submitting report jobs."},
            {"name": "jobs", "description": "Following, cancelling and downloading jobs."},
            {"name": "webhooks", "description": "Webhook events of finished jobs."},
            {"name": "service", "description": "The service itself."},
        ],
        "security": [{"ApiKey": []}, {"Bearer": []}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
                "Bearer": {"type": "http", "scheme": "bearer"},
            },
        },
    }


DESCRIPTION = """\
Queued PDF report generation. Every operation needs an API key, sent as `X-API-Key` or \
`Authorization: Bearer`, except `/health` when `PDFQUEUE_HEALTH_PUBLIC` is on (the default).

Every error answers `{"error": {"code", "message", "fields"?}}` (`ErrorEnvelope`); each \
error answer below lists its codes. Besides those, any path under the API answers \
`404 not_found` when no route serves it and `405 method_not_allowed` (with `Allow`) for \
a method its route does not take; `OPTIONS` answers `204` with `Allow`, without a key."""


def component_schemas(routes: tuple[Route, ...]) -> dict[str, Any]:
    """The JSON Schemas of every request and answer model, keyed by model name."""
    return _schemas(
        frozenset(route.request for route in routes if route.request is not None),
        frozenset(model for route in routes for answer in route.answers if (model := answer.model)),
    )


@cache  # built once per process: pydantic's schema generation takes milliseconds
def _schemas(
    requests: frozenset[type[BaseModel]], answers: frozenset[type[BaseModel]]
) -> dict[str, Any]:
    models: list[tuple[type[BaseModel], Literal["validation", "serialization"]]] = [
        (model, "validation") for model in sorted(requests, key=lambda m: m.__name__)
    ]
    models += [(model, "serialization") for model in sorted(answers, key=lambda m: m.__name__)]
    models.append((ErrorEnvelope, "serialization"))
    _, schema = models_json_schema(models, ref_template=REF)
    defs: dict[str, Any] = schema["$defs"]
    return defs


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": REF.format(model=model.__name__)}


def _headers(names: tuple[str, ...]) -> dict[str, Any]:
    return {
        name: {"description": HEADERS[name][0], "schema": HEADERS[name][1], "required": True}
        for name in names
    }


def _operation(route: Route, *, public: bool) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": route.operation_id,
        "summary": route.summary,
        "tags": [route.tag],
    }
    if route.description:
        operation["description"] = route.description
    if route.params:
        operation["parameters"] = [_parameter(p) for p in route.params]
    if route.request is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {JSON: {"schema": _ref(route.request)}},
        }
    responses: dict[str, Any] = {}
    for answer in route.answers:
        responses[str(answer.status)] = _success(answer)
    errors = dict(route.errors)
    if public:
        operation["security"] = []
        errors.pop(401, None)
    for status in sorted(errors):
        responses[str(status)] = _error(
            status, errors[status], closed=status not in route.open_codes
        )
    operation["responses"] = dict(sorted(responses.items()))
    return operation


def _parameter(param: Param) -> dict[str, Any]:
    return {
        "name": param.name,
        "in": param.where,
        "description": param.description,
        "required": param.required,
        "schema": dict(param.schema),
    }


def _success(answer: SuccessDoc) -> dict[str, Any]:
    response: dict[str, Any] = {"description": answer.description}
    if answer.headers:
        response["headers"] = _headers(answer.headers)
    if answer.empty:
        return response
    content: dict[str, Any] = {}
    if answer.model is not None:
        content[JSON] = {"schema": _ref(answer.model)}
    elif not (answer.pdf or answer.html):
        content[JSON] = {"schema": {"type": "object"}}
    if answer.html:
        content[HTML] = {"schema": {"type": "string"}}
    if answer.pdf:
        content[PDF] = {}
    response["content"] = content
    return response


def _error(status: int, codes: tuple[str, ...], *, closed: bool) -> dict[str, Any]:
    listed = ", ".join(f"`{code}`" for code in codes)
    more = "" if closed else ", or the failed job's own code"
    schema: dict[str, Any] = _ref(ErrorEnvelope)
    if closed:
        code = {"properties": {"error": {"properties": {"code": {"enum": list(codes)}}}}}
        schema = {"allOf": [schema, code]}
    response: dict[str, Any] = {
        "description": f"{ERROR_TITLES[status]}: {listed}{more}.",
        "content": {JSON: {"schema": schema}},
        "x-error-codes": list(codes),
    }
    if status in ERROR_HEADERS:
        response["headers"] = _headers(ERROR_HEADERS[status])
    return response
