"""No mass assignment: a request body may carry only the fields its endpoint documents in /openapi.json.

Server-owned fields (`status`, `grid_id`, `version` of an event, `id`, `reported_grid_id` …) are simply
not in any write endpoint's documented body, so sending one is a 400 that names it, before the view runs
and before anything is written. The document is the one list, so the API and its description can't drift.
HTML forms (citizen pages) and Open311 (whose spec lets clients send extra keys) read named fields only
and are left to their own parsers; JSON bodies everywhere and form bodies under /api/ are checked.
"""
from __future__ import annotations

import re
from functools import lru_cache

from flask import Flask, request

from data.errors import Refused

WRITES = ("POST", "PUT", "PATCH", "DELETE")
NOT_DOCUMENTED = object()
JSON_TYPES = {list: "an array", str: "a string", int: "a number", float: "a number", bool: "a boolean",
              type(None): "null"}


def openapi_path(rule: str) -> str:
    """`/api/events/<int:event_id>/rating` -> `/api/events/{event_id}/rating`, as the document names it."""
    return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule)


@lru_cache(maxsize=None)
def body_schemas(rule: str, method: str):
    """{content type: schema} the operation documents, or NOT_DOCUMENTED when the document lacks it."""
    from mapserver.openapi import DOCUMENT

    operation = DOCUMENT["paths"].get(openapi_path(rule), {}).get(method.lower())
    if operation is None:
        return NOT_DOCUMENTED
    return {kind: media.get("schema") or {}
            for kind, media in (operation.get("requestBody") or {}).get("content", {}).items()}


def _resolve(schema: dict) -> dict:
    from mapserver.openapi import DOCUMENT

    while "$ref" in schema:
        schema = DOCUMENT["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def refuse_unknown(value, schema: dict, where: str = "") -> None:
    """Raise Refused naming the first field of `value` that `schema` does not declare (nested too)."""
    schema = _resolve(schema)
    if isinstance(value, dict) and "properties" in schema:
        declared = schema["properties"]
        for name in value:
            field = f"{where}.{name}" if where else str(name)
            if name not in declared:
                raise Refused(f"{field} is not a field this endpoint accepts (unknown or set by the server); "
                              f"accepted: {', '.join(sorted(declared)) or 'none'}", field)
            refuse_unknown(value[name], declared[name], field)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            refuse_unknown(item, schema["items"], f"{where}[{i}]")


def _check_body() -> None:
    if request.method not in WRITES or request.url_rule is None:
        return
    schemas = body_schemas(request.url_rule.rule, request.method)
    if schemas is NOT_DOCUMENTED:
        return  # tests/test_hardening.py requires every write route to be documented
    if request.is_json and request.get_data(cache=True):
        body = request.get_json(silent=False)  # malformed JSON: 400 here, before any view can ignore it
        schema = _resolve(schemas.get("application/json") or {"type": "object", "properties": {}})
        if schema.get("type") == "object" and not isinstance(body, dict):
            raise Refused(f"the body must be a JSON object, not {JSON_TYPES.get(type(body), 'that')}", "body")
        refuse_unknown(body, schema)
    elif request.path.startswith("/api/") and (request.form or request.files):
        declared = {name: {} for schema in schemas.values() for name in _resolve(schema).get("properties", {})}
        refuse_unknown({name: None for name in [*request.form, *request.files]}, {"properties": declared})


def init_app(app: Flask) -> None:
    app.before_request(_check_body)
