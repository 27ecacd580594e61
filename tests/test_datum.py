"""Overlays in a basemap's datum: `?datum=gcj02` tiles line up with AMap/Tencent, the API's `crs=gcj02` markers
land on the same tile pixel, and the per-tile affine stays within the error measured here."""
from __future__ import annotations

import gzip
import math

import mapbox_vector_tile
import numpy as np
import pytest
from sqlalchemy import text

from data import crs
from data.errors import ConfigError
from data.settings import Settings
from layers.datum import cell_boxes, envelope, fit, gcj02_to_true_mercator
from layers.tiles import EXTENT

DEMO_CITY = (103.75, 36.06)
MERCATOR = 20037508.342789244


def tile_units(lon: float, lat: float, z: int) -> tuple[int, int, float, float]:
    """The tile holding a lon/lat at zoom z, and the point's position in it (tile units, y down)."""
    n = 1 << z
    fx = (lon + 180) / 360 * n
    fy = (1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n
    x, y = int(fx), int(fy)
    return x, y, (fx - x) * EXTENT, (fy - y) * EXTENT


def affine_error(box: tuple[float, float, float, float], unit: float, samples: int = 33) -> float:
    """The largest distance, in tile units, between the affine fitted over the box (GCJ-02 Web Mercator) and
    the exact conversion, at samples x samples points of the box taken back exactly to their true places."""
    a, b, d, e, xoff, yoff = fit(*box)
    x0, y0, x1, y1 = box
    gx, gy = (g.ravel() for g in np.meshgrid(np.linspace(x0, x1, samples), np.linspace(y0, y1, samples)))
    tx, ty = gcj02_to_true_mercator(gx, gy)
    return float(np.hypot(a * tx + b * ty + xoff - gx, d * tx + e * ty + yoff - gy).max() / unit)


# Measured over the 3 x 3 tiles around the demo city: the table in layers/datum.py. Rule: points (one affine
# per 8 x 8 cell) within half a tile unit at every zoom; lines and polygons (one affine per tile) within half
# a unit from z14 on, and below within 4 units, i.e. a quarter of a screen pixel of a 256-pixel tile.
@pytest.mark.parametrize("z", range(8, 19))
def test_the_affines_follow_gcj02_within_the_measured_error(z):
    cx, cy, _, _ = tile_units(*DEMO_CITY, z)
    tiles = [(z, cx + dx, cy + dy) for dx in (-1, 0, 1) for dy in (-1, 0, 1)]
    unit = (envelope(*tiles[0])[2] - envelope(*tiles[0])[0]) / EXTENT
    whole = max(affine_error(envelope(*t), unit) for t in tiles)
    per_cell = max(affine_error(box, unit, 9) for t in tiles for box in cell_boxes(*t))
    print(f"z{z}: whole tile {whole:.2f}, 8 x 8 cells {per_cell:.2f} tile units")
    assert per_cell < 0.5
    assert whole < (0.5 if z >= 14 else 4.0)


def decode(response) -> dict:
    if response.status_code == 204:
        return {}
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.data
    if response.headers.get("Content-Encoding") == "gzip":
        body = gzip.decompress(body)
    return mapbox_vector_tile.decode(body, default_options={"y_coord_down": True})


def feature_at(client, layer: str, lon: float, lat: float, z: int, ident: int, **query):
    """(expected tile units of lon/lat, drawn tile units of feature `ident`) in the tile holding lon/lat."""
    x, y, ux, uy = tile_units(lon, lat, z)
    decoded = decode(client.get(f"/tiles/{layer}/{z}/{x}/{y}.pbf", query_string=query))
    drawn = [f["geometry"]["coordinates"] for f in decoded.get(layer, {}).get("features", [])
             if f["properties"].get("id") == ident]
    assert drawn, f"{layer} {ident} missing from {z}/{x}/{y} {query}"
    return (ux, uy), tuple(drawn[0])


@pytest.fixture(scope="module")
def place(city_engine):
    """A place near the middle of the city: id, WGS 84 lon/lat."""
    with city_engine.connect() as conn:
        return conn.execute(text(
            "SELECT p.id, ST_X(p.geom), ST_Y(p.geom) FROM place p, "
            "(SELECT ST_PointOnSurface(geom) AS c FROM grid WHERE level = 'district') d "
            "ORDER BY p.geom <-> d.c LIMIT 1")).one()


@pytest.mark.parametrize("z", range(12, 19))
def test_a_pin_moves_by_the_gcj02_offset(client, place, z):
    ident, lon, lat = place
    (glon,), (glat,) = crs.wgs84_to_gcj02([lon], [lat])
    expected, drawn = feature_at(client, "places", float(glon), float(glat), z, ident, datum="gcj02")
    assert math.dist(expected, drawn) <= 1.0, (expected, drawn)
    # and the shift is real: hundreds of metres near the demo city, many units from z12 on
    true_x, true_y, tux, tuy = tile_units(lon, lat, z)
    gx, gy, gux, guy = tile_units(float(glon), float(glat), z)
    assert math.dist((true_x * EXTENT + tux, true_y * EXTENT + tuy), (gx * EXTENT + gux, gy * EXTENT + guy)) > 50


@pytest.mark.parametrize("datum", [None, "wgs84", "cgcs2000", "WGS84"])
def test_wgs84_and_cgcs2000_tiles_are_unchanged(client, place, datum):
    ident, lon, lat = place
    query = {"datum": datum} if datum else {}
    expected, drawn = feature_at(client, "places", lon, lat, 16, ident, **query)
    assert math.dist(expected, drawn) <= 1.0
    x, y, _, _ = tile_units(lon, lat, 16)
    plain = client.get(f"/tiles/places/16/{x}/{y}.pbf")
    assert client.get(f"/tiles/places/16/{x}/{y}.pbf", query_string=query).data == plain.data


@pytest.mark.parametrize("datum", ["bd09", "gcj-02", "epsg:4326", ""])
def test_an_unknown_datum_is_400_naming_the_allowed_ones(client, datum):
    if datum == "":  # empty means the default
        assert client.get("/tiles/places/16/51000/25000.pbf?datum=").status_code in (200, 204)
        return
    response = client.get(f"/tiles/places/16/51000/25000.pbf?datum={datum}")
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["field"] == "datum" and all(d in error["reason"] for d in ("wgs84", "cgcs2000", "gcj02"))
    assert client.get(f"/tiles/places.json?datum={datum}").status_code == 400


def test_the_etag_differs_per_datum(client, place):
    ident, lon, lat = place
    x, y, _, _ = tile_units(lon, lat, 14)
    tags = {d: client.get(f"/tiles/places/14/{x}/{y}.pbf?datum={d}").headers["ETag"]
            for d in ("wgs84", "cgcs2000", "gcj02")}
    assert len(set(tags.values())) == 3
    again = client.get(f"/tiles/places/14/{x}/{y}.pbf?datum=gcj02", headers={"If-None-Match": tags["gcj02"]})
    assert again.status_code == 304
    moved = client.get(f"/tiles/places/14/{x}/{y}.pbf?datum=wgs84", headers={"If-None-Match": tags["gcj02"]})
    assert moved.status_code in (200, 204)


def test_tilejson_carries_the_datum_in_its_tile_urls(client):
    assert client.get("/tiles/events.json?datum=gcj02").get_json()["tiles"][0].endswith("/{z}/{x}/{y}.pbf?datum=gcj02")
    assert client.get("/tiles/events.json").get_json()["tiles"][0].endswith("/{z}/{x}/{y}.pbf")


@pytest.mark.parametrize("z", [17, 18])
def test_an_api_marker_in_gcj02_lands_on_the_tile_features_pixel(client, z):
    page = client.get("/api/events?crs=gcj02&sort=-reported_at&limit=3").get_json()
    assert page["features"]
    for feature in page["features"]:
        glon, glat = feature["geometry"]["coordinates"]
        expected, drawn = feature_at(client, "events", glon, glat, z, feature["id"], datum="gcj02")
        assert math.dist(expected, drawn) <= 1.0, (feature["id"], expected, drawn)


def test_identify_takes_and_answers_gcj02(client, place):
    ident, lon, lat = place
    (glon,), (glat,) = crs.wgs84_to_gcj02([lon], [lat])
    found = client.get(f"/api/identify?lon={glon}&lat={glat}&layers=places&radius=5&crs=gcj02").get_json()
    hit = [f for f in found["features"] if f["properties"]["id"] == ident]
    assert hit and math.dist(hit[0]["geometry"]["coordinates"], (glon, glat)) < 1e-7
    plain = client.get(f"/api/identify?lon={glon}&lat={glat}&layers=places&radius=5").get_json()
    assert ident not in [f["properties"]["id"] for f in plain["features"]]  # hundreds of metres off
    bad = client.get(f"/api/identify?lon={glon}&lat={glat}&crs=nonsense")
    assert bad.status_code == 400 and bad.get_json()["error"]["field"] == "crs"


def test_the_basemap_is_configured_from_the_environment():
    assert Settings.from_env({}).basemap_url == ""
    s = Settings.from_env({"MINQING_BASEMAP_URL": "https://wprd0{s}.is.autonavi.com/appmaptile?x={x}&y={y}&z={z}",
                           "MINQING_BASEMAP_ATTRIBUTION": "© 高德地图", "MINQING_BASEMAP_DATUM": "GCJ02",
                           "MINQING_BASEMAP_MAXZOOM": "18"})
    assert (s.basemap_datum, s.basemap_maxzoom, s.basemap_attribution) == ("gcj02", 18, "© 高德地图")
    with pytest.raises(ConfigError, match="MINQING_BASEMAP_DATUM"):
        Settings.from_env({"MINQING_BASEMAP_DATUM": "bd09"})
    with pytest.raises(ConfigError, match="MINQING_BASEMAP_URL"):
        Settings.from_env({"MINQING_BASEMAP_URL": "https://example.com/tiles.png"})
    with pytest.raises(ConfigError):
        Settings.from_env({"MINQING_BASEMAP_MAXZOOM": "many"})


def test_api_basemap_default_is_none_and_a_gcj02_basemap_asks_for_gcj02_overlays(client, city_engine):
    assert client.get("/api/basemap").get_json() == {
        "url": None, "attribution": "", "datum": "wgs84", "maxzoom": 18, "tiles_datum": "wgs84", "api_crs": "wgs84"}
    from mapserver import create_app

    url = city_engine.url.render_as_string(hide_password=False)
    amap = Settings(database_url=url, basemap_url="https://example.invalid/{z}/{x}/{y}.png", basemap_datum="gcj02",
                    basemap_attribution="© AMap")
    body = create_app(amap, {"TESTING": True, "MINQING_DEMO_LOGIN": True}).test_client().get("/api/basemap").get_json()
    assert body["url"].endswith("{z}/{x}/{y}.png") and body["tiles_datum"] == body["api_crs"] == "gcj02"
