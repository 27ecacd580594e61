"""The one place coordinates change reference system: EPSG codes via pyproj, GCJ-02 and BD-09 by formula.

Chinese web maps and phones (AMap, Tencent, WeChat) report GCJ-02; Baidu reports BD-09. Both are
converted to WGS 84 at the edge so nothing inside the system holds them.

GCJ-02 is only applied inside China, by the coarse rectangle most published implementations use:
72.004 <= lon <= 137.8347 and 0.8293 <= lat <= 55.8271 (it also covers some neighbouring countries;
the offset is applied there too, as the web maps do). Outside it GCJ-02 equals WGS 84. BD-09 is
applied on top of GCJ-02 everywhere.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Union

import numpy as np
import pyproj

from data.errors import LedgerError

WGS84 = "wgs84"
GCJ02 = "gcj02"
BD09 = "bd09"
CHINA_BOUNDS = (72.004, 0.8293, 137.8347, 55.8271)  # lon_min, lat_min, lon_max, lat_max

_A = 6378245.0  # Krasovsky 1940 semi-major axis, as the GCJ-02 formulas use it
_EE = 0.00669342162296594323  # its first eccentricity squared
_X_PI = np.pi * 3000.0 / 180.0  # BD-09's rotation constant
_TOLERANCE = 1e-10  # degrees (~0.01 mm): inverses iterate until a step is smaller than this
_MAX_STEPS = 30

CRSLike = Union[str, int, pyproj.CRS]
_ALIASES = {"wgs84": WGS84, "wgs-84": WGS84, "epsg:4326": WGS84, "4326": WGS84, "ogc:crs84": WGS84,
            "gcj02": GCJ02, "gcj-02": GCJ02, "bd09": BD09, "bd-09": BD09, "cgcs2000": "epsg:4490"}


class UnknownCRS(LedgerError):
    """A coordinate reference system we cannot convert from."""


def _arrays(x, y) -> tuple[np.ndarray, np.ndarray]:
    return np.asarray(x, dtype=float), np.asarray(y, dtype=float)


def in_china(lon, lat) -> np.ndarray:
    """Where GCJ-02 applies (the rectangle in the module docstring); NaN is outside."""
    lon, lat = _arrays(lon, lat)
    x0, y0, x1, y1 = CHINA_BOUNDS
    return (lon >= x0) & (lon <= x1) & (lat >= y0) & (lat <= y1)


def _gcj_offset(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The published GCJ-02 offset (degrees) at a WGS 84 point, without the China test."""
    x, y = lon - 105.0, lat - 35.0
    common = (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    t_lat = (-100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x)) + common
             + (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
             + (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y / 30.0 * np.pi)) * 2.0 / 3.0)
    t_lon = (300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x)) + common
             + (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
             + (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0)
    rad = np.radians(lat)
    magic = 1.0 - _EE * np.sin(rad) ** 2
    d_lat = t_lat * 180.0 / ((_A * (1.0 - _EE)) / (magic * np.sqrt(magic)) * np.pi)
    d_lon = t_lon * 180.0 / (_A / np.sqrt(magic) * np.cos(rad) * np.pi)
    return d_lon, d_lat


def wgs84_to_gcj02(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """WGS 84 -> GCJ-02 (identity outside China)."""
    lon, lat = _arrays(lon, lat)
    d_lon, d_lat = _gcj_offset(lon, lat)
    inside = in_china(lon, lat)
    return np.where(inside, lon + d_lon, lon), np.where(inside, lat + d_lat, lat)


def gcj02_to_wgs84(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """GCJ-02 -> WGS 84 by fixed-point iteration (the offset has no closed-form inverse); error < 1e-9 deg."""
    lon, lat = _arrays(lon, lat)
    inside = in_china(lon, lat)
    w_lon, w_lat = lon.copy(), lat.copy()
    for _ in range(_MAX_STEPS):
        d_lon, d_lat = _gcj_offset(w_lon, w_lat)
        n_lon, n_lat = lon - d_lon, lat - d_lat
        step = np.maximum(np.abs(n_lon - w_lon), np.abs(n_lat - w_lat))
        w_lon, w_lat = n_lon, n_lat
        if not np.any(step[inside] >= _TOLERANCE):
            break
    return np.where(inside, w_lon, lon), np.where(inside, w_lat, lat)


def gcj02_to_bd09(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """GCJ-02 -> BD-09 (Baidu's published rotation and shift)."""
    x, y = _arrays(lon, lat)
    z = np.sqrt(x * x + y * y) + 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) + 0.000003 * np.cos(x * _X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def bd09_to_gcj02(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """BD-09 -> GCJ-02: the published approximate inverse, refined by iteration to < 1e-9 deg."""
    b_lon, b_lat = _arrays(lon, lat)
    x, y = b_lon - 0.0065, b_lat - 0.006
    z = np.sqrt(x * x + y * y) - 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _X_PI)
    g_lon, g_lat = z * np.cos(theta), z * np.sin(theta)
    for _ in range(_MAX_STEPS):
        f_lon, f_lat = gcj02_to_bd09(g_lon, g_lat)
        e_lon, e_lat = f_lon - b_lon, f_lat - b_lat
        g_lon, g_lat = g_lon - e_lon, g_lat - e_lat
        if not np.any(np.maximum(np.abs(e_lon), np.abs(e_lat)) >= _TOLERANCE):
            break
    return g_lon, g_lat


def wgs84_to_bd09(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


def bd09_to_wgs84(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))


def resolve(crs: CRSLike | None) -> str | pyproj.CRS:
    """'wgs84', 'gcj02', 'bd09' or a pyproj CRS, from a name, an EPSG code (4490, '4490', 'EPSG:4549') or a CRS."""
    if crs is None:
        return WGS84
    if isinstance(crs, pyproj.CRS):
        return WGS84 if crs.to_epsg() == 4326 or crs.equals("OGC:CRS84") else crs
    if isinstance(crs, bool) or not isinstance(crs, (int, str)):
        raise UnknownCRS(f"unknown crs {crs!r}: give wgs84, gcj02, bd09 or an EPSG code such as 4490")
    key = str(crs).strip().lower()
    key = _ALIASES.get(key, key)
    if key in (WGS84, GCJ02, BD09):
        return key
    code = key[5:] if key.startswith("epsg:") else key
    if not code.isdigit():
        raise UnknownCRS(f"unknown crs {crs!r}: give wgs84, gcj02, bd09 or an EPSG code such as 4490")
    return _epsg(int(code), str(crs))


@lru_cache(maxsize=64)
def _epsg(code: int, spelled: str) -> str | pyproj.CRS:
    try:
        found = pyproj.CRS.from_epsg(code)
    except pyproj.exceptions.CRSError as exc:
        raise UnknownCRS(f"unknown crs {spelled!r}: EPSG:{code} is not in the EPSG database") from exc
    if not (found.is_geographic or found.is_projected):
        raise UnknownCRS(f"crs {spelled!r} ({found.name}) is not a horizontal coordinate system")
    return WGS84 if code == 4326 else found


@lru_cache(maxsize=64)
def _transformer(source: pyproj.CRS, target: pyproj.CRS) -> pyproj.Transformer:
    # always_xy: x is longitude/easting whatever axis order the EPSG definition declares
    return pyproj.Transformer.from_crs(source, target, always_xy=True)


_EPSG4326 = pyproj.CRS.from_epsg(4326)


def to_wgs84(x, y, crs: CRSLike | None) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates in `crs` (x = lon/easting) as WGS 84 lon/lat float arrays; points pyproj cannot map are inf."""
    source = resolve(crs)
    x, y = _arrays(x, y)
    if isinstance(source, pyproj.CRS):
        return _arrays(*_transformer(source, _EPSG4326).transform(x, y, errcheck=False))
    if source == GCJ02:
        return gcj02_to_wgs84(x, y)
    if source == BD09:
        return bd09_to_wgs84(x, y)
    return x.copy(), y.copy()


def from_wgs84(lon, lat, crs: CRSLike | None) -> tuple[np.ndarray, np.ndarray]:
    """WGS 84 lon/lat in `crs` (x first): for answers a Chinese web map or a local CRS expects."""
    target = resolve(crs)
    lon, lat = _arrays(lon, lat)
    if isinstance(target, pyproj.CRS):
        return _arrays(*_transformer(_EPSG4326, target).transform(lon, lat, errcheck=False))
    if target == GCJ02:
        return wgs84_to_gcj02(lon, lat)
    if target == BD09:
        return wgs84_to_bd09(lon, lat)
    return lon.copy(), lat.copy()
