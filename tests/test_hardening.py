"""Hostile bodies on every write endpoint: strict JSON, size and vertex limits, no mass assignment, and
the security headers on every kind of response. Each refusal is a 4xx with a reason; nothing is written."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import text

from mapserver.body_fields import WRITES, openapi_path
from mapserver.strict_json import MAX_JSON_BYTES

REPORTER = {"X-Demo-User": "worker1"}  # POST /api/events is for grid staff; the report fixture is in its cell
SERVER_OWNED = ("status", "grid_id", "reported_grid_id", "version", "id", "rev", "created_by", "reported_at")
# what each path parameter is filled with: things that exist in the tiny city
PATH_VALUES = {"event_id": "event", "code": "cell", "category": "category", "grid_code": "cell",
               "person_id": "person"}


@pytest.fixture(scope="module")
def known(city_engine) -> dict:
    with city_engine.connect() as conn:
        return {"event": str(conn.execute(text("SELECT min(id) FROM event")).scalar_one()),
                "cell": conn.execute(text("SELECT min(code) FROM grid WHERE valid_to IS NULL AND level = 'cell'"))
                .scalar_one(),
                "category": conn.execute(text("SELECT min(code) FROM event_category")).scalar_one(),
                "person": str(conn.execute(text("SELECT min(id) FROM person")).scalar_one())}


def ledger_state(engine) -> tuple:
    """Counts and revisions of everything a write could touch."""
    with engine.connect() as conn:
        return tuple(conn.execute(text(
            "SELECT (SELECT count(*) FROM event), (SELECT COALESCE(sum(rev), 0) FROM event), "
            "(SELECT count(*) FROM event_log), (SELECT count(*) FROM grid), (SELECT COALESCE(sum(version), 0) "
            "FROM grid), (SELECT count(*) FROM event_category WHERE department_id IS NOT NULL)")).one())


def write_routes(app) -> list[tuple[str, str]]:
    return sorted((rule.rule, method) for rule in app.url_map.iter_rules()
                  for method in rule.methods & set(WRITES))


def documented(app) -> dict:
    return app.test_client().get("/openapi.json").get_json()["paths"]


def json_body_routes(app) -> list[tuple[str, str]]:
    paths = documented(app)
    return [(rule, method) for rule, method in write_routes(app)
            if "application/json" in (paths.get(openapi_path(rule), {}).get(method.lower(), {})
                                      .get("requestBody") or {}).get("content", {})]


def url_for_rule(rule: str, known: dict) -> str:
    import re

    return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", lambda m: known[PATH_VALUES.get(m.group(1), "event")], rule)


def test_every_write_route_is_documented_so_its_fields_are_checked(app):
    paths = documented(app)
    missing = [(rule, method) for rule, method in write_routes(app)
               if method.lower() not in paths.get(openapi_path(rule), {}) and not rule.startswith("/open311/")]
    assert missing == []


def test_every_json_write_route_is_found(app):
    routes = {rule for rule, _ in json_body_routes(app)}
    assert {"/api/events", "/api/events/<int:event_id>/transitions", "/api/grids/edits", "/api/routing/<category>",
            "/api/grids/<code>/split", "/api/events/search", "/api/grids/<code>/undo"} <= routes


def test_server_owned_fields_are_refused_by_name_on_every_json_write(app, client, city_engine, known, own_events):
    before = ledger_state(city_engine)
    paths = documented(app)
    for rule, method in json_body_routes(app):
        schema = paths[openapi_path(rule)][method.lower()]["requestBody"]["content"]["application/json"]["schema"]
        field = next(f for f in SERVER_OWNED if f not in schema.get("properties", {}))
        response = client.open(url_for_rule(rule, known), method=method, json={field: 1},
                               headers={"X-Demo-User": "admin", "If-Match": "*"})
        assert response.status_code == 400, (rule, response.status_code, response.get_data(as_text=True)[:200])
        assert response.get_json()["error"]["field"] == field, rule
    assert ledger_state(city_engine) == before


@pytest.fixture(scope="module")
def report(city_engine) -> dict:
    with city_engine.connect() as conn:
        lon, lat = conn.execute(text(
            "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) p FROM grid "
            "WHERE valid_to IS NULL AND level = 'cell' ORDER BY code LIMIT 1) s")).one()
        category = conn.execute(text("SELECT min(code) FROM event_category")).scalar_one()
    return {"category": category, "description": "井盖缺失", "lon": lon, "lat": lat}


@pytest.mark.parametrize("field,value", [("status", "closed"), ("grid_id", 1), ("reported_grid_id", 1),
                                         ("id", 1), ("version", 3), ("due_at", "2030-01-01T00:00:00Z")])
def test_a_valid_report_carrying_a_server_owned_field_writes_nothing(client, city_engine, report, own_events,
                                                                     field, value):
    before = ledger_state(city_engine)
    response = client.post("/api/events", headers=REPORTER, json={**report, field: value})
    assert response.status_code == 400 and response.get_json()["error"]["field"] == field
    form = client.post("/api/events", headers=REPORTER, data={**{k: str(v) for k, v in report.items()}, field: str(value)})
    assert form.status_code == 400 and form.get_json()["error"]["field"] == field
    assert ledger_state(city_engine) == before
    assert client.post("/api/events", headers=REPORTER, json=report).status_code == 201  # the same body without it is filed


def test_nested_unknown_fields_are_named_with_their_path(client, known):
    response = client.post("/api/grids/edits/validate",
                           json={"grids": [{"code": known["cell"], "geometry": None, "grid_id": 4}]})
    assert response.status_code == 400
    assert response.get_json()["error"]["field"] == "grids[0].grid_id"
    point = client.post("/api/events", headers=REPORTER, json={"category": "x", "description": "x",
                                              "location": {"type": "Point", "coordinates": [1, 2], "crs": "x"}})
    assert point.status_code == 400 and point.get_json()["error"]["field"] == "location.crs"


HOSTILE = {
    "NaN": '{"a": NaN}',
    "Infinity": '{"a": Infinity}',
    "-Infinity": '{"a": [-Infinity]}',
    "deep array": "[" * 10_000 + "]" * 10_000,
    "deep object": '{"a":' * 10_000 + "1" + "}" * 10_000,
    "unterminated": '{"a": ',
    "array": "[]",
    "string": '"x"',
    "number": "3",
    "null": "null",
}


@pytest.mark.parametrize("kind", list(HOSTILE))
def test_hostile_json_is_a_400_on_every_json_write(app, client, city_engine, known, own_events, kind):
    before = ledger_state(city_engine)
    for rule, method in json_body_routes(app):
        response = client.open(url_for_rule(rule, known), method=method, data=HOSTILE[kind],
                               content_type="application/json", headers={"X-Demo-User": "admin", "If-Match": "*"})
        assert response.status_code == 400, (rule, kind, response.status_code, response.get_data(as_text=True)[:200])
        assert response.get_json()["error"]["reason"]
    assert ledger_state(city_engine) == before


def test_a_json_body_over_its_limit_is_a_413_with_the_limit(client, city_engine):
    before = ledger_state(city_engine)
    body = json.dumps({"geometry": {"type": "Polygon", "coordinates": []}, "q": "x" * MAX_JSON_BYTES})
    response = client.post("/api/events/search", data=body, content_type="application/json")
    assert response.status_code == 413
    error = response.get_json()["error"]
    assert f"{MAX_JSON_BYTES:,}" in error["reason"] and error["field"] == "body"
    assert ledger_state(city_engine) == before


def test_a_photo_upload_over_the_app_limit_is_a_413(app, client, report):
    limit = app.config["MAX_CONTENT_LENGTH"]
    response = client.post("/api/events", headers=REPORTER, data={**{k: str(v) for k, v in report.items()}, "note": "x" * (limit + 1)})
    assert response.status_code == 413 and response.get_json()["error"]["reason"]


def ring(n: int) -> list[list[float]]:
    import math

    points = [[103.8 + 0.01 * math.cos(2 * math.pi * i / n), 36.05 + 0.01 * math.sin(2 * math.pi * i / n)]
              for i in range(n)]
    return points + [points[0]]


def test_geometry_vertex_limits(client, known):
    from data.grid_edit_checks import MAX_VERTICES
    from data.selection import MAX_AREA_VERTICES

    area = client.post("/api/events/search", json={"geometry": {"type": "Polygon",
                                                                "coordinates": [ring(MAX_AREA_VERTICES + 1)]}})
    assert area.status_code == 413 and area.get_json()["error"]["field"] == "geometry"
    line = client.post(f"/api/grids/{known['cell']}/split",
                       json={"line": {"type": "LineString", "coordinates": ring(MAX_VERTICES + 1)}})
    assert line.status_code == 413 and line.get_json()["error"]["field"] == "line"
    edit = client.post("/api/grids/edits/validate", json={"grids": [{"code": known["cell"], "geometry": {
        "type": "Polygon", "coordinates": [ring(MAX_VERTICES + 1)]}}]})
    assert edit.status_code == 200 and "too_many_vertices" in {p["code"] for p in edit.get_json()["problems"]}


@pytest.mark.parametrize("path", ["/", "/analyst", "/api/grids", "/openapi.json", "/no/such/page",
                                  "/assets/leaflet/dist/leaflet.js", "/tiles/grids/12/3237/1580.pbf", "/healthz"])
def test_every_response_carries_the_security_headers(client, path):
    response = client.get(path)
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
    assert "'unsafe-inline'" not in csp.split("script-src", 1)[1].split(";", 1)[0]
    assert "unsafe-eval" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"]


def test_every_inline_script_of_a_page_carries_this_responses_nonce(client):
    import re

    first, second = client.get("/analyst"), client.get("/analyst")
    nonce = re.search(r"'nonce-([^']+)'", first.headers["Content-Security-Policy"]).group(1)
    assert nonce not in second.headers["Content-Security-Policy"]  # one per response, never reused
    tags = re.findall(r"<script\b[^>]*>", first.get_data(as_text=True), re.IGNORECASE)
    assert tags and all(f'nonce="{nonce}"' in tag for tag in tags)


def test_a_configured_basemap_origin_is_allowed_for_images_only(city_engine):
    from data.settings import Settings
    from mapserver import create_app

    url = city_engine.url.render_as_string(hide_password=False)
    app = create_app(Settings(database_url=url, basemap_url="https://tiles.intranet.example/{z}/{x}/{y}.png"),
                     {"TESTING": True})
    csp = app.test_client().get("/healthz").headers["Content-Security-Policy"]
    img = next(d for d in csp.split("; ") if d.startswith("img-src"))
    assert "https://tiles.intranet.example" in img and csp.count("tiles.intranet.example") == 1


def test_exports_are_rate_limited_per_user_with_retry_after(city_engine, own_events):
    from data.settings import Settings
    from mapserver import create_app

    url = city_engine.url.render_as_string(hide_password=False)
    app = create_app(Settings(database_url=url, exports_per_hour=2),
                     {"TESTING": True, "MINQING_DEMO_LOGIN": True, "SECRET_KEY": "tests-only"})
    client = app.test_client()
    query = {"format": "csv", "category": "noise", "from": "2026-10-01"}
    assert [client.get("/api/events/export", query_string=query).status_code for _ in range(2)] == [200, 200]
    refused = client.get("/api/events/export", query_string=query)
    assert refused.status_code == 429 and 0 < int(refused.headers["Retry-After"]) <= 3600
    assert "exports" in refused.get_json()["error"]["reason"]
    other = client.get("/api/events/export", query_string=query, headers={"X-Demo-User": "analyst"})
    assert other.status_code == 200  # another user's count is their own


EVENT_TILE = "/tiles/events/14/12919/6308.pbf"


@pytest.mark.parametrize("raw", ["[" * 1500 + "]" * 1500,  # Python's own decoder: RecursionError
                                 '{"type":"Polygon","coordinates":[[[NaN,36],[103.9,36],[103.9,36.1],[NaN,36]]]}',
                                 '{"type":"Polygon","coordinates":[[[103.8,36],[Infinity,36],[103.9,36.1],[103.8,36]]]}'],
                         ids=["deep", "nan", "infinity"])
def test_a_tile_geometry_that_is_not_strict_json_is_a_400(client, raw):
    response = client.get(EVENT_TILE, query_string={"geometry": raw})
    assert response.status_code == 400 and response.get_json()["error"]["field"] == "geometry"


def test_a_ring_geos_refuses_is_a_bad_selection_not_a_crash():
    from data.selection import BadSelection, parse_area

    with pytest.raises(BadSelection):  # what a NaN vertex gets from a caller that parsed NaN itself
        parse_area({"type": "Polygon", "coordinates": [[[float("nan"), 36], [103.9, 36], [103.9, 36.1],
                                                         [float("nan"), 36]]]}, None)


def test_a_forged_cursor_nested_deeply_is_a_400(client):
    import base64

    cursor = base64.urlsafe_b64encode(("[" * 5000 + "]" * 5000).encode()).decode().rstrip("=")
    response = client.get("/api/events", query_string={"cursor": cursor})
    assert response.status_code == 400 and response.get_json()["error"]["field"] == "cursor"


@pytest.mark.parametrize("path", ["/api/analysis/hotspots?resolution=15&refresh=true",
                                  "/analyst/hotspots?kind=emerging&resolution=15"])
def test_a_resolution_too_fine_for_the_area_is_a_400_before_any_hexagon_is_made(client, path):
    """Resolution 15 over a district is ~100 million hexagons: refused by count, not by running out of memory."""
    response = client.get(path)
    assert response.status_code == 400 and response.get_json()["error"]["field"] == "resolution"
