"""Every channel's report becomes an event the same way: checked, placed, deadlined, logged, flagged.

One INSERT … RETURNING does the work (the grid comes from the database's trigger, the stage deadline
from `stage_deadline()`, the possible duplicate from an indexed search), so a phone's report costs
one round trip plus its log row.
"""
from __future__ import annotations

import hashlib
import json
import math
import secrets
from dataclasses import asdict, dataclass
from datetime import datetime, timezone

from sqlalchemy import Connection, text

from data import crs as coordinates
from data import reporter_contact
from data.actors import Actor
from data.errors import Refused
from data.lifecycle import DEADLINE_HOURS, DUPLICATE_RADIUS_M, DUPLICATE_WINDOW_HOURS
from data.pii import Keyring
from data.vocab import EVENT_SOURCES

TRACKING_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O or 1/I to misread over the phone
MAX_DESCRIPTION = 4000
MAX_TITLE = 120
MAX_KEY = 200  # Idempotency-Key length (the table's CHECK)


@dataclass(frozen=True)
class NewReport:
    category: str
    description: str
    lon: float | None = None  # WGS 84; converted at the edge (to_wgs84_checked)
    lat: float | None = None
    source: str = "grid_worker"
    title: str | None = None
    reported_at: datetime | None = None
    reporter_name: str | None = None
    reporter_contact: str | None = None  # for call-backs only: sealed at rest, masked, revealed with a log row
    external_id: str | None = None  # the sending system's id (hotline work order, Open311 client)
    address: str | None = None
    media_url: str | None = None
    grid_code: str | None = None  # without lon/lat: placed at this grid's point on surface (QR codes)
    priority: int = 2

    def fingerprint(self) -> str:
        """The SHA-256 of what was asked, so a retried Idempotency-Key can be told from a reused one."""
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True, default=str).encode()).hexdigest()


@dataclass(frozen=True)
class Submitted:
    id: int
    ref: str
    tracking_no: str
    status: str
    grid_code: str | None
    outside_grid: bool
    possible_duplicate_of: int | None
    level: str
    category: str
    reported_at: datetime
    due_at: datetime | None
    stage_due_at: datetime | None
    lon: float
    lat: float
    created: bool  # False: an idempotent replay, or this (source, external_id) was already imported


def new_tracking_no() -> str:
    """A number the reporter keeps to follow the case: 50 random bits, so numbers cannot be guessed."""
    return "MQ" + "".join(secrets.choice(TRACKING_ALPHABET) for _ in range(10))


def to_wgs84_checked(lon, lat, crs: str | None = None) -> tuple[float, float]:
    """A reported position as WGS 84, refusing what cannot be a place (out of range, or lat/lon swapped)."""
    try:
        x, y = float(lon), float(lat)
    except (TypeError, ValueError):
        raise Refused("lon and lat must be numbers", "location") from None
    if not (math.isfinite(x) and math.isfinite(y)):
        raise Refused("lon and lat must be finite numbers", "location")
    source = coordinates.resolve(crs)
    geographic = not hasattr(source, "is_projected") or not source.is_projected
    if geographic:
        if abs(y) > 90 and abs(x) <= 90:
            raise Refused(f"latitude {y} is out of range and longitude {x} would be a latitude: "
                          "are lon and lat swapped? Send [lon, lat]", "location")
        if abs(x) > 180 or abs(y) > 90:
            raise Refused(f"({x}, {y}) is out of range: lon must be within ±180 and lat within ±90", "location")
        china = bool(coordinates.in_china(x, y))
        if source in (coordinates.GCJ02, coordinates.BD09) and not china and bool(coordinates.in_china(y, x)):
            raise Refused(f"({x}, {y}) is outside China but ({y}, {x}) is inside: are lon and lat swapped?",
                          "location")
    (wlon,), (wlat,) = coordinates.to_wgs84([x], [y], crs)
    if not (math.isfinite(wlon) and math.isfinite(wlat)) or abs(wlon) > 180 or abs(wlat) > 90:
        raise Refused(f"({x}, {y}) in {crs} is not a place on Earth", "location")
    return float(wlon), float(wlat)


RETURNED = """e.id, e.ref, e.tracking_no, e.status, g.code, e.outside_grid, e.possible_duplicate_of, e.level,
  e.category, e.reported_at, e.due_at, e.stage_due_at, ST_X(e.geom), ST_Y(e.geom)"""

_REPLAY_SQL = text("""
SELECT k.body_sha256, {RETURNED}
FROM idempotency_key k JOIN event e ON e.id = k.event_id LEFT JOIN grid g ON g.id = e.grid_id
WHERE k.owner = :owner AND k.key = :key""".format(RETURNED=RETURNED))

_EXISTING_SQL = text("""
SELECT {RETURNED}
FROM event e LEFT JOIN grid g ON g.id = e.grid_id WHERE e.source = :source AND e.external_id = :external_id""".format(RETURNED=RETURNED))

# the duplicate search uses the partial GiST index on open events; 0.002° ≥ 100 m in any direction here
_INSERT_SQL = text("""
WITH place AS (
    SELECT COALESCE(ST_SetSRID(ST_MakePoint(CAST(:lon AS float8), CAST(:lat AS float8)), 4326),
                    (SELECT ST_PointOnSurface(geom) FROM grid
                     WHERE code = CAST(:grid_code AS text) AND valid_to IS NULL)) AS geom
), seq AS (
    SELECT COALESCE(CAST(:id AS bigint), nextval(pg_get_serial_sequence('event', 'id'))) AS id
), twin AS (
    -- OFFSET 0 keeps the planner on the partial GiST index of open events (~100 near any point)
    -- instead of AND-ing it with the time index, which reads every event of the last three days
    SELECT e.id FROM place p, LATERAL (
        SELECT id, geom, category, reported_at, merged_into FROM event
        WHERE geom && ST_Expand(p.geom, :radius_deg)
          AND status IN ('reported', 'accepted', 'dispatched', 'in_progress', 'returned', 'escalated', 'suspended')
        OFFSET 0) e
    WHERE e.category = :category AND e.merged_into IS NULL
      AND e.reported_at > CAST(:reported_at AS timestamptz) - make_interval(hours => :window_h)
      AND ST_DWithin(e.geom::geography, p.geom::geography, :radius_m)
    ORDER BY e.geom <-> p.geom LIMIT 1
), new AS (
    INSERT INTO event (id, ref, tracking_no, title, description, category, source, priority, reported_at, due_at,
                       stage_due_at, department_id, geom, reporter_name_sealed, reporter_name_masked,
                       reporter_contact_sealed, reporter_contact_masked, external_id, address, media_url,
                       possible_duplicate_of, updated_at, rev)
    SELECT s.id, 'E' || to_char(s.id, 'FM00000000'), :tracking_no,
           COALESCE(CAST(:title AS text), c.name || '：' || left(split_part(btrim(:description), E'\n', 1), 30)
                    || CASE WHEN length(split_part(btrim(:description), E'\n', 1)) > 30 THEN '…' ELSE '' END),
           :description, :category, :source, :priority, :reported_at,
           CAST(:reported_at AS timestamptz) + make_interval(hours => :due_hours),
           stage_deadline(:category, 'accept', :now), c.department_id, p.geom, :reporter_name_sealed,
           :reporter_name_masked, :reporter_contact_sealed, :reporter_contact_masked, :external_id, :address,
           :media_url, (SELECT id FROM twin), :now, 1
    FROM seq s, place p, event_category c WHERE c.code = :category AND p.geom IS NOT NULL
    RETURNING *
), logged AS (
    INSERT INTO event_log (event_id, at, actor, actor_role, from_status, to_status, level, action, note, detail)
    SELECT id, :now, :actor, :actor_role, NULL, 'reported', level, 'transition', :source_label,
           CASE WHEN possible_duplicate_of IS NULL THEN NULL
                ELSE jsonb_build_object('possible_duplicate_of', possible_duplicate_of) END
    FROM new
), keyed AS (
    UPDATE idempotency_key SET event_id = (SELECT id FROM new) WHERE owner = :actor AND key = :key
)
SELECT {RETURNED}
FROM new e LEFT JOIN grid g ON g.id = e.grid_id""".format(RETURNED=RETURNED))


def _check(report: NewReport) -> None:
    if report.source not in EVENT_SOURCES:
        raise Refused(f"unknown source {report.source!r}", "source")
    if not isinstance(report.description, str) or not report.description.strip():
        raise Refused("description is required", "description")
    if len(report.description) > MAX_DESCRIPTION:
        raise Refused(f"description is longer than {MAX_DESCRIPTION} characters", "description")
    if report.title is not None and len(report.title) > MAX_TITLE:
        raise Refused(f"title is longer than {MAX_TITLE} characters", "title")
    if (report.lon is None) != (report.lat is None):
        raise Refused("give both lon and lat, or neither", "location")
    if report.lon is None and not report.grid_code:
        raise Refused("a location is required (lon/lat, or the grid of a QR code)", "location")
    if report.priority not in (1, 2, 3):
        raise Refused("priority must be 1 (urgent), 2 or 3", "priority")


def _category(conn: Connection, code: str) -> None:
    if conn.execute(text("SELECT 1 FROM event_category WHERE code = :c"),
                                                 {"c": code}).first() is None:
        known = conn.execute(text("SELECT string_agg(code, ', ' ORDER BY code) FROM event_category")).scalar()
        raise Refused(f"unknown category {code!r}; known: {known}", "category")


def submit(conn: Connection, report: NewReport, *, actor: Actor, idempotency_key: str | None = None,
           body_sha256: str | None = None, now: datetime | None = None, keys: Keyring | None = None) -> Submitted:
    """File a report inside the caller's transaction; a retried key or a known external id returns the first event.
    `keys` seal the reporter's name and contact (needed only when the report has them)."""
    _check(report)
    if not isinstance(report.category, str):
        raise Refused("category must be a category code", "category")
    if report.external_id is not None:
        row = conn.execute(_EXISTING_SQL, {"source": report.source, "external_id": report.external_id}).first()
        if row is not None:
            return Submitted(*row, created=False)
    if idempotency_key is not None:
        digest = body_sha256 or report.fingerprint()
        claimed = conn.execute(text(
            "INSERT INTO idempotency_key (owner, key, body_sha256) VALUES (:owner, :key, :sha) "
            "ON CONFLICT DO NOTHING RETURNING key"),
            {"owner": actor.username, "key": idempotency_key, "sha": digest}).first()
        if claimed is None:  # a retry (the first request has committed: the insert waited for it)
            row = conn.execute(_REPLAY_SQL, {"owner": actor.username, "key": idempotency_key}).first()
            if row is None or row[0] != digest:
                raise Refused("this Idempotency-Key was already used for a different report; use a new key "
                              "for a new report", "Idempotency-Key", status=422)
            return Submitted(*row[1:], created=False)
    now = now or datetime.now(timezone.utc)
    reported_at = report.reported_at or now
    if reported_at.tzinfo is None:
        raise Refused("reported_at needs a UTC offset", "reported_at")
    if reported_at > now:
        raise Refused("reported_at is in the future", "reported_at")
    sealed = reporter_contact.sealed_columns(conn, keys, report.reporter_name, report.reporter_contact)
    row = conn.execute(_INSERT_SQL, {
        "lon": report.lon, "lat": report.lat, "grid_code": report.grid_code, "category": report.category,
        "radius_deg": DUPLICATE_RADIUS_M / 50_000, "radius_m": DUPLICATE_RADIUS_M, "window_h": DUPLICATE_WINDOW_HOURS,
        "reported_at": reported_at, "tracking_no": new_tracking_no(),
        "title": report.title or None, "description": report.description, "key": idempotency_key,
        "source": report.source, "priority": report.priority, "due_hours": DEADLINE_HOURS.get(report.category, 120),
        **sealed,
        "external_id": report.external_id, "address": report.address, "media_url": report.media_url,
        "now": now, "actor": actor.username, "actor_role": actor.role, "source_label": EVENT_SOURCES[report.source][0],
    }).first()
    if row is None:  # no category row, or no place: say which
        _category(conn, report.category)
        raise Refused(f"grid {report.grid_code!r} is not a current grid", "grid")
    return Submitted(*row, created=True)

