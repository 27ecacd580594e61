"""Tiles, TileJSON and the catalogue over HTTP: decoded with mapbox-vector-tile and checked."""
from __future__ import annotations

import gzip
import math

import jsonschema
import mapbox_vector_tile
import numpy as np
import pytest
import shapely
import shapely.geometry
from sqlalchemy import text

from data.generalize import BANDS
from data.settings import Settings
from layers import catalogue
from mapserver import create_app
from mapserver.caller import Caller

ROLES = ("commander", "citizen", "grid_worker")


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 1 << z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return x, y


def tiles_covering(bounds: tuple[float, float, float, float], z: int):
    x0, y1 = tile_of(bounds[0], bounds[1], z)
    x1, y0 = tile_of(bounds[2], bounds[3], z)
    return [(x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)]


@pytest.fixture(scope="module")
def district(city_engine):
    with city_engine.connect() as conn:
        row = conn.execute(text(
            "SELECT ST_XMin(geom), ST_YMin(geom), ST_XMax(geom), ST_YMax(geom), ST_X(ST_PointOnSurface(geom)), "
            "ST_Y(ST_PointOnSurface(geom)) FROM grid WHERE level = 'district'")).one()
    return {"bounds": tuple(row[:4]), "inside": tuple(row[4:])}


def decode(response) -> dict:
    if response.status_code == 204:
        return {}
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "application/vnd.mapbox-vector-tile"
    body = response.data
    if response.headers.get("Content-Encoding") == "gzip":
        body = gzip.decompress(body)
    return mapbox_vector_tile.decode(body)


def get_tile(client, layer, z, x, y, role="commander", **query):
    return client.get(f"/tiles/{layer}/{z}/{x}/{y}.pbf", query_string=query, headers={"X-Demo-User": role},
                      environ_base={"HTTP_ACCEPT_ENCODING": "gzip"})


@pytest.fixture(scope="module", autouse=True)
def stored_analyses(city_engine):
    """The hotspots, emerging and heat layers draw the latest stored run for the caller's scope: store one of
    each over everything and over the district (the demo users' scope)."""
    from data import analysis_runs
    from data.selection import EventSelection

    with city_engine.begin() as conn:
        district = conn.execute(text("SELECT code FROM grid WHERE level = 'district' AND valid_to IS NULL")).scalar_one()
        for kind in analysis_runs.KINDS:
            for scope in (None, (district,)):
                getattr(analysis_runs, kind)(conn, EventSelection(), scope=scope,
                                             **({"permutations": 99} if kind == "hotspots" else {}))


@pytest.fixture(scope="module")
def demo_users(city_engine):
    """One account per role the tests use, named after the role and scoped to the whole district."""
    with city_engine.begin() as conn:
        for role in ROLES:
            conn.execute(text(
                "INSERT INTO app_user (username, display_name, role, scope) SELECT :u, :u, :u, ARRAY[path] "
                "FROM grid WHERE level = 'district' ON CONFLICT (username) DO NOTHING"), {"u": role})


@pytest.mark.parametrize("layer_id", [layer.id for layer in catalogue.all_layers()])
@pytest.mark.parametrize("role", ROLES)
def test_every_layer_decodes_at_every_band_with_only_the_roles_attributes(client, district, demo_users,
                                                                           layer_id, role):
    layer = catalogue.get(layer_id)
    features_seen = 0
    for band in layer.bands:
        for z in sorted({band.minzoom, min(band.maxzoom, 18)}):
            x, y = tile_of(*district["inside"], z)
            decoded = decode(get_tile(client, layer_id, z, x, y, role))
            if not decoded:
                continue
            assert list(decoded) == [layer_id]  # one name end to end
            allowed = set(layer.visible(role))
            for feature in decoded[layer_id]["features"]:
                assert set(feature["properties"]) <= allowed, (z, set(feature["properties"]) - allowed)
                features_seen += 1
    assert features_seen > 0, f"{layer_id} drew nothing for {role} over the city centre"


def test_resident_counts_by_role_least_by_default(client, city_engine, district, demo_users):
    """Citizens: totals. Staff: plus elderly living alone per grid. People-level roles: every tag, and only
    they get tag counts per building (one building's count can point at one person)."""
    expected = {  # role: (per grid z12, per building z17)
        "citizen": ({"count", "households"}, {"count", "households"}),
        "commander": ({"count", "households", "elderly_alone", "left_behind_children"}, {"count", "households"}),
        "grid_worker": ({"count", "households", "elderly_alone", "key_persons", "subsistence"},
                        {"count", "households", "elderly_alone", "key_persons"}),
    }
    with city_engine.connect() as conn:  # a building with people in it, for the close-up
        house = conn.execute(text("SELECT ST_X(h.geom), ST_Y(h.geom) FROM house h JOIN house_residents s "
                                  "ON s.house_id = h.id ORDER BY s.residents DESC LIMIT 1")).one()
    for role, (per_grid, per_building) in expected.items():
        for z, wanted in ((12, per_grid), (17, per_building)):
            x, y = tile_of(*(district["inside"] if z == 12 else house), z)
            features = decode(get_tile(client, "residents", z, x, y, role)).get("residents", {}).get("features", [])
            keys = set().union(*(f["properties"] for f in features)) - {"code", "name"}
            assert features, (role, z)
            assert wanted <= keys, (role, z, wanted - keys)
            if "key_persons" not in wanted:
                assert not keys & {"key_persons", "subsistence", "disabled", "floating"}, (role, z)
            if "elderly_alone" not in wanted:
                assert "elderly_alone" not in keys, (role, z)


def test_citizens_may_not_list_cases_addresses_or_exports(client, demo_users):
    headers = {"X-Demo-User": "citizen"}
    for path in ("/api/events", "/api/events/export", "/api/houses", "/api/residents"):
        response = client.get(path, headers=headers)
        assert response.status_code == 403 and "QR" in response.get_json()["error"]["reason"], path


@pytest.mark.parametrize("z", [8, 10, 12, 13, 15])
def test_aggregate_counts_over_the_tiles_add_up_exactly(client, city_engine, district, z):
    query = {"category": "noise,environment", "status": "closed,in_progress", "from": "2026-03-01"}
    total = 0
    for x, y in tiles_covering(district["bounds"], z):
        decoded = decode(get_tile(client, "events", z, x, y, **query))
        total += sum(f["properties"]["count"] for f in decoded.get("events", {}).get("features", []))
    with city_engine.connect() as conn:
        expected = conn.execute(text(
            "SELECT count(*) FROM event WHERE category IN ('noise', 'environment') "
            "AND status IN ('closed', 'in_progress') AND reported_at >= '2026-03-01T00:00:00+08:00'")).scalar_one()
    assert expected > 0
    assert total == expected


def test_points_up_close_are_every_event_in_the_tile(client, city_engine, district):
    x, y = tile_of(*district["inside"], 17)
    features = decode(get_tile(client, "events", 17, x, y)).get("events", {}).get("features", [])
    with city_engine.connect() as conn:
        expected = conn.execute(text(
            "SELECT count(*) FROM event WHERE geom && ST_Transform(ST_TileEnvelope(17, :x, :y, "
            "margin => 64.0/4096), 4326)"), {"x": x, "y": y}).scalar_one()
    assert len(features) == expected
    assert {f["properties"]["severity"] for f in features} <= {"urgent", "open", "resolved"}


def test_a_new_event_shows_in_the_next_tile(client, city_engine, district):
    x, y = tile_of(*district["inside"], 10)

    def total() -> int:
        decoded = decode(get_tile(client, "events", 10, x, y, category="food_safety"))
        return sum(f["properties"]["count"] for f in decoded.get("events", {}).get("features", []))

    before = total()
    with city_engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO event (title, category, source, reported_at, geom) VALUES ('测试', 'food_safety', "
            "'citizen_qr', now(), ST_SetSRID(ST_MakePoint(:lon, :lat), 4326))"),
            {"lon": district["inside"][0], "lat": district["inside"][1]})
    try:
        assert total() == before + 1
    finally:
        with city_engine.begin() as conn:
            conn.execute(text("DELETE FROM event WHERE title = '测试'"))


@pytest.mark.parametrize("band", sorted(BANDS))
def test_generalised_grids_are_a_valid_coverage_at_every_band(city_engine, band):
    with city_engine.connect() as conn:
        for level in ("street", "community", "cell"):
            rows = conn.execute(text(
                "SELECT ST_AsBinary(s.geom), ST_Area(s.geom), ST_Area(g.geom) FROM grid_shape s "
                "JOIN grid g ON g.id = s.grid_id WHERE s.band = :b AND g.level = :level AND g.valid_to IS NULL"),
                {"b": band, "level": level}).all()
            assert rows, level
            geoms = shapely.from_wkb([bytes(r[0]) for r in rows])
            assert shapely.coverage_is_valid(geoms), (band, level)
            simplified, original = sum(r[1] for r in rows), sum(r[2] for r in rows)
            assert abs(simplified - original) / original < 0.01
            assert np.all(shapely.is_valid(geoms))


# The parts of TileJSON 3.0.0 (github.com/mapbox/tilejson-spec, 3.0.0/README.md) this service promises.
TILEJSON_SCHEMA = {
    "type": "object",
    "required": ["tilejson", "tiles", "vector_layers"],
    "properties": {
        "tilejson": {"const": "3.0.0"},
        "tiles": {"type": "array", "minItems": 1, "items": {"type": "string"}},
        "vector_layers": {"type": "array", "minItems": 1, "items": {
            "type": "object", "required": ["id", "fields"],
            "properties": {"id": {"type": "string"}, "fields": {"type": "object"},
                           "minzoom": {"type": "integer", "minimum": 0, "maximum": 30},
                           "maxzoom": {"type": "integer", "minimum": 0, "maximum": 30}}}},
        "bounds": {"type": "array", "minItems": 4, "maxItems": 4, "items": {"type": "number"}},
        "minzoom": {"type": "integer", "minimum": 0, "maximum": 30},
        "maxzoom": {"type": "integer", "minimum": 0, "maximum": 30},
        "attribution": {"type": "string"}, "name": {"type": "string"}, "description": {"type": "string"},
    },
}


@pytest.mark.parametrize("layer_id", [layer.id for layer in catalogue.all_layers()])
def test_every_tilejson_validates(client, layer_id):
    jsonschema.validate(client.get(f"/tiles/{layer_id}.json").get_json(), TILEJSON_SCHEMA)


def test_tilejson_describes_the_layer(client, district):
    body = client.get("/tiles/events.json").get_json()
    assert body["tilejson"] == "3.0.0"
    assert body["tiles"][0].endswith("/tiles/events/{z}/{x}/{y}.pbf")
    assert body["minzoom"] == 8 and body["maxzoom"] == 22
    assert body["vector_layers"][0]["id"] == "events"
    west, south, east, north = body["bounds"]
    assert west == pytest.approx(district["bounds"][0]) and north == pytest.approx(district["bounds"][3])
    assert body["attribution"]


def test_the_catalogue_lists_every_layer_with_a_legend(client):
    body = client.get("/layers").get_json()
    ids = [layer["id"] for layer in body["layers"]]
    assert ids == [layer.id for layer in catalogue.all_layers()]
    assert {"streets", "communities", "cells", "events", "residents", "houses", "places", "things",
            "organizations"} <= set(ids)
    for layer in body["layers"]:
        assert layer["legend"] and all(entry["label"] and entry["color"].startswith("#") for entry in layer["legend"])
        assert layer["title"] and layer["title_en"]


def test_an_empty_tile_is_204(client):
    response = get_tile(client, "events", 12, 0, 0)
    assert response.status_code == 204 and response.data == b""


@pytest.mark.parametrize("path,status,field", [
    ("/tiles/nope/10/1/1.pbf", 404, None),
    ("/tiles/events/23/1/1.pbf", 400, "z"),
    ("/tiles/events/7/1/1.pbf", 400, "z"),
    ("/tiles/events/10/1024/1.pbf", 400, "x"),
    ("/tiles/events/10/1/-1.pbf", 400, "y"),
    ("/tiles/events/10/a/1.pbf", 400, "x"),
    ("/tiles/events/10.5/1/1.pbf", 400, "z"),
    ("/tiles/events/10/1/1.pbf?category=bogus", 400, "category"),
    ("/tiles/events/10/1/1.pbf?status=open", 400, "status"),
    ("/tiles/events/10/1/1.pbf?source=pigeon", 400, "source"),
    ("/tiles/events/10/1/1.pbf?from=2026-02-30", 400, "from"),
    ("/tiles/events/10/1/1.pbf?from=2026-05-01&to=2026-04-01", 400, "from"),
    ("/tiles/nope.json", 404, None),
])
def test_bad_tile_requests_say_why(client, path, status, field):
    response = client.get(path)
    assert response.status_code == status
    error = response.get_json()["error"]
    assert error["reason"]
    if field:
        assert error["field"] == field


def test_bad_coordinates_are_refused_before_any_database_work(app):
    """A tile request with bad z/x/y must not open a database connection at all."""
    bad = create_app(Settings(database_url="postgresql://nobody:nothing@127.0.0.1:1/none"), {"TESTING": True, "MINQING_DEMO_LOGIN": True})
    bad.config["MINQING_DEFAULT_CALLER"] = Caller("t", "commander", ())
    client = bad.test_client()
    assert client.get("/tiles/events/99/0/0.pbf").status_code == 400
    assert client.get("/tiles/nope/1/0/0.pbf").status_code == 404
    assert client.get("/tiles/events/10/0/0.pbf").status_code == 503  # a good request does reach the database


def test_a_scoped_worker_sees_only_their_grids_pins_and_counts(client, city_engine, district):
    with city_engine.begin() as conn:
        cell = conn.execute(text(
            "SELECT code FROM grid WHERE level = 'cell' AND kind = 'regular' AND valid_to IS NULL ORDER BY code "
            "LIMIT 1")).scalar_one()
        conn.execute(text("INSERT INTO app_user (username, display_name, role, scope) VALUES "
                          "('scoped', 'scoped', 'grid_worker', ARRAY[CAST(:c AS ltree)]) ON CONFLICT DO NOTHING"),
                     {"c": cell})
        expected = conn.execute(text(
            "SELECT count(*) FROM event e JOIN grid g ON g.id = e.grid_id WHERE g.code = :c"), {"c": cell}
        ).scalar_one()
    assert expected > 0
    for z in (10, 14):
        total, codes = 0, set()
        for x, y in tiles_covering(district["bounds"], z):
            for f in decode(get_tile(client, "events", z, x, y, role="scoped")).get("events", {}).get("features", []):
                total += f["properties"]["count"]
                codes.add(f["properties"].get("code"))
        assert total == expected, z
    assert codes <= {None}  # clusters carry no grid; at z10 only the worker's own cell appears (checked below)
    x, y = tile_of(*district["inside"], 10)
    seen = {f["properties"]["code"] for f in decode(get_tile(client, "events", 10, x, y, role="scoped"))
            .get("events", {}).get("features", [])}
    assert seen <= {cell}


def test_revalidation_is_answered_304_before_any_database_work(city_engine, district):
    from sqlalchemy import event

    url = city_engine.url.render_as_string(hide_password=False)
    app = create_app(Settings(database_url=url), {"TESTING": True, "MINQING_DEMO_LOGIN": True, "MINQING_VERSION_TTL": 60})
    client = app.test_client()
    x, y = tile_of(*district["inside"], 14)
    first = client.get(f"/tiles/events/14/{x}/{y}.pbf?category=noise")
    assert first.status_code == 200 and first.headers["ETag"].startswith('W/"')
    statements: list[str] = []
    engine = app.extensions["minqing.engine"]
    event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    again = client.get(f"/tiles/events/14/{x}/{y}.pbf?category=noise",
                       headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and again.data == b""
    assert statements == []
    other_filter = client.get(f"/tiles/events/14/{x}/{y}.pbf?category=dispute",
                              headers={"If-None-Match": first.headers["ETag"]})
    assert other_filter.status_code == 200


def test_the_etag_changes_when_the_data_behind_the_tile_commits(client, city_engine, district):
    x, y = tile_of(*district["inside"], 14)
    before = {layer: client.get(f"/tiles/{layer}/14/{x}/{y}.pbf").headers["ETag"] for layer in ("events", "cells")}
    with city_engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO event (title, category, source, reported_at, geom) VALUES ('版本', 'noise', "
            "'citizen_qr', now(), ST_SetSRID(ST_MakePoint(:lon, :lat), 4326))"),
            {"lon": district["inside"][0], "lat": district["inside"][1]})
    try:
        after = {layer: client.get(f"/tiles/{layer}/14/{x}/{y}.pbf").headers["ETag"] for layer in ("events", "cells")}
    finally:
        with city_engine.begin() as conn:
            conn.execute(text("DELETE FROM event WHERE title = '版本'"))
    assert after["events"] != before["events"]
    assert after["cells"] == before["cells"]  # the grid layer does not read events


def test_identify_returns_the_grids_and_pins_under_a_point(client, city_engine, demo_users):
    with city_engine.connect() as conn:
        lon, lat, event_id, cell = conn.execute(text(
            "SELECT ST_X(e.geom), ST_Y(e.geom), e.id, g.code FROM event e JOIN grid g ON g.id = e.grid_id "
            "ORDER BY e.id LIMIT 1")).one()
    body = client.get("/api/identify", query_string={"lon": lon, "lat": lat, "layers": "cells,events,residents"}
                      ).get_json()
    assert body["type"] == "FeatureCollection"
    by_layer = {}
    for feature in body["features"]:
        by_layer.setdefault(feature["properties"]["layer"], []).append(feature)
    assert [f["properties"]["code"] for f in by_layer["cells"]] == [cell]
    assert event_id in [f["properties"]["id"] for f in by_layer["events"]]
    citizen = client.get("/api/identify", query_string={"lon": lon, "lat": lat, "layers": "events"},
                         headers={"X-Demo-User": "citizen"}).get_json()
    assert all("id" not in f["properties"] and "title" not in f["properties"] for f in citizen["features"])


@pytest.mark.parametrize("query,field", [
    ({"lat": 36}, "lon"), ({"lon": 200, "lat": 36}, "lon"), ({"lon": 103, "lat": 95}, "lat"),
    ({"lon": "x", "lat": 36}, "lon"), ({"lon": "nan", "lat": 36}, "lon"),
    ({"lon": 103, "lat": 36, "radius": 5000}, "radius"), ({"lon": 103, "lat": 36, "layers": "nope"}, "layers"),
])
def test_identify_bad_input_says_why(client, query, field):
    response = client.get("/api/identify", query_string=query)
    assert response.status_code == 400
    assert response.get_json()["error"]["field"] == field


def test_resident_counts_add_up_and_follow_new_residents(client, city_engine, district):
    def total(z: int) -> int:
        return sum(f["properties"]["count"] for x, y in tiles_covering(district["bounds"], z)
                   for f in decode(get_tile(client, "residents", z, x, y)).get("residents", {}).get("features", []))

    with city_engine.connect() as conn:
        people = conn.execute(text("SELECT count(*) FROM person")).scalar_one()
    assert total(10) == people
    with city_engine.begin() as conn:
        household = conn.execute(text("SELECT min(id) FROM household")).scalar_one()
        conn.execute(text("INSERT INTO person (household_id, name, gender, birth_year, tags) "
                          "VALUES (:h, '新居民', 'F', 1950, '{elderly_alone}')"), {"h": household})
    try:
        assert total(10) == people + 1
        with city_engine.connect() as conn:  # per building (z16+), from the same summary
            lon, lat, address, expected = conn.execute(text(
                "SELECT ST_X(h.geom), ST_Y(h.geom), h.address, (SELECT count(*) FROM person r JOIN household x "
                "ON x.id = r.household_id WHERE x.house_id = h.id) FROM house h JOIN household hh "
                "ON hh.house_id = h.id WHERE hh.id = :h"), {"h": household}).one()
        x, y = tile_of(lon, lat, 17)
        features = decode(get_tile(client, "residents", 17, x, y))["residents"]["features"]
        assert [f["properties"]["count"] for f in features if f["properties"]["name"] == address] == [expected]
    finally:
        with city_engine.begin() as conn:
            conn.execute(text("DELETE FROM person WHERE name = '新居民'"))
    assert total(10) == people


@pytest.mark.parametrize("layer_id", [layer.id for layer in catalogue.all_layers()])
def test_every_layer_renders_valid_geojson_from_a_plain_connection(city_engine, district, layer_id):
    """What a notebook does: no Flask, only the catalogue and a database connection."""
    from layers.geojson import feature_collection

    layer = catalogue.get(layer_id)
    with city_engine.connect() as conn:
        collection = feature_collection(conn, layer, district["bounds"], z=max(layer.minzoom, 12), role="analyst")
    assert collection["type"] == "FeatureCollection" and collection["features"]
    for feature in collection["features"]:
        geometry = shapely.geometry.shape(feature["geometry"])
        assert geometry.is_valid and not geometry.is_empty
        lon, lat = geometry.representative_point().coords[0]
        assert -180 <= lon <= 180 and -90 <= lat <= 90
        assert set(feature["properties"]) <= set(layer.visible("analyst"))
