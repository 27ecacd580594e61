"""`/api/persons`: one resident, masked; the full ID number or phone only by an explicit, logged reveal."""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request

from data import persons, pii
from data.errors import Refused
from data.pii import Keyring
from mapserver import caller, db

bp = Blueprint("api_persons", __name__)


def keys() -> Keyring:
    """The key file named in the settings, re-read when it changes on disk (`minqing pii rotate` replaces it, and
    values re-sealed under the new key must open without a restart); never created here (a new key opens nothing)."""
    path = current_app.extensions["minqing.settings"].pii_keys
    cached = current_app.extensions.get("minqing.pii_keys")
    stamp = pii.file_stamp(path)
    if cached is None or cached[0] != stamp:
        cached = current_app.extensions["minqing.pii_keys"] = (stamp, pii.load(path))
    return cached[1]


def sealing_keys(*values: str | None) -> Keyring | None:
    """The keys when a report carries a reporter's name or contact to seal; None otherwise, so a server whose key
    file is missing still takes anonymous reports."""
    return keys() if any(values) else None


def _body(allowed: set[str]) -> dict:
    body = request.get_json(silent=False)
    if not isinstance(body, dict):
        raise Refused("the body must be a JSON object", "body")
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise Refused(f"unknown field {unknown[0]!r}", unknown[0])
    return body


def _private(response):
    response.headers["Cache-Control"] = "no-store"  # full values must not linger in caches
    return response


@bp.get("/api/persons/<int:person_id>")
def person(person_id: int):
    return _private(jsonify(persons.record(db.connection(), caller.current(), person_id)))


@bp.post("/api/persons/<int:person_id>/reveal")
def reveal(person_id: int):
    body = _body({"purpose", "fields"})
    fields = body.get("fields", list(persons.REVEALABLE))
    fields = tuple(fields) if isinstance(fields, list) and all(isinstance(f, str) for f in fields) else ("?",)
    with db.writing() as conn:
        shown = persons.reveal(conn, keys(), caller.current(), person_id, body.get("purpose"), fields)
    return _private(jsonify(shown))


@bp.post("/api/persons/lookup")
def lookup():
    body = _body({"id_number", "purpose"})
    with db.writing() as conn:
        found = persons.lookup(conn, keys(), caller.current(), body.get("id_number"), body.get("purpose"))
    return _private(jsonify({"persons": found}))


_ERRORS = {str(code): {"description": why, "content": {"application/json": {"schema": {
    "$ref": "#/components/schemas/Error"}}}} for code, why in (
    (400, "missing or bad field: no purpose, an unknown field, a malformed ID number"),
    (401, "not signed in"), (403, "this role may not see residents (or reveal their numbers)"),
    (404, "no such resident in your area"))}
_ID = [{"name": "person_id", "in": "path", "required": True, "schema": {"type": "integer"}}]
_PERSON = {"type": "object", "properties": {
    "id": {"type": "integer"}, "name": {"type": "string"}, "gender": {"type": "string"},
    "relation": {"type": "string"}, "tags": {"type": "array", "items": {"type": "string"}},
    "is_key_person": {"type": "boolean"},
    "id_number": {"type": ["string", "null"], "description": "masked: 620102********123X"},
    "phone": {"type": ["string", "null"], "description": "masked: 138****5678"},
    "household": {"type": ["string", "null"]}, "unit": {"type": ["string", "null"]},
    "address": {"type": "string"}, "grid": {"type": ["string", "null"]}}}
_PURPOSE = {"type": "string", "minLength": persons.PURPOSE_MIN, "maxLength": persons.PURPOSE_MAX,
            "description": "why the full value is needed; kept in the access log"}

OPENAPI_PATHS = {
    "/api/persons/{person_id}": {"get": {
        "summary": "One resident, ID number and phone masked (admin, grid leaders and workers, in scope)",
        "parameters": _ID,
        "responses": {"200": {"description": "the masked record", "content": {"application/json": {
            "schema": _PERSON}}}, **_ERRORS}}},
    "/api/persons/{person_id}/reveal": {"post": {
        "summary": "The full ID number and/or phone, for grid leaders and workers in scope; every reveal is "
                   "written to the append-only access log with its purpose",
        "parameters": _ID,
        "requestBody": {"required": True, "content": {"application/json": {"schema": {
            "type": "object", "required": ["purpose"], "additionalProperties": False, "properties": {
                "purpose": _PURPOSE,
                "fields": {"type": "array", "items": {"enum": list(persons.REVEALABLE)}}}}}}},
        "responses": {"200": {"description": "the full values asked for", "content": {"application/json": {
            "schema": {"type": "object", "properties": {
                "id": {"type": "integer"}, "id_number": {"type": ["string", "null"]},
                "phone": {"type": ["string", "null"]}}}}}}, **_ERRORS}}},
    "/api/persons/lookup": {"post": {
        "summary": "Residents in scope with exactly this ID number (found by its keyed hash), masked; logged",
        "requestBody": {"required": True, "content": {"application/json": {"schema": {
            "type": "object", "required": ["id_number", "purpose"], "additionalProperties": False,
            "properties": {"id_number": {"type": "string", "pattern": "^[0-9]{17}[0-9Xx]$"}, "purpose": _PURPOSE}}}}},
        "responses": {"200": {"description": "the matching residents (none, or one)", "content": {
            "application/json": {"schema": {"type": "object", "properties": {
                "persons": {"type": "array", "items": _PERSON}}}}}}, **_ERRORS}}},
}
