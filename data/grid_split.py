"""A split drawn as a line becomes an ordinary edit proposal: the grid keeps its largest piece, each other
piece becomes a new grid. Nothing is written; the proposal then goes through validate → preview → apply."""
from __future__ import annotations

import shapely
from shapely.geometry import mapping, shape
from shapely.ops import split
from sqlalchemy import Connection, text

from data.errors import NotFound, Refused
from data.grid_edit_checks import MAX_VERTICES


def proposal(conn: Connection, code: str, line: dict) -> dict:
    """The edit (docs/grid_edits.md) that cuts current grid `code` along the GeoJSON LineString `line`."""
    if not isinstance(line, dict) or line.get("type") != "LineString":
        raise Refused("line must be a GeoJSON LineString", "line")
    if isinstance(line.get("coordinates"), list) and len(line["coordinates"]) > MAX_VERTICES:
        raise Refused(f"line has more than {MAX_VERTICES:,} vertices", "line", status=413)
    try:
        cut = shape(line)
    except (ValueError, TypeError, AttributeError, shapely.errors.GEOSException):
        raise Refused("line is not a valid LineString", "line") from None
    if cut.is_empty or not shapely.is_valid(cut) or len(cut.coords) < 2:
        raise Refused("line needs at least two distinct points", "line")
    row = conn.execute(text("SELECT version, ST_AsBinary(geom) FROM grid WHERE code = :c AND valid_to IS NULL"),
                       {"c": code}).first()
    if row is None:
        raise NotFound(f"no current grid {code}")
    polygon = shapely.from_wkb(bytes(row[1]))
    pieces = sorted(split(polygon, cut).geoms, key=lambda g: g.area, reverse=True)
    if len(pieces) < 2:
        raise Refused("the line must cross the grid from one edge to another", "line")
    entries = [{"code": code, "version": row[0], "geometry": mapping(pieces[0])}]
    entries += [{"key": f"new-{i}", "geometry": mapping(p)} for i, p in enumerate(pieces[1:], start=1)]
    return {"grids": entries + _neighbours_with(conn, code, polygon, pieces)}


def _neighbours_with(conn: Connection, code: str, polygon, pieces) -> list[dict]:
    """Where the line meets the grid's outline, neighbours get the same new vertex: a coverage's shared
    edges must have the same vertices on both sides (so the edit leaves no invalid edge)."""
    old = {tuple(c) for c in shapely.get_coordinates(polygon)}
    new = [c for c in shapely.get_coordinates(shapely.GeometryCollection(pieces)) if tuple(c) not in old]
    if not new:
        return []
    crossings = shapely.multipoints(new)
    rows = conn.execute(text(
        "SELECT code, version, ST_AsBinary(geom) FROM grid WHERE valid_to IS NULL AND code <> :c "
        "AND subpath(path, 0, nlevel(path) - 1) = subpath(CAST(:c AS ltree), 0, nlevel(CAST(:c AS ltree)) - 1) "
        "AND geom && ST_GeomFromWKB(:box, 4326)"), {"c": code, "box": shapely.to_wkb(polygon.envelope)}).all()
    out = []
    for other, version, wkb in rows:
        shape_ = shapely.from_wkb(bytes(wkb))
        snapped = shapely.snap(shape_, crossings, 1e-9)
        if shapely.get_num_coordinates(snapped) != shapely.get_num_coordinates(shape_):
            out.append({"code": other, "version": version, "geometry": mapping(snapped)})
    return out
