"""Geometry checks and conversion: each row's shape is the right type, finite, in range and valid in WGS 84."""
from __future__ import annotations

from collections import defaultdict

import numpy as np
import pyproj
import shapely

from data import crs as crs_module
from data.loaders.checks import Problems

ROUND_TRIP = 1.0  # CRS units (metres, feet): a converted vertex must project back this close
EXPECTED = {"point": ("Point",), "polygon": ("Polygon", "MultiPolygon")}
_TYPE_NAMES = {"point": "a Point", "polygon": "a Polygon or MultiPolygon"}
_NAMES = np.array(["None", "Point", "LineString", "LinearRing", "Polygon", "MultiPoint", "MultiLineString",
                   "MultiPolygon", "GeometryCollection"], dtype=object)


def _is_geographic(source: str | pyproj.CRS) -> bool:
    return isinstance(source, str) or source.is_geographic


def _range_reason(bounds: np.ndarray, where: str) -> str | None:
    """Why lon/lat bounds (xmin, ymin, xmax, ymax) are not on the globe, or None."""
    xmin, ymin, xmax, ymax = bounds
    if not np.all(np.isfinite(bounds)):
        return "coordinates cannot be converted to WGS 84 (outside the source CRS's valid range?)"
    if ymin < -90 or ymax > 90:
        lat = ymax if ymax > 90 else ymin
        swapped = " (lon/lat swapped?)" if -90 <= xmin and xmax <= 90 and -180 <= ymin and ymax <= 180 else ""
        return f"latitude {lat:g} out of range [-90, 90]{where}{swapped}"
    if xmin < -180 or xmax > 180:
        return f"longitude {xmax if xmax > 180 else xmin:g} out of range [-180, 180]{where}"
    return None


def _to_wgs84(geoms: np.ndarray, source: str | pyproj.CRS) -> np.ndarray:
    """Every vertex in WGS 84; a projected vertex that does not come back within 1 unit becomes inf."""
    def convert(coords: np.ndarray) -> np.ndarray:
        lon, lat = crs_module.to_wgs84(coords[:, 0], coords[:, 1], source)
        if isinstance(source, pyproj.CRS) and source.is_projected:
            # far outside its zone a projection still returns numbers, just wrong ones: the inverse exposes them
            x, y = crs_module.from_wgs84(lon, lat, source)
            with np.errstate(invalid="ignore"):
                lost = ~(np.abs(x - coords[:, 0]) <= ROUND_TRIP) | ~(np.abs(y - coords[:, 1]) <= ROUND_TRIP)
            lon, lat = np.where(lost, np.inf, lon), np.where(lost, np.inf, lat)
        return np.column_stack((lon, lat))
    return shapely.transform(geoms, convert)


def _on_globe(bounds: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return (np.isfinite(bounds).all(axis=1) & (bounds[:, 0] >= -180) & (bounds[:, 2] <= 180)
                & (bounds[:, 1] >= -90) & (bounds[:, 3] <= 90))


def _first_problem(geom, type_name: str, expected: str, has_nan: bool, bounds: np.ndarray,
                   geographic: bool) -> str | None:
    """Why a geometry cannot even be converted, checked in the order a person would fix them."""
    if geom is None:
        return "missing or unreadable geometry"
    if shapely.is_empty(geom):
        return "empty geometry"
    if type_name not in EXPECTED[expected]:
        return f"geometry must be {_TYPE_NAMES[expected]}, got {type_name}"
    if has_nan:
        return "coordinates are not numbers (NaN)"
    return _range_reason(bounds, "") if geographic else None


def check_geometries(geoms: np.ndarray, expected: str, source: str | pyproj.CRS,
                     skip: Problems) -> tuple[np.ndarray, Problems]:
    """WGS 84 geometries (polygons as MultiPolygon) and a reason for each bad one; rows in `skip` are not examined."""
    problems: Problems = defaultdict(list)
    geoms = shapely.force_2d(np.asarray(geoms, dtype=object))
    if len(geoms) == 0:
        return geoms, problems
    type_names = _NAMES[shapely.get_type_id(geoms) + 1]  # -1 (None) -> "None"
    coords, index = shapely.get_coordinates(geoms, return_index=True)
    has_nan = np.bincount(index[np.isnan(coords).any(axis=1)], minlength=len(geoms)) > 0
    geographic = _is_geographic(source)
    source_bounds = shapely.bounds(geoms)
    clean = (~shapely.is_missing(geoms) & ~shapely.is_empty(geoms) & np.isin(type_names, EXPECTED[expected])
             & ~has_nan & (_on_globe(source_bounds) if geographic else True))
    clean[list(skip)] = False
    for pos in np.flatnonzero(~clean).tolist():
        if pos not in skip and (reason := _first_problem(geoms[pos], type_names[pos], expected, has_nan[pos],
                                                          source_bounds[pos], geographic)):
            problems[pos].append(reason)
    candidates = np.flatnonzero(clean)
    wgs = np.full(len(geoms), None, dtype=object)
    wgs[candidates] = _to_wgs84(geoms[candidates], source)
    bounds = shapely.bounds(wgs[candidates])
    fine = _on_globe(bounds) & shapely.is_valid(wgs[candidates])
    where = "" if isinstance(source, str) and source == crs_module.WGS84 else " after conversion to WGS 84"
    for i in np.flatnonzero(~fine):
        pos = int(candidates[i])
        reason = _range_reason(bounds[i], where) or f"invalid geometry: {shapely.is_valid_reason(wgs[pos])}"
        problems[pos].append(reason)
    if expected == "polygon":
        single = shapely.get_type_id(wgs) == 3
        wgs[single] = [shapely.MultiPolygon([g]) for g in wgs[single]]
    return wgs, problems
