"""Open311 GeoReport v2 at `/open311/v2/`, so existing Open311 apps report to and follow the grids unchanged.

Services are our event categories (`service_code` = category code, Chinese name, English in description and
keywords, `group` = the department that handles them); service requests are our events.

- Formats: append `.json` or `.xml` to any resource; without an extension the answer is JSON; any other
  extension is 404. Errors come in the spec's `errors` document with the HTTP status as `code`.
- `service_request_id` is the event's public reference (`E00000123`); `token` is the reporter's tracking
  number (`MQ…`), the secret that lets them follow and rate their report at `/track/{token}`. POST returns
  both: the spec says one or the other, but the id must stay public (GET requests lists it) while the
  token must not, and `tokens/{token}` resolves a token to its id as the spec describes.
- Privacy: GET requests needs no key, as the spec says. The reporter's name, e-mail and phone are never
  returned. `description`, `media_url`, `address` and exact coordinates only for the requests the caller's
  own `api_key` application created (the event's first log row names it, `open311:NAME`); every other
  request, with or without a key, has `lat`/`long` rounded to 3 decimals (about 100 m) and the rest null
  (an exact address would undo the rounding).
- Status: resolved, verified, closed and rejected are `closed`, every other stage `open`; `status_notes`
  names our stage in Chinese and English.
- Extensions: `extensions=true` adds `extended_attributes` {grid_code, stage, level, deadline, department},
  the convention the spec's Extensions page records; the default answer carries only the spec's fields.
- POST needs `api_key` (`minqing open311 key create NAME`; only its SHA-256 is stored). A retried POST
  with the same `Idempotency-Key` header returns the first request. `device_id` identifies a phone, not a
  report, so it is not used to recognise repeats (a phone's second report would be folded into its first).
"""
from __future__ import annotations

import re
from datetime import datetime, timezone

from flask import Blueprint, Response, current_app, request
from sqlalchemy import text
from werkzeug.exceptions import HTTPException
from werkzeug.routing import BaseConverter

from data import intake
from data.intake import MAX_KEY
from data.actors import Actor
from data.errors import Forbidden, LedgerError, NotFound, Refused
from data.open311_codec import (CONTENT_TYPES, encode, errors, parse_w3c, reporter_name, service, service_request,
                                window)
from data.vocab import OPEN_STATUSES
from mapserver import db, versions
from mapserver.api_persons import sealing_keys
from mapserver.open311_doc import MAX_REQUESTS, OPENAPI_PATHS
from mapserver.open311_keys import key_digest

__all__ = ["bp", "OPENAPI_PATHS"]  # what mapserver/__init__.py and openapi.py take from here

SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"

bp = Blueprint("open311", __name__, url_prefix="/open311/v2")


class DotFormat(BaseConverter):
    """`.json`, `.xml` or nothing (JSON) after a resource; anything else reaches the view, which says 404."""

    regex = r"(?:\.[A-Za-z0-9]+)?"

    def to_python(self, value: str) -> str:
        return value[1:] or "json"

    def to_url(self, value: str) -> str:
        return f".{value}"


class PlainId(BaseConverter):
    """An id or code without dots, so the format extension after it is not swallowed."""

    regex = r"[^/.]+"


bp.record_once(lambda state: state.app.url_map.converters.update(dotformat=DotFormat, plainid=PlainId))


@bp.url_value_preprocessor
def _known_format(_endpoint, values) -> None:
    if values and values.get("fmt") not in CONTENT_TYPES:
        raise NotFound(f"unknown format {values.get('fmt')!r}: use .json or .xml", "format")


@bp.errorhandler(LedgerError)
@bp.errorhandler(HTTPException)
def _error(exc: Exception):
    status = exc.status if isinstance(exc, Refused) else getattr(exc, "code", None) or 400
    reason = str(exc) if isinstance(exc, LedgerError) else (exc.description or exc.name)
    return _answer("errors", errors(status, reason), status)


def _answer(root: str, document, status: int = 200) -> Response:
    fmt = (request.view_args or {}).get("fmt")
    fmt = fmt if fmt in CONTENT_TYPES else "json"
    return Response(encode(root, document, fmt), status, content_type=CONTENT_TYPES[fmt])


def _client(key: str | None, required: bool) -> str | None:
    """The name of the application holding `key`; a wrong key is refused even where none is needed."""
    if not key:
        if required:
            raise Forbidden("api_key is required to create a service request", "api_key")
        return None
    name = db.connection().execute(text("SELECT name FROM api_key WHERE key_sha256 = :h AND NOT revoked"),
                                   {"h": key_digest(key)}).scalar()
    if name is None:
        raise Forbidden("invalid or revoked api_key", "api_key")
    return name


# --- services -------------------------------------------------------------------------------------

_SERVICES_SQL = """
SELECT c.code, c.name, c.name_en, d.name AS department, d.name_en AS department_en
FROM event_category c LEFT JOIN department d ON d.id = c.department_id"""


@bp.get("/discovery<dotformat:fmt>")
def discovery(fmt: str):
    public_url = current_app.extensions["minqing.settings"].public_url
    known = versions.snapshot().versions
    changeset = f"{known.get('event_category', 0) + known.get('department', 0):012d}"  # grows with every edit
    return _answer("discovery", {
        "changeset": changeset,
        "contact": f"民情地图平台管理员 / the Minqing Map operators: {public_url}",
        "key_service": "API key 由平台管理员签发 / the operators issue keys: minqing open311 key create NAME",
        "endpoints": [{"specification": SPECIFICATION, "url": f"{public_url}/open311/v2", "changeset": changeset,
                       "type": "production", "formats": ["text/xml", "application/json"]}]})


@bp.get("/services<dotformat:fmt>")
def services(fmt: str):
    rows = db.connection().execute(text(_SERVICES_SQL + " ORDER BY c.code"))
    return _answer("services", [service(row) for row in rows])


@bp.get("/services/<plainid:service_code><dotformat:fmt>")
def service_definition(service_code: str, fmt: str):
    if db.connection().execute(text(_SERVICES_SQL + " WHERE c.code = :c"), {"c": service_code}).first() is None:
        raise NotFound(f"unknown service_code {service_code!r}", "service_code")
    return _answer("service_definition", {"service_code": service_code, "attributes": []})


# --- reading requests -----------------------------------------------------------------------------

_REQUESTS_SQL = """
SELECT e.ref, e.status, e.category, c.name AS service_name, COALESCE(NULLIF(e.description, ''), e.title) AS text,
       d.name AS agency, d.code AS department, e.reported_at, e.due_at, e.level, g.code AS grid_code,
       greatest(e.reported_at, e.updated_at, e.resolved_at, e.closed_at) AS updated_at,
       e.address, ST_X(e.geom) AS lon, ST_Y(e.geom) AS lat, e.media_url,
       EXISTS (SELECT 1 FROM event_log l WHERE l.event_id = e.id AND l.from_status IS NULL
               AND l.actor = 'open311:' || CAST(:client AS text)) AS own
FROM event e JOIN event_category c ON c.code = e.category
LEFT JOIN department d ON d.id = e.department_id LEFT JOIN grid g ON g.id = e.grid_id
WHERE {where} ORDER BY e.reported_at DESC, e.id DESC LIMIT {limit}"""


def _listed(where: str, params: dict) -> list[dict]:
    # a key shows its own application's reports in full, nobody else's: a key is not a licence to the city
    client = _client(request.args.get("api_key"), required=False)
    extensions = request.args.get("extensions", "").lower() == "true"
    rows = db.connection().execute(text(_REQUESTS_SQL.format(where=where, limit=MAX_REQUESTS)),
                                   {**params, "client": client})
    return [service_request(row, trusted=row.own, extensions=extensions) for row in rows]


def _many(raw: str | None) -> list[str]:
    return [part.strip() for part in (raw or "").split(",") if part.strip()]


def _moment(name: str) -> datetime | None:
    raw = request.args.get(name)
    if not raw:
        return None
    try:
        return parse_w3c(raw)
    except ValueError:
        raise Refused(f"{name} must be a W3C datetime such as 2026-01-01T00:00:00+08:00, got {raw!r}", name) from None


@bp.get("/requests<dotformat:fmt>")
def list_requests(fmt: str):
    ids = _many(request.args.get("service_request_id"))
    if ids:  # the spec: this overrides every other argument
        return _answer("service_requests", _listed("e.ref = ANY(:ids)", {"ids": ids}))
    start, end = window(_moment("start_date"), _moment("end_date"), datetime.now(timezone.utc))
    where, params = ["e.reported_at BETWEEN :start AND :end"], {"start": start, "end": end}
    codes = _many(request.args.get("service_code"))
    if codes:
        known = set(versions.snapshot().categories)
        unknown = [code for code in codes if code not in known]
        if unknown:
            raise Refused(f"unknown service_code {', '.join(map(repr, unknown))}", "service_code")
        where.append("e.category = ANY(:codes)")
        params["codes"] = codes
    statuses = set(_many(request.args.get("status")))
    if statuses - {"open", "closed"}:
        raise Refused("status must be open, closed or both (comma separated)", "status")
    if len(statuses) == 1:
        where.append(("" if "open" in statuses else "NOT ") + "(e.status = ANY(:open))")
        params["open"] = sorted(OPEN_STATUSES)
    return _answer("service_requests", _listed(" AND ".join(where), params))


@bp.get("/requests/<plainid:service_request_id><dotformat:fmt>")
def one_request(service_request_id: str, fmt: str):
    found = _listed("e.ref = :ref", {"ref": service_request_id})
    if not found:
        raise NotFound(f"no service request {service_request_id!r}", "service_request_id")
    return _answer("service_requests", found)


@bp.get("/tokens/<plainid:token><dotformat:fmt>")
def token(token: str, fmt: str):
    ref = db.connection().execute(text("SELECT ref FROM event WHERE tracking_no = :t"), {"t": token}).scalar()
    if ref is None:
        raise NotFound(f"no service request for token {token!r}", "token")
    return _answer("service_requests", [{"service_request_id": ref, "token": token}])


# --- creating requests ----------------------------------------------------------------------------

def _located(conn, form) -> tuple[float, float, str | None]:
    """WGS 84 lon/lat and an address: from lat/long, else the house named by address_id (its ref) or found in
    address_string. What the reporter typed is kept as the address."""
    typed = form.get("address_string", "").strip() or None
    lat, lon = form.get("lat", "").strip(), form.get("long", "").strip()
    if lat or lon:
        if not (lat and lon):
            raise Refused("send both lat and long", "long" if lat else "lat")
        return (*intake.to_wgs84_checked(lon, lat, "wgs84"), typed)
    if form.get("address_id", "").strip():
        row = conn.execute(text("SELECT ST_X(geom), ST_Y(geom), address FROM house WHERE ref = :r"),
                           {"r": form["address_id"].strip()}).first()
        if row is None:
            raise Refused(f"address_id {form['address_id']!r} is not a known address", "address_id")
        return row[0], row[1], typed or row[2]
    wanted = "".join(form.get("address_string", "").split())
    if wanted:  # the longest house address inside what was typed: "城关区培黎小区1号楼3单元" finds 培黎小区1号楼
        row = conn.execute(text(
            r"SELECT ST_X(geom), ST_Y(geom) FROM house WHERE address <> '' "
            r"AND strpos(:wanted, regexp_replace(address, '\s', '', 'g')) > 0 "
            "ORDER BY length(address) DESC, id LIMIT 1"), {"wanted": wanted}).first()
        if row is None:
            raise Refused(f"address_string {form['address_string']!r} names no address we know; send lat and long",
                          "address_string")
        return row[0], row[1], typed
    raise Refused("a location is required: lat and long, address_string or address_id", "lat")


def _notice(done: intake.Submitted) -> str:
    url = f"{current_app.extensions['minqing.settings'].public_url}/track/{done.tracking_no}"
    notice = f"已受理，查询编号 {done.tracking_no}，办理进度见 {url} / received; follow it at {url}"
    if done.outside_grid:
        notice += "；位置不在任何网格内，将由人工定位 / outside every grid: it will be placed by hand"
    return notice


@bp.post("/requests<dotformat:fmt>")
def create_request(fmt: str):
    form = request.form
    client = _client(form.get("api_key"), required=True)
    code = form.get("service_code", "").strip()
    if not code:
        raise Refused("service_code is required", "service_code")
    media_url = form.get("media_url", "").strip() or None
    if media_url and not re.fullmatch(r"https?://\S+", media_url):
        raise Refused("media_url must be an http or https URL", "media_url")
    contact = "; ".join(v for v in (form.get("email", "").strip(), form.get("phone", "").strip()) if v) or None
    key = request.headers.get("Idempotency-Key") or None
    if key is not None and len(key) > MAX_KEY:
        raise Refused(f"Idempotency-Key must be at most {MAX_KEY} characters", "Idempotency-Key")
    with db.writing() as conn:
        if conn.execute(text("SELECT 1 FROM event_category WHERE code = :c"), {"c": code}).first() is None:
            raise NotFound(f"unknown service_code {code!r}", "service_code")
        lon, lat, address = _located(conn, form)
        report = intake.NewReport(
            category=code, description=form.get("description", ""), lon=lon, lat=lat, source="open311",
            reporter_name=reporter_name(form.get("first_name", ""), form.get("last_name", "")),
            reporter_contact=contact, address=address, media_url=media_url)
        done = intake.submit(conn, report, actor=Actor(f"open311:{client}", "citizen"), idempotency_key=key,
                             keys=sealing_keys(report.reporter_name, report.reporter_contact))
    return _answer("service_requests", [{"service_request_id": done.ref, "token": done.tracking_no,
                                         "service_notice": _notice(done),
                                         "account_id": form.get("account_id", "").strip() or None}])
