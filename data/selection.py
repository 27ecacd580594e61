"""Which events an analyst means: one selection, turned into one WHERE clause for every reader.

The API, exports, statistics and the map all filter through `EventSelection.where`, so the same
area, period and kinds give the same rows everywhere.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Iterable, Mapping

import numpy as np
import shapely
import shapely.geometry
from shapely.errors import ShapelyError
from shapely.geometry.base import BaseGeometry

from data import crs as coordinates
from data.errors import LedgerError
from data.vocab import EVENT_SOURCES, EVENT_STATUSES, HANDLING_LEVELS

MAX_AREA_VERTICES = 10_000
MAX_AREA_KM2 = 5_000  # larger than any district; a whole-province polygon is a mistake or an attack
MAX_RADIUS_M = 50_000
_CODE = re.compile(r"^[0-9A-Za-z]+(\.[0-9A-Za-z]+)*$")


class BadSelection(LedgerError):
    """A filter value that cannot mean anything; `field` names it."""

    def __init__(self, message: str, field: str):
        super().__init__(message)
        self.field = field


class InvalidArea(BadSelection):
    """Well-formed GeoJSON whose polygon is not a valid area (self-intersecting, unclosed): 422,
    with the place to look at in `location` (lon, lat)."""

    def __init__(self, message: str, location: tuple[float, float] | None):
        super().__init__(message, "geometry")
        self.location = location


class AreaTooLarge(BadSelection):
    """More vertices or more ground than one query may cover: 413."""


def many(args: Mapping, name: str) -> tuple[str, ...]:
    """Repeated or comma-separated values (`?status=a&status=b` or `?status=a,b`)."""
    getlist = getattr(args, "getlist", None)
    raw = getlist(name) if getlist else (args[name] if isinstance(args.get(name), list) else [args.get(name)])
    return tuple(v.strip() for item in raw if item is not None for v in str(item).split(",") if v.strip())


def instant(value, name: str) -> datetime | None:
    """ISO 8601; a time without an offset is Beijing time, as people type it."""
    if value in (None, ""):
        return None
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        if not 1900 <= parsed.year <= 9000:
            raise ValueError("year out of range")
        if parsed.tzinfo is None:
            parsed = datetime.fromisoformat(parsed.isoformat() + "+08:00")
        return parsed.astimezone(timezone.utc)
    except (ValueError, OverflowError):
        raise BadSelection(f"{name} must be an ISO 8601 date or date-time between 1900 and 9000, got {value!r}",
                           name) from None


def known(name: str, values: tuple[str, ...], allowed: Iterable[str]) -> tuple[str, ...]:
    allowed = set(allowed)
    unknown = [v for v in values if v not in allowed]
    if unknown:
        raise BadSelection(f"unknown {name} {', '.join(map(repr, unknown))}; allowed: {', '.join(sorted(allowed))}",
                           name)
    return values


def _number(value, name: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise BadSelection(f"{name} must be a number, got {value!r}", name) from None
    if not math.isfinite(number):
        raise BadSelection(f"{name} must be a finite number", name)
    return number


def parse_bbox(value, crs: str | None) -> tuple[float, float, float, float] | None:
    if value in (None, ""):
        return None
    parts = value if isinstance(value, (list, tuple)) else str(value).split(",")
    if len(parts) != 4:
        raise BadSelection("bbox must be west,south,east,north", "bbox")
    west, south, east, north = (_number(p, "bbox") for p in parts)
    (west, east), (south, north) = coordinates.to_wgs84([west, east], [south, north], crs)
    if not (-180 <= west < east <= 180 and -90 <= south < north <= 90):
        raise BadSelection("bbox must be west,south,east,north with west < east and south < north, in range",
                           "bbox")
    return float(west), float(south), float(east), float(north)


def parse_near(value, radius, crs: str | None) -> tuple[float, float, float] | None:
    if value in (None, ""):
        if radius not in (None, ""):
            raise BadSelection("radius needs near=lon,lat", "near")
        return None
    parts = value if isinstance(value, (list, tuple)) else str(value).split(",")
    if len(parts) != 2:
        raise BadSelection("near must be lon,lat", "near")
    lon, lat = (_number(p, "near") for p in parts)
    (lon,), (lat,) = coordinates.to_wgs84([lon], [lat], crs)
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise BadSelection(f"near must be a lon,lat in range, got {value!r}", "near")
    metres = _number(radius if radius not in (None, "") else 500, "radius")
    if not 0 < metres <= MAX_RADIUS_M:
        raise BadSelection(f"radius must be in (0, {MAX_RADIUS_M}] metres, got {metres:g}", "radius")
    return float(lon), float(lat), metres


def _unclosed_ring(geojson: dict) -> tuple[float, float] | None:
    """GeoJSON requires each ring to end where it starts; shapely would close it silently."""
    polygons = geojson["coordinates"] if geojson["type"] == "MultiPolygon" else [geojson["coordinates"]]
    for polygon in polygons:
        for ring in polygon:
            if len(ring) >= 1 and list(ring[0]) != list(ring[-1]):
                return float(ring[-1][0]), float(ring[-1][1])
    return None


def parse_area(geojson, crs: str | None) -> BaseGeometry | None:
    """A drawn Polygon or MultiPolygon (holes allowed), valid, in range, converted to WGS 84."""
    if geojson in (None, {}):
        return None
    if not isinstance(geojson, dict) or geojson.get("type") not in ("Polygon", "MultiPolygon"):
        raise BadSelection("geometry must be a GeoJSON Polygon or MultiPolygon", "geometry")
    try:
        area = shapely.geometry.shape(geojson)
        unclosed = _unclosed_ring(geojson)
    except (ValueError, TypeError, AttributeError, IndexError, KeyError, ShapelyError) as exc:
        # GEOS refuses some shapes itself (a ring whose NaN vertex never closes it): still the caller's mistake
        raise BadSelection(f"geometry is not valid GeoJSON: {exc!r}", "geometry") from None
    if area.is_empty:
        raise BadSelection("geometry is empty", "geometry")
    if shapely.get_num_coordinates(area) > MAX_AREA_VERTICES:
        raise AreaTooLarge(f"geometry has more than {MAX_AREA_VERTICES} vertices", "geometry")
    xy = shapely.get_coordinates(area)
    if not all(map(math.isfinite, xy.ravel())):
        raise BadSelection("geometry has non-finite coordinates", "geometry")
    if unclosed is not None:
        raise InvalidArea(f"a ring is not closed: it ends at {unclosed[0]:g} {unclosed[1]:g}, not where it starts",
                          unclosed)
    area = shapely.transform(area, lambda pts: np.column_stack(coordinates.to_wgs84(pts[:, 0], pts[:, 1], crs)))
    minx, miny, maxx, maxy = area.bounds
    if not (-180 <= minx and maxx <= 180 and -90 <= miny and maxy <= 90):
        raise BadSelection("geometry coordinates are out of range for lon/lat (swapped?)", "geometry")
    if not area.is_valid:
        reason = shapely.is_valid_reason(area)
        at = re.search(r"\[([-0-9.eE+]+) ([-0-9.eE+]+)\]", reason)
        raise InvalidArea(f"geometry is invalid: {reason}", (float(at[1]), float(at[2])) if at else None)
    km2 = _km2(area)
    if km2 > MAX_AREA_KM2:
        raise AreaTooLarge(f"geometry covers {km2:,.0f} km², more than the {MAX_AREA_KM2:,} km² one query may",
                           "geometry")
    return area


def _km2(area: BaseGeometry) -> float:
    from pyproj import Geod

    return abs(Geod(ellps="WGS84").geometry_area_perimeter(area)[0]) / 1e6


def unknown_grids(conn, codes: Iterable[str]) -> list[str]:
    """Codes that name no current grid (a typo must be a 400, not an empty answer)."""
    from sqlalchemy import text

    codes = list(codes)
    if not codes:
        return []
    known_codes = set(conn.execute(text("SELECT code FROM grid WHERE valid_to IS NULL AND code = ANY(:c)"),
                                   {"c": codes}).scalars())
    return [c for c in codes if c not in known_codes]


@dataclass(frozen=True)
class AreaSelection:
    """Where: grid subtrees, a box, a circle in metres, a drawn area. Shared by events and every pin."""

    grids: tuple[str, ...] = ()
    bbox: tuple[float, float, float, float] | None = None
    near: tuple[float, float, float] | None = None  # lon, lat, metres
    area: BaseGeometry | None = field(default=None, compare=False)

    @staticmethod
    def parse_fields(args: Mapping, geometry: dict | None = None) -> dict:
        crs = args.get("crs") or None
        try:
            coordinates.resolve(crs)
        except LedgerError as exc:
            raise BadSelection(str(exc), "crs") from None
        grids = many(args, "grid")
        bad = [g for g in grids if not _CODE.match(g)]
        if bad:
            raise BadSelection(f"grid codes look like 990101.001.003, got {', '.join(map(repr, bad))}", "grid")
        return {"grids": grids, "bbox": parse_bbox(args.get("bbox"), crs),
                "near": parse_near(args.get("near"), args.get("radius"), crs), "area": parse_area(geometry, crs)}

    @classmethod
    def parse(cls, args: Mapping, geometry: dict | None = None) -> "AreaSelection":
        return cls(**cls.parse_fields(args, geometry))

    def key(self) -> str:
        """A stable text form (cache keys, tile ETags); two selections with one key select the same rows."""
        parts = [f"{name}={getattr(self, name)!r}" for name in self.__dataclass_fields__ if name != "area"]
        if self.area is not None:
            parts.append("area=" + shapely.to_wkb(self.area, hex=True))
        return "|".join(parts)

    def where(self, e: str = "e") -> tuple[str, dict]:
        """AND-ed clauses (each with a leading AND) over a pinned row's alias `e`, and their bound values."""
        clauses, params = [], {}
        if self.grids:
            # pins point at leaf grids; a code means its whole subtree
            clauses.append(f"EXISTS (SELECT 1 FROM grid s_g WHERE s_g.id = {e}.grid_id "
                           "AND s_g.path <@ CAST(:s_grids AS ltree[]))")
            params["s_grids"] = list(self.grids)
        if self.bbox:
            # && alone compares float4 boxes rounded outward: points up to ~1 m outside would slip in
            clauses.append(f"{e}.geom && ST_MakeEnvelope(:s_west, :s_south, :s_east, :s_north, 4326) "
                           f"AND ST_Intersects({e}.geom, ST_MakeEnvelope(:s_west, :s_south, :s_east, :s_north, 4326))")
            params.update(zip(("s_west", "s_south", "s_east", "s_north"), self.bbox))
        if self.near:
            lon, lat, metres = self.near
            # a degree box around the circle lets the GiST index work; geography makes the metres exact
            pad = metres / 111_000 / max(math.cos(math.radians(lat)), 0.01) * 1.01
            clauses.append(f"{e}.geom && ST_Expand(ST_SetSRID(ST_MakePoint(:s_lon, :s_lat), 4326), :s_pad) "
                           f"AND ST_DWithin({e}.geom::geography, "
                           "ST_SetSRID(ST_MakePoint(:s_lon, :s_lat), 4326)::geography, :s_metres)")
            params.update(s_lon=lon, s_lat=lat, s_pad=pad, s_metres=metres)
        if self.area is not None:
            clauses.append(f"{e}.geom && ST_GeomFromWKB(:s_area, 4326) "
                           f"AND ST_Intersects({e}.geom, ST_GeomFromWKB(:s_area, 4326))")
            params["s_area"] = shapely.to_wkb(self.area)
        return "".join(f" AND {c}" for c in clauses), params


@dataclass(frozen=True)
class EventSelection(AreaSelection):
    """Every filter an analyst can set on events; empty means no restriction."""

    start: datetime | None = None
    end: datetime | None = None
    category: tuple[str, ...] = ()
    status: tuple[str, ...] = ()
    source: tuple[str, ...] = ()
    department: tuple[str, ...] = ()
    level: tuple[str, ...] = ()
    overdue: bool | None = None
    text: str | None = None

    @classmethod
    def parse(cls, args: Mapping, categories: Iterable[str] = (), departments: Iterable[str] = (),
              geometry: dict | None = None) -> "EventSelection":
        start, end = instant(args.get("from"), "from"), instant(args.get("to"), "to")
        if start and end and start > end:
            raise BadSelection("from must not be after to", "from")
        overdue = args.get("overdue")
        if overdue not in (None, "", "true", "false", True, False):
            raise BadSelection("overdue must be true or false", "overdue")
        text = (args.get("q") or "").strip() or None
        if text and len(text) > 200:
            raise BadSelection("q must be at most 200 characters", "q")
        return cls(
            **cls.parse_fields(args, geometry), start=start, end=end,
            category=known("category", many(args, "category"), categories),
            status=known("status", many(args, "status"), EVENT_STATUSES),
            source=known("source", many(args, "source"), EVENT_SOURCES),
            department=known("department", many(args, "department"), departments) if departments else
            many(args, "department"),
            level=known("level", many(args, "level"), HANDLING_LEVELS),
            overdue=None if overdue in (None, "") else overdue in ("true", True),
            text=text,
        )

    def where(self, e: str = "e") -> tuple[str, dict]:
        sql, params = super().where(e)
        clauses = []
        for column in ("category", "status", "source", "level"):
            values = getattr(self, column)
            if values:
                clauses.append(f"{e}.{column} = ANY(:s_{column})")
                params[f"s_{column}"] = list(values)
        if self.department:
            clauses.append(f"{e}.department_id IN (SELECT id FROM department WHERE code = ANY(:s_department))")
            params["s_department"] = list(self.department)
        if self.start:
            clauses.append(f"{e}.reported_at >= :s_start")
            params["s_start"] = self.start
        if self.end:
            clauses.append(f"{e}.reported_at <= :s_end")
            params["s_end"] = self.end
        if self.overdue is not None:
            clauses.append(f"{e}.overdue = :s_overdue")
            params["s_overdue"] = self.overdue
        if self.text:
            escaped = self.text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            clauses.append(f"({e}.title ILIKE :s_text OR {e}.description ILIKE :s_text)")
            params["s_text"] = f"%{escaped}%"
        return sql + "".join(f" AND {c}" for c in clauses), params
