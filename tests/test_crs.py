"""data.crs: GCJ-02 / BD-09 against published vectors, round trips, EPSG codes, the China rule, errors."""
from __future__ import annotations

import numpy as np
import pyproj
import pytest

from data import crs
from data.errors import LedgerError


# Published vectors. wandergis/coordtransform, test/app.js (input 116.404, 39.915):
#   wgs84togcj02 -> 116.41024449916938, 39.91640428150164
#   gcj02tobd09  -> 116.41036949371029, 39.92133699351021
#   bd09togcj02  -> 116.39762729119315, 39.90865673957631   (one-step approximate inverse)
#   gcj02towgs84 -> 116.39775550083061, 39.91359571849836   (one-step approximate inverse)
# googollee/eviltransform, python test (wgs lat, lng -> gcj lat, lng): Shanghai, Shenzhen, Beijing.
WGS_TO_GCJ = [
    ((116.404, 39.915), (116.41024449916938, 39.91640428150164)),
    ((121.5272106, 31.1774276), (121.531541859215, 31.17530398364597)),
    ((113.912316, 22.543847), (113.9171764808363, 22.540796131694766)),
    ((116.377817, 39.911954), (116.38404722455657, 39.91334545536069)),
]


@pytest.mark.parametrize(("wgs", "gcj"), WGS_TO_GCJ)
def test_wgs84_to_gcj02_matches_published_vectors(wgs, gcj):
    lon, lat = crs.wgs84_to_gcj02(*wgs)
    assert abs(lon - gcj[0]) < 1e-9 and abs(lat - gcj[1]) < 1e-9


def test_gcj02_to_bd09_matches_published_vector():
    lon, lat = crs.gcj02_to_bd09(116.404, 39.915)
    assert abs(lon - 116.41036949371029) < 1e-9 and abs(lat - 39.92133699351021) < 1e-9


def test_iterated_inverses_agree_with_published_one_step_inverses_and_are_tighter():
    # the one-step formulas are ~1e-6 off; ours converge, so they agree to that and round-trip far better
    g_lon, g_lat = crs.bd09_to_gcj02(116.404, 39.915)
    assert abs(g_lon - 116.39762729119315) < 1e-6 and abs(g_lat - 39.90865673957631) < 1e-6
    w_lon, w_lat = crs.gcj02_to_wgs84(116.404, 39.915)
    assert abs(w_lon - 116.39775550083061) < 1e-6 and abs(w_lat - 39.91359571849836) < 1e-6
    back = crs.wgs84_to_gcj02(w_lon, w_lat)
    assert abs(back[0] - 116.404) < 1e-9 and abs(back[1] - 39.915) < 1e-9


@pytest.fixture(scope="module")
def china_points():
    rng = np.random.default_rng(20261122)
    return rng.uniform(73.0, 135.0, 20_000), rng.uniform(18.0, 53.0, 20_000)


def test_gcj02_round_trip_is_below_1e9_degrees(china_points):
    lon, lat = china_points
    g_lon, g_lat = crs.wgs84_to_gcj02(lon, lat)
    assert g_lon.shape == lon.shape
    assert np.abs(g_lon - lon).max() > 1e-3  # the offset is really applied (hundreds of metres)
    w_lon, w_lat = crs.gcj02_to_wgs84(g_lon, g_lat)
    assert np.abs(w_lon - lon).max() < 1e-9 and np.abs(w_lat - lat).max() < 1e-9


def test_bd09_round_trip_is_below_1e9_degrees(china_points):
    lon, lat = china_points
    w_lon, w_lat = crs.bd09_to_wgs84(*crs.wgs84_to_bd09(lon, lat))
    assert np.abs(w_lon - lon).max() < 1e-9 and np.abs(w_lat - lat).max() < 1e-9


def test_gcj02_is_identity_outside_the_china_rectangle():
    lon = np.array([2.35, -74.0, 72.0, 138.0, 100.0])  # Paris, New York, just west, just east, south of 0.8293
    lat = np.array([48.85, 40.7, 35.0, 35.0, 0.5])
    g_lon, g_lat = crs.wgs84_to_gcj02(lon, lat)
    assert np.array_equal(g_lon, lon) and np.array_equal(g_lat, lat)
    assert np.array_equal(crs.gcj02_to_wgs84(lon, lat)[0], lon)
    assert crs.in_china([72.004, 137.8347, 72.0039], [0.8293, 55.8271, 30.0]).tolist() == [True, True, False]


def test_nan_passes_through_as_nan():
    lon, lat = crs.gcj02_to_wgs84([np.nan, 116.4], [39.9, 39.9])
    assert np.isnan(lon[0]) and np.isfinite(lon[1])


@pytest.mark.parametrize("spelled", [4490, "4490", "EPSG:4490", "epsg:4490", "cgcs2000"])
def test_cgcs2000_spellings_resolve_to_epsg_4490(spelled):
    resolved = crs.resolve(spelled)
    assert isinstance(resolved, pyproj.CRS) and resolved.to_epsg() == 4490
    lon, lat = crs.to_wgs84(103.834, 36.061, spelled)
    assert abs(lon - 103.834) < 1e-6 and abs(lat - 36.061) < 1e-6  # CGCS2000 equals WGS 84 at map scale


@pytest.mark.parametrize("spelled", [None, "wgs84", "WGS84", 4326, "EPSG:4326", pyproj.CRS("OGC:CRS84")])
def test_wgs84_spellings_are_identity(spelled):
    assert crs.resolve(spelled) == crs.WGS84
    lon, lat = crs.to_wgs84([103.8], [36.0], spelled)
    assert lon.tolist() == [103.8] and lat.tolist() == [36.0]


def test_projected_gauss_kruger_zone_round_trips():
    # EPSG:4549 is CGCS2000 / 3-degree Gauss-Kruger CM 120E: false easting 500 km on the central meridian
    lon, lat = crs.to_wgs84([500000.0], [4_000_000.0], "EPSG:4549")
    assert abs(lon[0] - 120.0) < 1e-9 and 36.0 < lat[0] < 36.2
    x, y = crs.from_wgs84([120.5, 121.0], [36.1, 36.2], 4549)
    back_lon, back_lat = crs.to_wgs84(x, y, 4549)
    assert np.abs(back_lon - [120.5, 121.0]).max() < 1e-9 and np.abs(back_lat - [36.1, 36.2]).max() < 1e-9


@pytest.mark.parametrize("name", ["gcj02", "bd09"])
def test_to_and_from_wgs84_round_trip_for_web_map_coordinates(name):
    lon, lat = np.array([103.834, 116.404]), np.array([36.061, 39.915])
    x, y = crs.from_wgs84(lon, lat, name)
    assert np.abs(x - lon).min() > 1e-3  # a real offset, not identity
    back_lon, back_lat = crs.to_wgs84(x, y, name.upper())
    assert np.abs(back_lon - lon).max() < 1e-9 and np.abs(back_lat - lat).max() < 1e-9


@pytest.mark.parametrize(("bad", "says"), [
    ("mars", "unknown crs 'mars'"),
    (99999, "EPSG:99999 is not in the EPSG database"),
    ("EPSG:5773", "not a horizontal coordinate system"),
    (4490.0, "unknown crs 4490.0"),
])
def test_unknown_crs_is_a_ledger_error_with_a_clear_message(bad, says):
    with pytest.raises(crs.UnknownCRS) as caught:
        crs.to_wgs84([1.0], [1.0], bad)
    assert says in str(caught.value)
    assert isinstance(caught.value, LedgerError)
