"""The closed loop over HTTP: grid workers report (`POST /api/events`), staff move cases along the table.

Every write runs in its own transaction through data.intake / data.workflow; refusals carry the
reason (and for 409 the transitions allowed instead), and leave the database as it was.
"""
from __future__ import annotations

import dataclasses
import hashlib
from datetime import datetime

from flask import Blueprint, current_app, jsonify, request, send_file, url_for
from sqlalchemy import text

from data import event_query, event_record, event_stats, media, reporter_contact, workflow
from data.errors import Forbidden, Refused
from data.intake import MAX_KEY, NewReport, submit, to_wgs84_checked
from mapserver import caller, db
from mapserver.api_persons import keys
from mapserver.api_events import point_feature

bp = Blueprint("api_workflow", __name__)
REPORTING_ROLES = ("grid_worker", "grid_leader", "admin")  # who files field reports (source grid_worker)


@bp.before_request
def _event_in_scope():
    """Every route naming an event answers 404 outside the caller's area, before its body is even read."""
    event_id = (request.view_args or {}).get("event_id")
    if event_id is not None:
        event_record.one(db.connection(), event_id, caller.staff_only().scope_filter)


def _settings():
    return current_app.extensions["minqing.settings"]


def _body() -> dict:
    body = request.get_json(silent=False) if request.is_json else request.form.to_dict()
    if not isinstance(body, dict):
        raise Refused("the body must be a JSON object", "body")
    return body


def _text(body: dict, name: str, required: bool = False) -> str | None:
    value = body.get(name)
    if value is None or value == "":
        if required:
            raise Refused(f"{name} is required", name)
        return None
    if not isinstance(value, str):
        raise Refused(f"{name} must be a string", name)
    return value


def _location(body: dict) -> tuple[float, float]:
    """lon/lat fields, or a GeoJSON Point in `location`, in `crs` (gcj02, bd09, wgs84, 4490 …)."""
    point = body.get("location")
    if isinstance(point, dict):
        if point.get("type") != "Point" or not isinstance(point.get("coordinates"), list) or \
                len(point["coordinates"]) != 2:
            raise Refused("location must be a GeoJSON Point with [lon, lat]", "location")
        lon, lat = point["coordinates"]
    elif "lon" in body and "lat" in body:
        lon, lat = body["lon"], body["lat"]
    else:
        raise Refused("a location is required: lon and lat, or a GeoJSON Point in `location`", "location")
    if isinstance(lon, bool) or isinstance(lat, bool):
        raise Refused("lon and lat must be numbers", "location")
    return to_wgs84_checked(lon, lat, _text(body, "crs"))


def _priority(body: dict) -> int:
    raw = body.get("priority", 2)
    try:
        return int(raw)
    except (TypeError, ValueError):
        raise Refused("priority must be 1, 2 or 3", "priority") from None


@bp.post("/api/events")
def report():
    """A grid worker's report: JSON, or multipart with photos; `Idempotency-Key` makes retries safe."""
    who = caller.staff_only()
    if who.role not in REPORTING_ROLES:
        raise Forbidden("reports from the field are filed by grid workers and grid leaders", "role")
    body = _body()
    key = request.headers.get("Idempotency-Key")
    if key is not None and not 0 < len(key) <= MAX_KEY:
        raise Refused(f"Idempotency-Key must be 1 to {MAX_KEY} characters", "Idempotency-Key")
    lon, lat = _location(body)
    new = NewReport(category=_text(body, "category", True), description=_text(body, "description", True),
                    lon=lon, lat=lat, source="grid_worker", title=_text(body, "title"),
                    address=_text(body, "address"), priority=_priority(body))
    uploads = request.files.getlist("photos")
    checked = media.read_uploads(uploads, _settings())  # 413/415 before anything is written
    digest = hashlib.sha256((new.fingerprint() + "".join(hashlib.sha256(u[1]).hexdigest() for u in checked))
                            .encode()).hexdigest()
    with db.writing() as conn:
        done = submit(conn, new, actor=who, idempotency_key=key, body_sha256=digest)
        if who.scope_filter is not None and not _in_scope(conn, done.id, who.scope_filter):
            raise Forbidden("the place is outside your grids", "location")  # rolls the report back
        if done.possible_duplicate_of and not _in_scope(conn, done.possible_duplicate_of, who.scope_filter):
            done = dataclasses.replace(done, possible_duplicate_of=None)
        if done.created and checked:
            media.save_photos(conn, _settings(), done.id, checked, who.username)
        photos = media.photo_ids(conn, done.id) if checked or not done.created else []
    response = jsonify(_filed(done, photos))
    response.status_code = 201 if done.created else 200
    response.headers["Location"] = url_for("api_workflow.case", event_id=done.id)
    if not done.created:
        response.headers["Idempotent-Replayed"] = "true"
    return response


def _in_scope(conn, event_id: int, scope) -> bool:
    """Whether the caller's scope reads this event (its grid in the scope; outside every grid: nobody scoped)."""
    where, params = event_query.scope_clause(scope)
    return conn.execute(text(f"SELECT 1 FROM event e WHERE e.id = :id {where}"), {"id": event_id, **params}) \
        .first() is not None


def _filed(done, photos: list[int]) -> dict:
    """The answer to a report: what the phone shows (its number, grid, deadline); the case file is at Location."""
    fields = ("id", "ref", "status", "level", "category", "outside_grid", "possible_duplicate_of", "reported_at",
              "due_at", "stage_due_at", "lon", "lat")
    row = {name: getattr(done, name) for name in fields}
    row["grid"] = done.grid_code
    return _case({**row, "photos": photos})


def _case(record: dict) -> dict:
    feature = point_feature(record, request.args.get("crs") or None)
    feature["properties"]["photos"] = [url_for("api_workflow.photo", event_id=record["id"], photo_id=p)
                                       for p in record["photos"]]
    return feature


@bp.get("/api/events/<int:event_id>")
def case(event_id: int):
    """One case file with its history; the ETag is its revision, for If-Match on transitions."""
    who = caller.staff_only()
    record = event_record.one(db.connection(), event_id, who.scope_filter, private=who.role == "admin",
                              reporter=who.role in reporter_contact.REVEAL_ROLES)
    feature = _case(record)
    feature["properties"]["allowed"] = workflow.allowed_for(who, record)
    response = jsonify(feature)
    response.set_etag(str(record["rev"]))
    return response


@bp.post("/api/events/<int:event_id>/reveal-contact")
def reveal_contact(event_id: int):
    """The reporter's name and contact in clear, for a call-back; logged with its purpose."""
    body = _body()
    with db.writing() as conn:
        shown = reporter_contact.reveal(conn, keys(), caller.staff_only(), event_id, body.get("purpose"))
    response = jsonify(shown)
    response.headers["Cache-Control"] = "no-store"  # a clear contact must not linger in caches
    return response


def _if_match(conn, event_id: int) -> None:
    """A stale If-Match (someone changed the case since it was read) is refused before anything changes."""
    wanted = request.if_match
    if not wanted or wanted.star_tag:
        return
    rev = conn.execute(text("SELECT rev FROM event WHERE id = :id FOR UPDATE"), {"id": event_id}).scalar()
    if rev is not None and not wanted.contains(str(rev)):
        raise Refused(f"event {event_id} has changed since you read it (revision {rev}); reload and retry",
                      "If-Match", status=412)


def _instant(body: dict, name: str) -> datetime | None:
    raw = _text(body, name)
    if raw is None:
        return None
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise Refused(f"{name} must be an ISO 8601 date-time with an offset", name) from None
    if value.tzinfo is None:
        raise Refused(f"{name} needs a UTC offset (e.g. +08:00)", name)
    return value


def _after(event_id: int, action):
    """Run one workflow action in a transaction, then answer with the updated case file."""
    who = caller.current()
    with db.writing() as conn:
        event_record.one(conn, event_id, who.scope_filter)  # 404 outside the caller's area, before anything else
        _if_match(conn, event_id)
        action(conn, who)
        record = event_record.one(conn, event_id, None)
    feature = _case(record)
    feature["properties"]["allowed"] = workflow.allowed_for(who, record)
    response = jsonify(feature)
    response.set_etag(str(record["rev"]))
    return response


@bp.post("/api/events/<int:event_id>/transitions")
def transition(event_id: int):
    body = _body()
    to = _text(body, "to", True)
    return _after(event_id, lambda conn, who: workflow.transition(
        conn, event_id, to, who, _text(body, "note"), routing=_text(body, "routing"),
        departments=body.get("departments") or (),
        review_at=_instant(body, "review_at"), expect=_text(body, "from")))


@bp.post("/api/events/<int:event_id>/verify")
def verify(event_id: int):
    body = _body()
    passed = body.get("passed")
    if not isinstance(passed, bool):
        raise Refused("passed must be true or false", "passed")
    return _after(event_id, lambda conn, who: workflow.verify(conn, event_id, who, passed, _text(body, "note")))


@bp.post("/api/events/<int:event_id>/rating")
def rate(event_id: int):
    body = _body()
    return _after(event_id, lambda conn, who: workflow.rate(conn, event_id, who, body.get("score")))


@bp.post("/api/events/<int:event_id>/department-rating")
def rate_department(event_id: int):
    body = _body()
    return _after(event_id, lambda conn, who: workflow.rate_department(
        conn, event_id, who, body.get("score"), _text(body, "department"), _text(body, "note")))


@bp.post("/api/events/<int:event_id>/supervise")
def supervise(event_id: int):
    body = _body()
    return _after(event_id, lambda conn, who: workflow.supervise(conn, event_id, who, _text(body, "note")))


@bp.post("/api/events/<int:event_id>/extend")
def extend(event_id: int):
    body = _body()
    return _after(event_id, lambda conn, who: workflow.extend(conn, event_id, who, body.get("hours"),
                                                              _text(body, "note")))


@bp.post("/api/events/<int:event_id>/merge")
def merge(event_id: int):
    body = _body()
    return _after(event_id, lambda conn, who: workflow.merge(conn, event_id, body.get("into"), who,
                                                             _text(body, "note")))


@bp.get("/api/events/<int:event_id>/photos/<int:photo_id>")
def photo(event_id: int, photo_id: int):
    """Photos go only to staff who may see the case (the reporter sees theirs on the tracking page)."""
    who = caller.staff_only()
    conn = db.connection()
    event_record.one(conn, event_id, who.scope_filter)  # 404 outside the caller's area
    path, content_type = media.photo_file(conn, _settings(), event_id, photo_id)
    response = send_file(path, mimetype=content_type, max_age=3600, conditional=True)
    response.headers["Cache-Control"] = "private, max-age=3600"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@bp.get("/api/routing")
def routing():
    """The category → department table used when a case is dispatched point-to-point."""
    caller.staff_only()
    rows = db.connection().execute(text(
        "SELECT c.code, c.name, d.code AS department, d.name AS department_name FROM event_category c "
        "LEFT JOIN department d ON d.id = c.department_id ORDER BY c.code")).mappings()
    return jsonify({"categories": [dict(r) for r in rows]})


@bp.put("/api/routing/<category>")
def set_routing(category: str):
    """Admins change which department a category goes to by default."""
    if caller.current().role != "admin":
        raise Refused("only admins edit the routing table", status=403)
    department = _text(_body(), "department", True)
    with db.writing() as conn:
        done = conn.execute(text(
            "UPDATE event_category SET department_id = (SELECT id FROM department WHERE code = :d) "
            "WHERE code = :c AND EXISTS (SELECT 1 FROM department WHERE code = :d) RETURNING code"),
            {"d": department, "c": category}).first()
        if done is None:
            exists = conn.execute(text("SELECT 1 FROM event_category WHERE code = :c"), {"c": category}).first()
            raise Refused(f"unknown category {category!r}" if exists is None else
                          f"unknown department {department!r}", "category" if exists is None else "department",
                          status=404 if exists is None else 400)
    return routing()


@bp.get("/api/stats/departments")
def department_stats():
    """How each department handles what it is sent: on time, reporters' satisfaction, grids' ratings."""
    who = caller.staff_only()
    return jsonify({"departments": event_stats.department_scores(db.connection(), who.scope_filter)})


def _doc(summary: str, body: dict | None = None, ok: str = "the updated case file", extra: dict | None = None) -> dict:
    op = {"summary": summary, "parameters": [{"name": "event_id", "in": "path", "required": True,
                                               "schema": {"type": "integer"}}],
          "responses": {"200": {"description": ok, "content": {"application/json": {"schema": {
              "$ref": "#/components/schemas/Event"}}}},
                        **{str(code): {"description": why, "content": {"application/json": {"schema": {
                            "$ref": "#/components/schemas/Error"}}}} for code, why in (
                            (400, "missing or bad field (e.g. no reason for a return or rejection)"),
                            (403, "this role or area may not do that"), (404, "no such event in your area"),
                            (409, "not allowed from the event's state; `allowed` lists what is"),
                            (412, "If-Match names an old revision"))}, **(extra or {})}}
    if body:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": {
            "type": "object", **body}}}}
    return {"post": op}


_NOTE = {"type": "string", "description": "the reason; required where the lifecycle table says"}
OPENAPI_PATHS = {
    "/api/events/{event_id}": {"get": {
        "summary": "One case file: fields, history, photos and the transitions the caller may make (ETag = revision)",
        "parameters": [{"name": "event_id", "in": "path", "required": True, "schema": {"type": "integer"}}],
        "responses": {"200": {"description": "the case", "content": {"application/json": {"schema": {
            "$ref": "#/components/schemas/Event"}}}},
                      "404": {"description": "no such event in your area", "content": {"application/json": {
                          "schema": {"$ref": "#/components/schemas/Error"}}}}}}},
    "/api/events/{event_id}/transitions": _doc(
        "Move the case along the lifecycle table (docs/lifecycle.md); If-Match: the revision you read", {
            "required": ["to"], "properties": {
                "to": {"type": "string"}, "note": _NOTE, "from": {"type": "string", "description": "expected state"},
                "routing": {"enum": ["grid", "department", "joint"]},
                "departments": {"type": "array", "items": {"type": "string"}},
                "review_at": {"type": "string", "format": "date-time"}}}),
    "/api/events/{event_id}/verify": _doc("核查: confirm a resolved case, or reopen it with a reason", {
        "required": ["passed"], "properties": {"passed": {"type": "boolean"}, "note": _NOTE}}),
    "/api/events/{event_id}/rating": _doc("The reporter's satisfaction, 1–5 (staff may record a call-back)", {
        "required": ["score"], "properties": {"score": {"type": "integer", "minimum": 1, "maximum": 5}}}),
    "/api/events/{event_id}/department-rating": _doc("网格评部门: the grid rates a department that handled the case", {
        "required": ["score"], "properties": {"score": {"type": "integer", "minimum": 1, "maximum": 5},
                                              "department": {"type": "string"}, "note": {"type": "string"}}}),
    "/api/events/{event_id}/supervise": _doc("督办: flag the case for supervision at whatever level it is", {
        "properties": {"note": {"type": "string"}}}),
    "/api/events/{event_id}/extend": _doc("延期: push the deadlines back (at most twice, with a reason)", {
        "required": ["hours", "note"], "properties": {"hours": {"type": "number", "exclusiveMinimum": 0},
                                                      "note": _NOTE}}),
    "/api/events/{event_id}/merge": _doc("Close a duplicate report into the open case it repeats", {
        "required": ["into"], "properties": {"into": {"type": "integer"}, "note": {"type": "string"}}}),
    "/api/events/{event_id}/reveal-contact": {"post": {
        "summary": "The reporter's name and contact in clear, for a call-back (grid worker or leader of the case, "
                   "admin); written to the append-only access log with its purpose. The case file shows them masked",
        "parameters": [{"name": "event_id", "in": "path", "required": True, "schema": {"type": "integer"}}],
        "requestBody": {"required": True, "content": {"application/json": {"schema": {
            "type": "object", "required": ["purpose"], "additionalProperties": False, "properties": {
                "purpose": {"type": "string", "minLength": 4, "maxLength": 500,
                            "description": "why the contact is needed; kept in the access log"}}}}}},
        "responses": {"200": {"description": "the clear values (null: the reporter left none, or it was purged)",
                              "content": {"application/json": {"schema": {"type": "object", "properties": {
                                  "id": {"type": "integer"}, "reporter_name": {"type": ["string", "null"]},
                                  "reporter_contact": {"type": ["string", "null"]}}}}}},
                      **{str(code): {"description": why, "content": {"application/json": {"schema": {
                          "$ref": "#/components/schemas/Error"}}}} for code, why in (
                          (400, "no purpose, or an unknown field"), (403, "this role does not call reporters back"),
                          (404, "no such event in your area"))}}}},
    "/api/events/{event_id}/photos/{photo_id}": {"get": {
        "summary": "A photo of a case, for staff who may see it",
        "parameters": [{"name": n, "in": "path", "required": True, "schema": {"type": "integer"}}
                       for n in ("event_id", "photo_id")],
        "responses": {"200": {"description": "the image", "content": {"image/jpeg": {}, "image/png": {},
                                                                     "image/webp": {}}},
                      "404": {"description": "no such photo in your area"}}}},
    "/api/routing": {"get": {"summary": "The category → department table used for point-to-point dispatch",
                             "responses": {"200": {"description": "the table"}}}},
    "/api/routing/{category}": {"put": {
        "summary": "Admins: send a category to another department by default",
        "parameters": [{"name": "category", "in": "path", "required": True, "schema": {"type": "string"}}],
        "requestBody": {"required": True, "content": {"application/json": {"schema": {
            "type": "object", "required": ["department"], "properties": {"department": {"type": "string"}}}}}},
        "responses": {"200": {"description": "the table"}, "403": {"description": "not an admin"},
                      "404": {"description": "unknown category"}}}},
    "/api/stats/departments": {"get": {
        "summary": "Per department: cases handled, share on time, reporters' satisfaction, grids' ratings",
        "responses": {"200": {"description": "one row per department"}}}},
}
REPORT_DOC = {"post": {
    "summary": "A grid worker's report (JSON or multipart with `photos`); Idempotency-Key makes retries safe",
    "parameters": [{"name": "Idempotency-Key", "in": "header", "schema": {"type": "string", "maxLength": MAX_KEY}},
                   {"name": "crs", "in": "query", "schema": {"type": "string"},
                    "description": "coordinates of the answer"}],
    "requestBody": {"required": True, "content": {
        "application/json": {"schema": {"type": "object", "required": ["category", "description"], "properties": {
            "category": {"type": "string"}, "description": {"type": "string", "maxLength": 4000},
            "title": {"type": "string"}, "lon": {"type": "number"}, "lat": {"type": "number"},
            "location": {"$ref": "#/components/schemas/Point"},
            "crs": {"type": "string", "description": "gcj02 (AMap, Tencent, WeChat), bd09 (Baidu), wgs84, 4490"},
            "priority": {"type": "integer", "minimum": 1, "maximum": 3}, "address": {"type": "string"}}}},
        "multipart/form-data": {"schema": {"type": "object", "properties": {
            "photos": {"type": "array", "items": {"type": "string", "format": "binary"}}}}}}},
    "responses": {
        "201": {"description": "the new case (Location: its URL)", "content": {"application/json": {"schema": {
            "$ref": "#/components/schemas/Event"}}}},
        "200": {"description": "a retry with the same Idempotency-Key and body: the first case",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Event"}}}},
        **{str(code): {"description": why, "content": {"application/json": {"schema": {
            "$ref": "#/components/schemas/Error"}}}} for code, why in (
            (400, "bad input: unknown category, coordinates out of range or swapped, no description"),
            (403, "only grid workers, grid leaders and admins file reports, and only inside their grids "
                  "(a place outside every grid: admins only)"), (413, "photo too large"), (415, "photo not a JPEG/PNG/WebP"),
            (422, "Idempotency-Key reused with a different body"))}}}}
