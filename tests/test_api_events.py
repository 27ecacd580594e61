"""`/api/events` and `/api/events/search` against the tiny city, checked by independent counts."""
from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pytest
import shapely
from pyproj import Geod
from sqlalchemy import text

from data import crs as coordinates


@pytest.fixture(scope="module")
def events(city_engine) -> gpd.GeoDataFrame:
    return gpd.read_postgis(
        "SELECT e.id, e.category, e.status, e.reported_at, e.geom, g.code AS grid FROM event e "
        "JOIN grid g ON g.id = e.grid_id", city_engine, geom_col="geom")


def all_ids(client, path="/api/events", **query) -> list[int]:
    ids, query = [], {**query, "limit": 37}
    while True:
        body = client.get(path, query_string=query).get_json()
        ids += [f["id"] for f in body["features"]]
        if not body.get("cursor"):
            return ids
        query["cursor"] = body["cursor"]


def test_filters_match_an_independent_count(client, events):
    query = {"category": "noise,environment", "status": ["closed", "in_progress"], "from": "2026-03-01"}
    body = client.get("/api/events", query_string={**query, "limit": 1000}).get_json()
    expected = events[events.category.isin(["noise", "environment"]) & events.status.isin(["closed", "in_progress"])
                      & (events.reported_at >= "2026-02-28T16:00:00Z")]
    assert body["total"] == len(expected) > 0
    assert sorted(f["id"] for f in body["features"]) == sorted(expected.id)
    times = [f["properties"]["reported_at"] for f in body["features"]]
    assert times == sorted(times, reverse=True)  # newest first by default


def test_a_grid_code_means_its_whole_subtree(client, events):
    community = events.grid.str.rsplit(".", n=1).str[0].iloc[0]
    body = client.get("/api/events", query_string={"grid": community, "limit": 1}).get_json()
    assert body["total"] == events.grid.str.startswith(community + ".").sum() > 0


def test_near_is_in_metres_on_the_ellipsoid(client, events):
    centre = events.geom.iloc[0]
    radius = 300.0
    body = client.get("/api/events", query_string={"near": f"{centre.x},{centre.y}", "radius": radius,
                                                   "limit": 1000}).get_json()
    _, _, distance = Geod(ellps="WGS84").inv(np.full(len(events), centre.x), np.full(len(events), centre.y),
                                             events.geom.x.to_numpy(), events.geom.y.to_numpy())
    inside = set(events.id[distance <= radius])
    assert {f["id"] for f in body["features"]} == inside and len(inside) > 1


def test_a_drawn_multipolygon_with_a_hole_selects_exactly_its_events(client, events):
    minx, miny, maxx, maxy = events.total_bounds
    midx, midy = (minx + maxx) / 2, (miny + maxy) / 2
    outer = shapely.box(minx, miny, midx, maxy)
    hole = shapely.box(minx + (midx - minx) / 3, miny + (maxy - miny) / 3, midx - (midx - minx) / 3,
                       maxy - (maxy - miny) / 3)
    area = shapely.MultiPolygon([shapely.Polygon(outer.exterior.coords, [hole.exterior.coords]),
                                 shapely.box(midx + 0.001, midy, maxx, maxy)])
    expected = set(events.id[events.intersects(area)])
    body = client.post("/api/events/search", json={"geometry": shapely.geometry.mapping(area), "limit": 1000}).get_json()
    assert {f["id"] for f in body["features"]} == expected
    assert 0 < len(expected) < len(events)
    assert not set(events.id[events.within(hole)]) & {f["id"] for f in body["features"]}


def test_pages_cover_everything_once_even_while_events_arrive(client, city_engine, events):
    ids = all_ids(client, status="closed")
    assert len(ids) == len(set(ids)) == (events.status == "closed").sum()
    first = client.get("/api/events", query_string={"status": "closed", "limit": 37}).get_json()
    with city_engine.begin() as conn:
        conn.execute(text("INSERT INTO event (title, category, source, status, reported_at, geom) "
                          "SELECT '新到', 'noise', 'citizen_qr', 'closed', now(), geom FROM event LIMIT 1"))
    try:
        rest = all_ids(client, status="closed", cursor=first["cursor"])
        assert [f["id"] for f in first["features"]] + rest == ids  # the newcomer sorts before page one
    finally:
        with city_engine.begin() as conn:
            conn.execute(text("DELETE FROM event WHERE title = '新到'"))


@pytest.mark.parametrize("sort", ["reported_at", "-due_at", "id"])
def test_every_sort_pages_without_gaps_or_repeats(client, events, sort):
    ids = all_ids(client, sort=sort)
    assert len(ids) == len(set(ids)) == len(events)


def test_coordinates_in_and_out_in_gcj02(client, events):
    target = events.iloc[0]
    (glon,), (glat,) = coordinates.from_wgs84([target.geom.x], [target.geom.y], "gcj02")
    body = client.get("/api/events", query_string={"near": f"{glon},{glat}", "radius": 1, "crs": "gcj02"}).get_json()
    feature = next(f for f in body["features"] if f["id"] == target.id)
    assert feature["geometry"]["coordinates"] == pytest.approx([glon, glat], abs=1e-6)
    assert abs(glon - target.geom.x) > 1e-4  # the offset is real, so the conversion did something


def test_a_scoped_worker_gets_only_their_grids_events(client, city_engine, events):
    cell = events.grid.iloc[0]
    with city_engine.begin() as conn:
        conn.execute(text("INSERT INTO app_user (username, display_name, role, scope) VALUES "
                          "('api_scoped', 'x', 'grid_worker', ARRAY[CAST(:c AS ltree)]) ON CONFLICT DO NOTHING"),
                     {"c": cell})
    body = client.get("/api/events", query_string={"limit": 1000}, headers={"X-Demo-User": "api_scoped"}).get_json()
    assert body["total"] == (events.grid == cell).sum()
    assert {f["properties"]["grid"] for f in body["features"]} == {cell}


@pytest.mark.parametrize("query,field", [
    ({"category": "bogus"}, "category"), ({"status": "open"}, "status"), ({"level": "city"}, "level"),
    ({"department": "nasa"}, "department"), ({"from": "yesterday"}, "from"),
    ({"from": "2026-05-01", "to": "2026-04-01"}, "from"), ({"bbox": "1,2,3"}, "bbox"),
    ({"bbox": "104,36,103,37"}, "bbox"), ({"near": "103.7"}, "near"), ({"near": "103.7,36.0", "radius": "0"}, "radius"),
    ({"near": "103.7,36.0", "radius": "1e9"}, "radius"), ({"radius": "100"}, "near"), ({"overdue": "maybe"}, "overdue"),
    ({"sort": "title"}, "sort"), ({"limit": "0"}, "limit"), ({"limit": "many"}, "limit"),
    ({"cursor": "not-a-cursor"}, "cursor"), ({"crs": "EPSG:999999"}, "crs"), ({"grid": "99;drop"}, "grid"),
    ({"q": "x" * 201}, "q"),
])
def test_bad_queries_say_which_field_and_why(client, query, field):
    response = client.get("/api/events", query_string=query)
    assert response.status_code == 400, response.get_json()
    error = response.get_json()["error"]
    assert error["field"] == field and error["reason"]


@pytest.mark.parametrize("geometry,status,reason", [
    ({"type": "Polygon", "coordinates": [[[103, 36], [103.1, 36.1], [103.1, 36], [103, 36.1], [103, 36]]]}, 422,
     "Self-intersection"),
    ({"type": "Polygon", "coordinates": [[[103, 36], [103.1, 36], [103.1, 36.1], [103, 36.1]]]}, 422, "not closed"),
    ({"type": "Polygon", "coordinates": [[[36, 103], [36.1, 103], [36.1, 103.1], [36, 103]]]}, 400, "out of range"),
    ({"type": "Polygon", "coordinates": [[[100, 30], [110, 30], [110, 40], [100, 30]]]}, 413, "km²"),
    ({"type": "Point", "coordinates": [103, 36]}, 400, "Polygon"),
    ({"type": "Polygon", "coordinates": []}, 400, "empty"),
    ({"type": "Polygon", "coordinates": "nope"}, 400, "GeoJSON"),
])
def test_bad_drawn_areas_say_why(client, geometry, status, reason):
    response = client.post("/api/events/search", json={"geometry": geometry})
    assert response.status_code == status
    error = response.get_json()["error"]
    assert error["field"] == "geometry" and reason in error["reason"]
    if status == 422:  # where to look, to highlight on the map
        lon, lat = error["location"]["coordinates"]
        assert 103 <= lon <= 103.1 and 36 <= lat <= 36.1


def test_a_polygon_with_too_many_vertices_is_413(client):
    ring = [[103 + 0.01 * math.cos(2 * math.pi * i / 10_001), 36 + 0.01 * math.sin(2 * math.pi * i / 10_001)]
            for i in range(10_001)]
    response = client.post("/api/events/search", json={"geometry": {"type": "Polygon", "coordinates": [ring + [ring[0]]]}})
    assert response.status_code == 413 and "vertices" in response.get_json()["error"]["reason"]


def test_an_unknown_grid_is_400_not_an_empty_answer(client):
    response = client.get("/api/events", query_string={"grid": "990101.999.999"})
    assert response.status_code == 400 and response.get_json()["error"]["field"] == "grid"


def test_search_needs_a_json_object_with_a_geometry(client):
    assert client.post("/api/events/search", json={"category": "noise"}).get_json()["error"]["field"] == "geometry"
    assert client.post("/api/events/search", data="{", content_type="application/json").status_code == 400


def test_the_map_and_the_api_count_the_same_events(client, city_engine):
    """Issue 4's promise: the same filters give the same answer in the API and on the map."""
    from tests.test_tiles import decode, tiles_covering

    with city_engine.connect() as conn:
        bounds = conn.execute(text("SELECT ST_XMin(geom), ST_YMin(geom), ST_XMax(geom), ST_YMax(geom) "
                                   "FROM grid WHERE level = 'district'")).one()
    query = {"category": "dispute,noise", "source": "hotline_12345", "from": "2026-01-01", "q": "附近"}
    api = client.get("/api/events", query_string={**query, "limit": 1}).get_json()["total"]
    on_map = sum(f["properties"]["count"] for x, y in tiles_covering(tuple(bounds), 11)
                 for f in decode(client.get(f"/tiles/events/11/{x}/{y}.pbf", query_string=query))
                 .get("events", {}).get("features", []))
    assert api == on_map > 0


@pytest.mark.parametrize("query,field", [
    ({"from": "0001-01-01"}, "from"), ({"to": "9999-12-31T23:00:00-08:00"}, "to"),
    ({"cursor": "WyItcmVwb3J0ZWRfYXQiLCA1LCA1XQ"}, "cursor"),  # ["-reported_at", 5, 5]
    ({"cursor": "WyJpZCIsIFsxXSwgMV0", "sort": "id"}, "cursor"),  # ["id", [1], 1]
    ({"cursor": "WyJpZCIsIDEsIHRydWVd", "sort": "id"}, "cursor"),  # ["id", 1, true]
])
def test_crafted_dates_and_cursors_are_400_not_500(client, query, field):
    response = client.get("/api/events", query_string=query)
    assert response.status_code == 400 and response.get_json()["error"]["field"] == field


def test_a_geometry_without_coordinates_is_400(client):
    response = client.post("/api/events/search", json={"geometry": {"type": "Polygon"}})
    assert response.status_code == 400 and response.get_json()["error"]["field"] == "geometry"
