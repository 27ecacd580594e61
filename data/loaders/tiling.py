"""Grids tile their parents: each lies within its parent, siblings do not overlap, and gaps are reported.

Runs in the load's transaction after the reference checks, on the rows nothing else rejected, so a
parent is judged before its children and a rejected parent takes its subtree with it. Shapes are
compared in the UTM zone of the parent's centre (a top-level grid: its own centre), so the tolerance
is in metres whatever CRS the file came in.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd
import pyproj
import shapely

from data import crs as crs_module
from data.loaders.checks import Problems

TOLERANCE = 0.05  # metres: an overhang, overlap or gap no wider than this is drawing noise, not a shape error
# Edges are straight in lon/lat (as PostGIS compares them) but curve in UTM: a 10 km edge bows ~1 m off its
# projected chord. Vertices every 0.001 degrees (~100 m) keep that under a millimetre before projecting.
_DENSIFY = 0.001


@dataclass(frozen=True)
class _Grid:
    code: str
    geom: shapely.Geometry  # WGS 84
    pos: int | None = None  # position in the file; None for a current grid of the ledger

    @property
    def named(self) -> str:
        return f"current grid {self.code}" if self.pos is None else f"{self.code} (row {self.pos + 1})"


def _parent_code(code: str) -> str | None:
    return code.rpartition(".")[0] or None


@lru_cache(maxsize=None)
def _utm(epsg: int) -> pyproj.CRS:
    return pyproj.CRS.from_epsg(epsg)


def _zone(geom: shapely.Geometry) -> int:
    """EPSG code of the WGS 84 UTM zone holding the centre of `geom`."""
    centre = shapely.centroid(geom)
    zone = min(int((centre.x + 180) // 6) + 1, 60)
    return (32600 if centre.y >= 0 else 32700) + zone


def _metric(geoms: list[shapely.Geometry], epsg: int) -> np.ndarray:
    def convert(coords: np.ndarray) -> np.ndarray:
        return np.column_stack(crs_module.from_wgs84(coords[:, 0], coords[:, 1], _utm(epsg)))
    return shapely.transform(shapely.segmentize(np.asarray(geoms, dtype=object), _DENSIFY), convert)


def _wider(geom: shapely.Geometry) -> bool:
    """Whether some part of `geom` is wider than TOLERANCE: eroding it by half of it leaves something."""
    return not shapely.is_empty(shapely.buffer(geom, -TOLERANCE / 2))


def _m2(area: float) -> str:
    return f"{area:.0f} m²" if area >= 1 else f"{area:.2f} m²"


def _ledger(cursor, where: str, value) -> list[_Grid]:
    cursor.execute(f"SELECT code, ST_AsBinary(geom) FROM grid WHERE valid_to IS NULL AND ({where})", (value,))
    return [_Grid(code, shapely.from_wkb(bytes(wkb))) for code, wkb in cursor.fetchall()]


def _overhang(child: shapely.Geometry, parent: shapely.Geometry) -> str | None:
    """How far a (metric) child sticks out of its (metric, prepared) parent, or None within the tolerance."""
    if shapely.covers(parent, child):
        return None
    outside = shapely.difference(child, parent)
    if not _wider(outside):
        return None
    reach = shapely.distance(shapely.points(shapely.get_coordinates(outside)), parent).max()
    return f"by {_m2(outside.area)}, up to {reach:.2f} m"


def _overlaps(members: list[_Grid], epsg: int | None) -> list[tuple[_Grid, _Grid, float]]:
    """Pairs of siblings, at least one from the file, whose overlap is wider than TOLERANCE, with its area.

    `members` lists the file's grids first; `epsg` None (top-level grids) measures each pair in its
    own zone, as top-level grids of one ledger may lie far apart.
    """
    if len(members) < 2:
        return []
    wgs = np.array([m.geom for m in members], dtype=object)
    pairs = shapely.STRtree(wgs).query(wgs, predicate="intersects")
    metric = _metric(wgs, epsg) if epsg else None
    found = []
    for i, j in zip(*pairs.tolist()):
        if i >= j or members[i].pos is None:
            continue
        a, b = (metric[i], metric[j]) if metric is not None else _metric([wgs[i], wgs[j]], _zone(wgs[i]))
        shared = shapely.intersection(a, b)
        if _wider(shared):
            found.append((members[i], members[j], shared.area))
    return found


def check_tiling(cursor, rows: pd.DataFrame, geoms: np.ndarray, problems: Problems) -> tuple[Problems, list[str]]:
    """Rejects for grids outside their parent or overlapping a sibling; a warning per parent left with a gap.

    Rows with `problems` already are left alone. Gaps are not errors: a file may bring only some of
    a parent's children.
    """
    found: Problems = defaultdict(list)
    warnings: list[str] = []
    rejected = {pos for pos, reasons in problems.items() if reasons}
    good = {code: _Grid(code, geoms[pos], pos) for pos, code in zip(rows.index, rows.code) if pos not in rejected}
    families: dict[str | None, list[_Grid]] = defaultdict(list)
    for grid in good.values():
        families[_parent_code(grid.code)].append(grid)
    wanted = sorted(p for p in families if p is not None and p not in good)
    in_ledger = {g.code: g for g in _ledger(cursor, "code = ANY(%s)", wanted)}
    siblings: dict[str | None, list[_Grid]] = defaultdict(list)
    lqueries = [f"{p}.*{{1}}" for p in families if p is not None]
    for grid in _ledger(cursor, "path ? %s::lquery[]" + (" OR nlevel(path) = 1" if None in families else ""),
                        lqueries):
        siblings[_parent_code(grid.code)].append(grid)

    def reject(grid: _Grid, reason: str) -> None:
        found[grid.pos].append(reason)
        rejected.add(grid.pos)

    for parent_code in sorted(families, key=lambda p: -1 if p is None else p.count(".")):  # parents first
        children = families[parent_code]
        parent = good.get(parent_code) or in_ledger.get(parent_code)
        if parent_code is not None and (parent is None or parent.pos in rejected):
            for child in children:
                reject(child, f"parent grid {parent_code} is rejected")
            continue
        epsg = _zone(parent.geom) if parent else None
        if parent:
            parent_m, *children_m = _metric([parent.geom] + [c.geom for c in children], epsg)
            shapely.prepare(parent_m)
            for child, child_m in zip(children, children_m):
                if overhang := _overhang(child_m, parent_m):
                    reject(child, f"grid {child.code} sticks out of its parent {parent_code} {overhang} "
                                  f"(tolerance {TOLERANCE:g} m)")
        members = [c for c in children if c.pos not in rejected] + siblings[parent_code]
        for a, b, area in _overlaps(members, epsg):
            reason = f"{a.named} and {b.named} overlap by {_m2(area)} (tolerance {TOLERANCE:g} m)"
            for grid in (a, b):
                if grid.pos is not None:
                    reject(grid, reason)
        kept = [m for m in members if m.pos not in rejected]
        if parent and any(m.pos is not None for m in kept):
            uncovered = shapely.difference(parent_m, shapely.union_all(_metric([m.geom for m in kept], epsg)))
            if _wider(uncovered):
                warnings.append(f"children of {parent_code} leave {_m2(uncovered.area)} of it uncovered")
    return found, warnings
