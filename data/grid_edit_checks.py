"""Geometry checks of a boundary edit: each drawn shape valid, and the changed set tiling what it replaces.

Pure shapely, no database: `data.grid_edits` loads the grids and calls these. Checks run in the local
UTM zone (metres), so tolerances mean the same everywhere; snapped shapes go back to WGS 84 with a
neighbour's own coordinates wherever they were snapped to it, so shared edges stay bit-identical.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pyproj
import shapely
import shapely.geometry
from shapely.geometry.base import BaseGeometry

MAX_VERTICES = 5_000  # per grid; a hand-drawn cell has tens, a surveyed one a few hundred
SNAP_TOLERANCE_M = 0.5  # vertices closer than this are one vertex: hand-drawn edges leave no slivers
AREA_TOLERANCE_M2 = 1.0  # a gap or overlap smaller than this is rounding, not a hole in the map


@dataclass
class Problem:
    code: str
    message: str
    grid: str | None = None
    location: BaseGeometry | None = None  # WGS 84
    severity: str = "error"

    def as_json(self) -> dict:
        loc = shapely.geometry.mapping(self.location) if self.location is not None and not self.location.is_empty \
            else None
        return {"code": self.code, "severity": self.severity, "message": self.message, "grid": self.grid,
                "location": loc}


@dataclass
class Checked:
    """Shapes after snapping (WGS 84, MultiPolygon) by grid label, and every problem found."""

    shapes: dict[str, BaseGeometry] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)


def _rings(geojson: dict):
    polys = [geojson["coordinates"]] if geojson["type"] == "Polygon" else geojson["coordinates"]
    for poly in polys:
        yield from poly


_VALIDITY_CODES = (("Self-intersection", "self_intersection"), ("Ring Self-intersection", "ring_self_intersection"),
                   ("Hole lies outside shell", "hole_outside_shell"), ("Interior is disconnected", "disconnected"),
                   ("Nested holes", "nested_holes"), ("Too few points", "too_few_points"),
                   ("Nested shells", "nested_shells"))


def parse_shape(label: str, geojson, near: BaseGeometry | None) -> tuple[BaseGeometry | None, list[Problem]]:
    """One drawn GeoJSON geometry -> a valid WGS 84 MultiPolygon, or the problems that stop it."""
    if not isinstance(geojson, dict) or geojson.get("type") not in ("Polygon", "MultiPolygon"):
        kind = geojson.get("type") if isinstance(geojson, dict) else type(geojson).__name__
        return None, [Problem("wrong_type", f"a grid is a Polygon or MultiPolygon, got {kind}", label)]
    coords = geojson.get("coordinates")
    if not coords:
        return None, [Problem("empty", "the geometry is empty", label)]
    try:
        rings = [np.asarray(r, dtype=float) for r in _rings(geojson)]
        if any(r.ndim != 2 or r.shape[1] not in (2, 3) for r in rings):
            raise ValueError("positions must be [lon, lat]")
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        return None, [Problem("bad_request", f"not GeoJSON coordinates: {exc}", label)]
    if not rings or any(len(r) == 0 for r in rings):
        return None, [Problem("empty", "the geometry has an empty ring", label)]
    points = np.vstack([r[:, :2] for r in rings])
    if not np.isfinite(points).all():
        return None, [Problem("out_of_range", "coordinates must be finite numbers", label)]
    if len(points) > MAX_VERTICES:
        return None, [Problem("too_many_vertices", f"{len(points):,} vertices; a grid may have {MAX_VERTICES:,}",
                              label, shapely.Point(points[0]))]
    bad = (np.abs(points[:, 0]) > 180) | (np.abs(points[:, 1]) > 90)
    if bad.any():
        p = points[bad][0]
        swapped = near is not None and near.buffer(0.1).contains(shapely.Point(p[1], p[0]))
        return None, [Problem("swapped" if swapped else "out_of_range",
                              f"{p[0]:g} {p[1]:g} is not lon lat" + (" (lat, lon swapped?)" if swapped else ""),
                              label, shapely.Point(p[1], p[0]) if swapped else None)]
    for r in rings:
        if len(r) >= 2 and not np.array_equal(r[0, :2], r[-1, :2]):
            return None, [Problem("unclosed_ring", f"a ring ends at {r[-1, 0]:g} {r[-1, 1]:g}, not where it starts",
                                  label, shapely.Point(r[-1, :2]))]
        if len(r) < 4:
            return None, [Problem("too_few_points", "a ring needs at least 4 positions (closed)", label,
                                  shapely.Point(r[0, :2]))]
    shape = shapely.force_2d(shapely.geometry.shape(geojson))
    if shape.is_empty:
        return None, [Problem("empty", "the geometry is empty", label)]
    if near is not None and not shape.intersects(near):
        flipped = shapely.transform(shape, lambda xy: xy[:, ::-1])
        if flipped.intersects(near):
            return None, [Problem("swapped", "the shape lies where lat, lon would put it; swap the coordinates",
                                  label, flipped.centroid)]
    if not shape.is_valid:
        reason = shapely.is_valid_reason(shape)
        at = re.search(r"\[([-0-9.eE+]+) ([-0-9.eE+]+)\]", reason)
        code = next((c for text, c in reversed(_VALIDITY_CODES) if reason.startswith(text)), "invalid_geometry")
        return None, [Problem(code, f"invalid geometry: {reason}", label,
                              shapely.Point(float(at[1]), float(at[2])) if at else None)]
    return _multi(shape), []


def _multi(g: BaseGeometry) -> BaseGeometry:
    if g.geom_type == "Polygon":
        return shapely.MultiPolygon([g])
    if g.geom_type == "MultiPolygon":
        return g
    return shapely.MultiPolygon([p for p in getattr(g, "geoms", []) if p.geom_type == "Polygon"])


class _Local:
    """WGS 84 <-> the UTM zone of a point, remembering the original coordinates of every known vertex."""

    def __init__(self, lon: float, lat: float):
        zone = int((lon + 180) // 6) + 1
        utm = pyproj.CRS.from_epsg((32600 if lat >= 0 else 32700) + zone)
        self.fwd = pyproj.Transformer.from_crs(4326, utm, always_xy=True)
        self.inv = pyproj.Transformer.from_crs(utm, 4326, always_xy=True)
        self.known: dict[tuple[float, float], tuple[float, float]] = {}

    def to_m(self, g: BaseGeometry, remember: bool = False) -> BaseGeometry:
        def fwd(xy):
            x, y = self.fwd.transform(xy[:, 0], xy[:, 1])
            out = np.column_stack([x, y])
            if remember:
                self.known.update(zip(map(tuple, out.tolist()), map(tuple, xy.tolist())))
            return out
        return shapely.transform(g, fwd)

    def to_deg(self, g: BaseGeometry) -> BaseGeometry:
        def inv(xy):
            x, y = self.inv.transform(xy[:, 0], xy[:, 1])
            out = np.column_stack([x, y])
            for i, key in enumerate(map(tuple, xy.tolist())):
                if key in self.known:
                    out[i] = self.known[key]
            return out
        return shapely.transform(g, inv)


def check_tiling(drawn: dict[str, BaseGeometry], replaced: list[BaseGeometry], untouched: dict[str, BaseGeometry],
                 parent: BaseGeometry) -> Checked:
    """Snap the drawn shapes to their neighbours and check they tile exactly what `replaced` covered.

    `drawn`: label -> valid WGS 84 shape (changed and new grids); `replaced`: the current shapes of the
    changed and retired grids; `untouched`: the current siblings not in the edit.
    """
    out = Checked()
    c = parent.centroid
    local = _Local(c.x, c.y)
    old_m = [local.to_m(g, remember=True) for g in replaced]
    near_m = {k: local.to_m(g, remember=True) for k, g in untouched.items()}
    parent_m = local.to_m(parent, remember=True)
    reference = shapely.GeometryCollection([*old_m, *near_m.values()])
    snapped_m: dict[str, BaseGeometry] = {}
    for label, g in drawn.items():
        ref = shapely.GeometryCollection([*reference.geoms, *snapped_m.values()])
        s = _multi(shapely.snap(local.to_m(g), ref, SNAP_TOLERANCE_M))
        if not s.is_valid or s.is_empty:
            reason = shapely.is_valid_reason(s)
            out.problems.append(Problem("invalid_geometry", f"invalid after snapping to neighbours within "
                                        f"{SNAP_TOLERANCE_M} m: {reason}", label, g.representative_point()))
            continue
        snapped_m[label] = s
    if len(snapped_m) < len(drawn):
        return out
    for label, s in snapped_m.items():
        out.shapes[label] = _multi(local.to_deg(s))
        if not out.shapes[label].is_valid:  # a vertex within rounding of an edge can cross it on the way back
            out.problems.append(Problem("invalid_geometry", "invalid in WGS 84 after snapping: "
                                        + shapely.is_valid_reason(out.shapes[label]), label,
                                        drawn[label].representative_point()))
    if out.problems:
        return out
    old_union = shapely.union_all(old_m)
    new_union = shapely.union_all(list(snapped_m.values()))
    for piece in _pieces(shapely.difference(old_union, new_union)):
        out.problems.append(Problem("gap", f"{piece.area:,.1f} m² that was covered is left out of every grid",
                                    _owner(piece, snapped_m), local.to_deg(piece)))
    for piece in _pieces(shapely.difference(new_union, old_union)):
        outside = shapely.difference(piece, parent_m)
        if outside.area > AREA_TOLERANCE_M2:
            out.problems.append(Problem("outside_parent", f"{outside.area:,.1f} m² lies outside the parent grid",
                                        _owner(piece, snapped_m), local.to_deg(outside)))
        else:
            neighbour = next((k for k, g in near_m.items() if g.intersection(piece).area > AREA_TOLERANCE_M2), None)
            out.problems.append(Problem("overlap", f"{piece.area:,.1f} m² overlaps "
                                        + (f"grid {neighbour}" if neighbour else "a grid outside the edit"),
                                        _owner(piece, snapped_m), local.to_deg(piece)))
    labels = list(snapped_m)
    tree = shapely.STRtree([snapped_m[k] for k in labels])
    for i, j in zip(*tree.query([snapped_m[k] for k in labels], predicate="intersects")):
        if i < j:
            inter = shapely.intersection(snapped_m[labels[i]], snapped_m[labels[j]])
            for piece in _pieces(inter):
                out.problems.append(Problem("overlap", f"{piece.area:,.1f} m² is in both {labels[i]} and {labels[j]}",
                                            labels[i], local.to_deg(piece)))
    if not out.problems:
        names = labels + list(near_m)
        edges = shapely.coverage_invalid_edges(np.array([*snapped_m.values(), *near_m.values()]), gap_width=0.0)
        for name, edge in zip(names, edges):
            if edge is not None and not edge.is_empty:
                out.problems.append(Problem("invalid_edge", "an edge does not match its neighbour's vertex for vertex",
                                            name, local.to_deg(edge)))
    return out


def _pieces(g: BaseGeometry) -> list[BaseGeometry]:
    parts = getattr(g, "geoms", [g])
    return [p for p in parts if p.geom_type in ("Polygon", "MultiPolygon") and p.area > AREA_TOLERANCE_M2]


def _owner(piece: BaseGeometry, shapes: dict[str, BaseGeometry]) -> str | None:
    return min(shapes, key=lambda k: shapes[k].distance(piece), default=None)

