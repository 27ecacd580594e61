"""Geometry checks and conversion: each row's shape is the right type, finite, in range and valid in WGS 84."""
from __future__ import annotations

from collections import defaultdict

import numpy as np
import pyproj
import shapely

from data import crs as crs_module
from data.loaders.checks import Problems

EXPECTED = {"point": ("Point",), "polygon": ("Polygon", "MultiPolygon")}
_TYPE_NAMES = {"point": "a Point", "polygon": "a Polygon or MultiPolygon"}


def _is_geographic(source: str | pyproj.CRS) -> bool:
    return isinstance(source, str) or source.is_geographic


def _range_reason(bounds: np.ndarray, where: str) -> str | None:
    """Why lon/lat bounds (xmin, ymin, xmax, ymax) are not on the globe, or None."""
    xmin, ymin, xmax, ymax = bounds
    if not np.all(np.isfinite(bounds)):
        return f"coordinates cannot be converted to WGS 84 {where}"
    if ymin < -90 or ymax > 90:
        lat = ymax if ymax > 90 else ymin
        swapped = " (lon/lat swapped?)" if -90 <= xmin and xmax <= 90 and -180 <= ymin and ymax <= 180 else ""
        return f"latitude {lat:g} out of range [-90, 90]{where}{swapped}"
    if xmin < -180 or xmax > 180:
        return f"longitude {xmax if xmax > 180 else xmin:g} out of range [-180, 180]{where}"
    return None


def _to_wgs84(geoms: np.ndarray, source: str | pyproj.CRS) -> np.ndarray:
    def convert(coords: np.ndarray) -> np.ndarray:
        return np.column_stack(crs_module.to_wgs84(coords[:, 0], coords[:, 1], source))
    return shapely.transform(geoms, convert)


def check_geometries(geoms: np.ndarray, expected: str, source: str | pyproj.CRS,
                     skip: Problems) -> tuple[np.ndarray, Problems]:
    """WGS 84 geometries (polygons as MultiPolygon) and a reason for each bad one; rows in `skip` are not examined."""
    problems: Problems = defaultdict(list)
    geoms = shapely.force_2d(np.asarray(geoms, dtype=object))
    if len(geoms) == 0:
        return geoms, problems
    types = shapely.get_type_id(geoms)
    names = np.array(["Point", "LineString", "LinearRing", "Polygon", "MultiPoint", "MultiLineString",
                      "MultiPolygon", "GeometryCollection"], dtype=object)
    coords, index = shapely.get_coordinates(geoms, return_index=True)
    has_nan = np.bincount(index[np.isnan(coords).any(axis=1)], minlength=len(geoms)) > 0
    geographic = _is_geographic(source)
    source_bounds = shapely.bounds(geoms)
    wgs = np.full(len(geoms), None, dtype=object)
    candidates = []
    for pos, geom in enumerate(geoms):
        if pos in skip:
            continue
        if geom is None:
            problems[pos].append("missing or unreadable geometry")
        elif shapely.is_empty(geom):
            problems[pos].append("empty geometry")
        elif names[types[pos]] not in EXPECTED[expected]:
            problems[pos].append(f"geometry must be {_TYPE_NAMES[expected]}, got {names[types[pos]]}")
        elif has_nan[pos]:
            problems[pos].append("coordinates are not numbers (NaN)")
        elif geographic and (reason := _range_reason(source_bounds[pos], "")):
            problems[pos].append(reason)
        else:
            candidates.append(pos)
    if candidates:
        wgs[candidates] = _to_wgs84(geoms[candidates], source)
    where = "" if source == crs_module.WGS84 else " after conversion to WGS 84"
    for pos, bounds, valid, geom in zip(candidates, shapely.bounds(wgs[candidates]),
                                        shapely.is_valid(wgs[candidates]), wgs[candidates]):
        if reason := _range_reason(bounds, where):
            problems[pos].append(reason)
        elif not valid:
            problems[pos].append(f"invalid geometry: {shapely.is_valid_reason(geom)}")
    if expected == "polygon":
        single = shapely.get_type_id(wgs) == 3
        wgs[single] = [shapely.MultiPolygon([g]) for g in wgs[single]]
    return wgs, problems
