"""The OpenAPI description of `/open311/v2/`, and the spec's limit on a listing that the views and it share."""
from __future__ import annotations

from data.open311_codec import REQUEST_FIELDS
from data.vocab import EVENT_STATUSES

MAX_REQUESTS = 1000  # the spec's "first 1000 requests"


def _content(root: str, schema: dict, description: str) -> dict:
    return {"description": description, "content": {
        "application/json": {"schema": schema},
        "text/xml": {"schema": {"type": "string", "description": f"the same document as XML: <{root}>, one "
                                                                  "element per field, lists as repeated items"}}}}


_NULLABLE = {"type": ["string", "null"]}
_ERRORS = {"type": "array", "items": {"type": "object", "required": ["code", "description"], "properties": {
    "code": {"type": "integer"}, "description": {"type": "string"}}}}
_SERVICE = {"type": "object", "required": ["service_code", "service_name", "description", "metadata", "type",
                                           "keywords", "group"], "properties": {
    "service_code": {"type": "string"}, "service_name": {"type": "string", "description": "Chinese name"},
    "description": {"type": "string", "description": "English name and the department"},
    "metadata": {"const": False}, "type": {"const": "realtime"}, "keywords": {"type": "string"},
    "group": {"type": "string", "description": "the department that handles it"}}}
_REQUEST = {"type": "object", "required": list(REQUEST_FIELDS), "properties": {
    **{name: _NULLABLE for name in REQUEST_FIELDS},
    "service_request_id": {"type": "string", "pattern": "^E[0-9]+$", "description": "the event's public ref"},
    "status": {"enum": ["open", "closed"]}, "lat": {"type": "number"}, "long": {"type": "number"},
    "description": {**_NULLABLE, "description": "only with a valid api_key"},
    "media_url": {**_NULLABLE, "description": "only with a valid api_key"},
    "address": {**_NULLABLE, "description": "only with a valid api_key"},
    "extended_attributes": {"type": "object", "description": "with extensions=true", "properties": {
        "grid_code": _NULLABLE, "stage": {"enum": list(EVENT_STATUSES)}, "level": {"type": "string"},
        "deadline": _NULLABLE, "department": _NULLABLE}}}}
_CREATED = {"type": "array", "items": {"type": "object", "required": ["service_request_id", "token",
                                                                       "service_notice", "account_id"],
                                       "properties": {"service_request_id": {"type": "string"},
                                                      "token": {"type": "string", "pattern": "^MQ[0-9A-Z]{10}$"},
                                                      "service_notice": {"type": "string"},
                                                      "account_id": _NULLABLE}}}
_FMT = {"name": "fmt", "in": "path", "required": True, "schema": {"enum": ["", ".json", ".xml"]},
        "description": "`.json` or `.xml`; nothing means JSON; any other extension is 404"}


def _path(name: str, description: str) -> dict:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}, "description": description}


def _arg(name: str, description: str, schema: dict | None = None) -> dict:
    return {"name": name, "in": "query", "required": False, "schema": schema or {"type": "string"},
            "description": description}


def _errors(*codes: int) -> dict:
    reasons = {400: "bad input (Open311 errors document)", 403: "missing, invalid or revoked api_key",
               404: "unknown service, request, token or format"}
    return {str(code): _content("errors", _ERRORS, reasons[code]) for code in codes}


_API_KEY = _arg("api_key", "optional here: with a valid key, description, media_url, address and exact "
                           "coordinates are returned; a wrong key is 403")
_EXTENSIONS = _arg("extensions", "true adds extended_attributes (grid_code, stage, level, deadline, department)",
                   {"enum": ["true", "false"]})
_PREFIX = "/open311/v2"

OPENAPI_PATHS: dict = {
    f"{_PREFIX}/discovery{{fmt}}": {"get": {
        "summary": "Open311 service discovery", "parameters": [_FMT],
        "responses": {"200": _content("discovery", {"type": "object", "required": [
            "changeset", "contact", "key_service", "endpoints"]}, "where the GeoReport v2 endpoint is"),
            **_errors(404)}}},
    f"{_PREFIX}/services{{fmt}}": {"get": {
        "summary": "Open311 services: our event categories", "parameters": [_FMT],
        "responses": {"200": _content("services", {"type": "array", "items": _SERVICE}, "every service"),
                      **_errors(404)}}},
    f"{_PREFIX}/services/{{service_code}}{{fmt}}": {"get": {
        "summary": "Open311 service definition (no extra attributes: metadata is false)",
        "parameters": [_path("service_code", "an event category code"), _FMT],
        "responses": {"200": _content("service_definition", {"type": "object", "required": [
            "service_code", "attributes"]}, "the definition"), **_errors(404)}}},
    f"{_PREFIX}/requests{{fmt}}": {
        "get": {"summary": "Open311 service requests (public; no reporter's name or contact, ever)",
                "parameters": [_FMT, _arg("service_request_id", "refs, comma separated; overrides everything else"),
                               _arg("service_code", "comma separated"),
                               _arg("start_date", "W3C datetime; default end_date - 90 days"),
                               _arg("end_date", "W3C datetime; default start_date + 90 days, or now"),
                               _arg("status", "open, closed or both, comma separated"), _API_KEY, _EXTENSIONS],
                "responses": {"200": _content("service_requests", {"type": "array", "maxItems": MAX_REQUESTS,
                                                                   "items": _REQUEST},
                                              "newest first, at most 1000, spanning at most 90 days"),
                              **_errors(400, 403, 404)}},
        "post": {"summary": "Create an Open311 service request (an event from source open311)",
                 "parameters": [_FMT, {"name": "Idempotency-Key", "in": "header", "required": False,
                                       "schema": {"type": "string", "maxLength": 200},
                                       "description": "a retry with the same key returns the first request"}],
                 "requestBody": {"required": True, "content": {"application/x-www-form-urlencoded": {"schema": {
                     "type": "object", "required": ["api_key", "service_code"], "properties": {
                         "api_key": {"type": "string"}, "service_code": {"type": "string"},
                         "lat": {"type": "number"}, "long": {"type": "number"},
                         "address_string": {"type": "string", "description": "must contain a known house address"},
                         "address_id": {"type": "string", "description": "a house ref"},
                         "description": {"type": "string", "maxLength": 4000}, "media_url": {"type": "string"},
                         "email": {"type": "string"}, "phone": {"type": "string"}, "first_name": {"type": "string"},
                         "last_name": {"type": "string"}, "device_id": {"type": "string"},
                         "account_id": {"type": "string"}}}}}},
                 "responses": {"200": _content("service_requests", _CREATED,
                                               "the request's ref and the reporter's tracking number (token)"),
                               **_errors(400, 403, 404)}}},
    f"{_PREFIX}/requests/{{service_request_id}}{{fmt}}": {"get": {
        "summary": "One Open311 service request", "parameters": [_path("service_request_id", "the event ref"),
                                                                 _FMT, _API_KEY, _EXTENSIONS],
        "responses": {"200": _content("service_requests", {"type": "array", "items": _REQUEST,
                                                           "minItems": 1, "maxItems": 1}, "the request"),
                      **_errors(403, 404)}}},
    f"{_PREFIX}/tokens/{{token}}{{fmt}}": {"get": {
        "summary": "The service_request_id of a token (tracking number)",
        "parameters": [_path("token", "a tracking number"), _FMT],
        "responses": {"200": _content("service_requests", {"type": "array", "items": {
            "type": "object", "required": ["service_request_id", "token"]}}, "the id"), **_errors(404)}}},
}
