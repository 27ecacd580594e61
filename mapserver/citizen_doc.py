"""The OpenAPI description of the citizens' pages, with the form limits it publishes and the views enforce."""
from __future__ import annotations

from data.vocab import EVENT_STATUSES

DESCRIPTION_MAX, NAME_MAX, NOTE_MAX, MAX_PHOTOS = 1000, 40, 500, 3
CRS_CHOICES = ("wgs84", "gcj02", "bd09")  # browsers give WGS 84; WeChat's and Baidu's SDKs their own


def _path_param(name: str, description: str) -> dict:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}, "description": description}


_PAGE = {"description": "a page in Chinese", "content": {"text/html": {}}}
_ERROR_PAGE = {"description": "a page in Chinese and English saying why", "content": {"text/html": {}}}
_SIG = {"name": "sig", "in": "query", "required": True, "schema": {"type": "string"},
        "description": "the grid's signature printed in its QR code"}
_GRID, _NUMBER = _path_param("grid_code", "the grid the QR code is for"), _path_param("number", "tracking number")
_BACK = {"303": {"description": "back to the tracking page"}, "400": _PAGE, "404": _ERROR_PAGE,
         "409": {"description": "the case is not (or no longer) at that step; the page again", **_PAGE}}
_CASE = {"type": "object", "required": ["tracking_no", "status", "status_label", "timeline"], "properties": {
    "tracking_no": {"type": "string"}, "status": {"enum": list(EVENT_STATUSES)}, "status_label": {"type": "string"},
    "level": {"type": "string"}, "level_label": {"type": "string"}, "category": {"type": "string"},
    "category_label": {"type": "string"}, "description": {"type": ["string", "null"]},
    "grid": {"type": ["object", "null"]}, "reported_at": {"type": "string"}, "due_at": {"type": ["string", "null"]},
    "resolved_at": {"type": ["string", "null"]}, "closed_at": {"type": ["string", "null"]},
    "overdue": {"type": "boolean"}, "merged": {"type": "boolean"},
    "satisfaction": {"type": ["integer", "null"]}, "can_verify": {"type": "boolean"}, "can_rate": {"type": "boolean"},
    "timeline": {"type": "array", "items": {"type": "object", "required": ["at", "label"], "properties": {
        "at": {"type": "string"}, "action": {"type": "string"}, "status": {"type": "string"},
        "label": {"type": "string"}, "level": {"type": "string"}, "note": {"type": ["string", "null"]}}}}}}
_CASE_RESPONSES = {"200": {"description": "the case: state, deadline and timeline in Beijing time",
                           "content": {"application/json": {"schema": _CASE}, "text/html": {}}},
                   "404": {"description": "no such tracking number",
                           "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}},
                                       "text/html": {}}}}

OPENAPI_PATHS: dict = {
    "/report/{grid_code}": {
        "get": {"summary": "The report form a grid's QR code opens (mobile, Chinese)", "parameters": [_GRID, _SIG],
                "responses": {"200": _PAGE, "403": _ERROR_PAGE, "404": _ERROR_PAGE}},
        "post": {"summary": "File a citizen's report; 303 to its tracking page", "parameters": [_GRID, _SIG],
                 "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
                     "type": "object", "required": ["category", "description"], "properties": {
                         "category": {"type": "string"},
                         "description": {"type": "string", "maxLength": DESCRIPTION_MAX},
                         "name": {"type": "string", "maxLength": NAME_MAX}, "phone": {"type": "string"},
                         "lon": {"type": "number"}, "lat": {"type": "number"}, "crs": {"enum": list(CRS_CHOICES)},
                         "photo": {"type": "array", "maxItems": MAX_PHOTOS,
                                   "items": {"type": "string", "format": "binary"}},
                         "token": {"type": "string", "description": "the form's idempotency key"}}}}}},
                 "responses": {"303": {"description": "to /track/{number}"}, "400": _PAGE, "403": _ERROR_PAGE,
                               "404": _ERROR_PAGE, "413": _PAGE, "415": _PAGE,
                               "429": {"description": "too many reports from here; Retry-After says when", **_PAGE}}}},
    "/track": {"get": {"summary": "Type a tracking number (?number= redirects to its page)",
                       "parameters": [{"name": "number", "in": "query", "schema": {"type": "string"}}],
                       "responses": {"200": _PAGE, "303": {"description": "to /track/{number}"}}}},
    "/track/{number}": {"get": {"summary": "A report's progress (HTML; JSON with Accept: application/json)",
                                "parameters": [_NUMBER], "responses": _CASE_RESPONSES}},
    "/track/{number}.json": {"get": {"summary": "A report's progress for apps", "parameters": [_NUMBER],
                                     "responses": _CASE_RESPONSES}},
    "/track/{number}/verify": {"post": {
        "summary": "The reporter confirms the fix (passed=1) or says it is not fixed (passed=0, note required)",
        "parameters": [_NUMBER], "requestBody": {"required": True, "content": {"application/x-www-form-urlencoded": {
            "schema": {"type": "object", "required": ["passed"], "properties": {
                "passed": {"enum": ["0", "1"]}, "note": {"type": "string", "maxLength": NOTE_MAX}}}}}},
        "responses": _BACK}},
    "/track/{number}/rating": {"post": {
        "summary": "The reporter's satisfaction, 1 to 5", "parameters": [_NUMBER],
        "requestBody": {"required": True, "content": {"application/x-www-form-urlencoded": {"schema": {
            "type": "object", "required": ["score"], "properties": {"score": {"enum": ["1", "2", "3", "4", "5"]}}}}}},
        "responses": _BACK}},
}
