"""Every documented operation × who asks (anonymous, a citizen account, staff of each role) × which object
(inside or outside the caller's scope): allowed or refused, through real bearer tokens, no demo placeholder."""
from __future__ import annotations

import io
import math
import re

import pytest
from PIL import Image
from sqlalchemy import text

from data import api_tokens
from data.settings import Settings
from data.vocab import PERSON_LEVEL_ROLES
from mapserver import create_app
from mapserver.openapi import DOCUMENT

ROLES = {"admin": "admin", "commander": "commander", "analyst": "analyst", "grid_leader": "leader1",
         "grid_worker": "worker1", "department": None, "citizen": "citizen_acc"}
PAGES = ("/analyst", "/overview", "/grids/")
# reads a role may not make at all, by design (person-level data): 403 for the others, whatever the scope
ROLE_LIMITED = {"/api/persons/": PERSON_LEVEL_ROLES}
# operations whose path names one object of the ledger: outside the caller's scope they answer 404
OBJECT_PATHS = ("/api/events/{event_id}", "/api/grids/{code}", "/api/persons/{person_id}")


def operations() -> list[tuple[str, str, bool]]:
    return [(method.upper(), path, op.get("security") == []) for path, item in DOCUMENT["paths"].items()
            for method, op in item.items() if method in ("get", "post", "put")]


STAFF_OPS = [(m, p) for m, p, public in operations() if not public]
PUBLIC_OPS = [(m, p) for m, p, public in operations() if public and p not in ("/logout",)]


@pytest.fixture(scope="module")
def access_app(city_engine):
    url = city_engine.url.render_as_string(hide_password=False)
    return create_app(Settings(database_url=url, tick_seconds=0),
                      {"TESTING": True, "MINQING_VERSION_TTL": 0, "SECRET_KEY": "matrix"})


@pytest.fixture(scope="module")
def tokens(city_engine):
    """A live bearer token per role, issued the way `minqing users token` does."""
    with city_engine.begin() as conn:
        conn.execute(text("INSERT INTO app_user (username, display_name, role) VALUES ('citizen_acc', '群众', 'citizen')"))
        department = conn.execute(text("SELECT min(username) FROM app_user WHERE role = 'department'")).scalar_one()
        out = {role: api_tokens.issue(conn, username or department, label="matrix")
               for role, username in ROLES.items()}
    yield out
    with city_engine.begin() as conn:
        conn.execute(text("DELETE FROM api_token WHERE label = 'matrix'"))
        conn.execute(text("DELETE FROM app_user WHERE username = 'citizen_acc'"))


@pytest.fixture(scope="module")
def objects(city_engine):
    """For worker1: a grid and an event inside its cell, and a grid and an event in another community."""
    with city_engine.connect() as conn:
        scope = conn.execute(text("SELECT scope::text[] FROM app_user WHERE username = 'worker1'")).scalar_one()
        mine = scope[0]
        other = conn.execute(text(
            "SELECT min(g.code) FROM grid g JOIN grid m ON m.code = :m AND m.valid_to IS NULL "
            "WHERE g.valid_to IS NULL AND g.level = 'cell' AND NOT g.path <@ subpath(m.path, 0, nlevel(m.path) - 1) "
            "AND EXISTS (SELECT 1 FROM event e WHERE e.grid_id = g.id)"), {"m": mine}).scalar_one()
        found = {"grid_in": mine, "grid_out": other}
        for side, code in (("in", mine), ("out", other)):
            found[f"event_{side}"] = conn.execute(text(
                "SELECT min(e.id) FROM event e JOIN grid g ON g.id = e.grid_id WHERE g.code = :c"),
                {"c": code}).scalar_one()
            found[f"person_{side}"] = conn.execute(text(
                "SELECT min(p.id) FROM person p JOIN household h ON h.id = p.household_id "
                "JOIN house ho ON ho.id = h.house_id JOIN grid g ON g.id = ho.grid_id WHERE g.code = :c"),
                {"c": code}).scalar_one()
            assert found[f"event_{side}"] and found[f"person_{side}"], f"the tiny city is empty in {code}"
    return found


def concrete(path: str, objects: dict, inside: bool = True) -> str:
    """A real URL for a documented path: ids and codes of objects inside (or outside) worker1's scope."""
    side = "in" if inside else "out"
    fill = {"event_id": objects[f"event_{side}"], "person_id": objects[f"person_{side}"], "photo_id": 1, "code": objects[f"grid_{side}"],
            "grid_code": objects[f"grid_{side}"], "layer": "events", "z": 14, "x": 13000, "y": 6000,
            "category": "noise", "path": "leaflet/leaflet.js", "number": "X", "fmt": ".json",
            "service_code": "noise", "service_request_id": "1", "token": "x"}
    return re.sub(r"\{(\w+)\}", lambda m: str(fill[m.group(1)]), path)


# a body that would be accepted, where an empty one is refused before the object is looked at
BODIES = {"/reveal": {"purpose": "核实身份 access matrix"}}


def call(client, method: str, url: str, token: str | None = None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if method == "GET":
        return client.get(url, headers=headers)
    body = next((b for suffix, b in BODIES.items() if url.endswith(suffix)), {})
    return client.open(url, method=method, headers=headers, json=body)


@pytest.mark.parametrize("method,path", STAFF_OPS, ids=[f"{m} {p}" for m, p in STAFF_OPS])
def test_anonymous_gets_401_from_the_api_and_the_login_form_for_pages(access_app, objects, method, path):
    response = call(access_app.test_client(), method, concrete(path, objects))
    if method == "GET" and (path == "/" or path.startswith(PAGES)):
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/login?next=")
    else:
        assert response.status_code == 401, response.get_data(as_text=True)[:200]
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert response.get_json()["error"]["reason"]


@pytest.mark.parametrize("method,path", PUBLIC_OPS, ids=[f"{m} {p}" for m, p in PUBLIC_OPS])
def test_citizen_channels_need_no_login(access_app, objects, method, path):
    response = call(access_app.test_client(), method, concrete(path, objects))
    assert response.status_code != 401 and "/login" not in response.headers.get("Location", "")
    assert response.status_code < 500


@pytest.mark.parametrize("method,path", STAFF_OPS, ids=[f"{m} {p}" for m, p in STAFF_OPS])
def test_a_citizen_account_sees_no_staff_data(access_app, tokens, objects, method, path):
    """Citizens report by QR code: a citizen's token opens nothing a citizen could not see anonymously."""
    response = call(access_app.test_client(), method, concrete(path, objects), tokens["citizen"])
    assert response.status_code in (403, 404), (response.status_code, response.get_data(as_text=True)[:200])


@pytest.mark.parametrize("role", [r for r in ROLES if r != "citizen"])
@pytest.mark.parametrize("method,path", [(m, p) for m, p in STAFF_OPS if m == "GET"],
                         ids=[f"{m} {p}" for m, p in STAFF_OPS if m == "GET"])
def test_staff_reach_every_read_inside_their_scope(access_app, tokens, objects, role, method, path):
    """Allowed: no 401/403 for staff reading inside their own area (404 only for the photo id 1 that
    nobody uploaded, and for objects outside a department handler's or grid worker's cell)."""
    if path in ("/stream",):
        pytest.skip("an endless stream; tests/test_stream.py checks who may open it")
    response = call(access_app.test_client(), method, concrete(path, objects), tokens[role])
    limited = next((roles for prefix, roles in ROLE_LIMITED.items() if path.startswith(prefix)), None)
    if limited is not None and role not in limited:
        assert response.status_code == 403
    else:
        assert response.status_code not in (401, 403), (response.status_code, response.get_data(as_text=True)[:200])
    assert response.status_code < 500


@pytest.mark.parametrize("role", ["grid_worker", "grid_leader"])
@pytest.mark.parametrize("method,path", [(m, p) for m, p in STAFF_OPS if p.startswith(OBJECT_PATHS)
                                         and "{photo_id}" not in p],
                         ids=[f"{m} {p}" for m, p in STAFF_OPS if p.startswith(OBJECT_PATHS) and "{photo_id}" not in p])
def test_another_grids_objects_are_404_not_403(access_app, tokens, objects, city_engine, role, method, path):
    """Object level: asking for another community's event or grid by id is a 404, and changes nothing."""
    before = _fingerprint(city_engine)
    response = call(access_app.test_client(), method, concrete(path, objects, inside=False), tokens[role])
    assert response.status_code == 404, (response.status_code, response.get_data(as_text=True)[:200])
    assert _fingerprint(city_engine) == before


def test_the_same_reads_inside_the_scope_are_allowed(access_app, tokens, objects):
    client = access_app.test_client()
    for url in (f"/api/events/{objects['event_in']}", f"/api/grids/{objects['grid_in']}",
                f"/api/grids/{objects['grid_in']}/history"):
        assert call(client, "GET", url, tokens["grid_worker"]).status_code == 200, url


def test_a_photo_of_another_grids_event_is_404(access_app, tokens, objects, own_events, city_engine):
    client = access_app.test_client()
    with city_engine.connect() as conn:
        lon, lat = conn.execute(text("SELECT ST_X(ST_PointOnSurface(geom)), ST_Y(ST_PointOnSurface(geom)) FROM grid "
                                     "WHERE code = :c AND valid_to IS NULL"), {"c": objects["grid_out"]}).one()
    picture = io.BytesIO()
    Image.new("RGB", (32, 32), (20, 90, 200)).save(picture, "JPEG")
    made = client.post("/api/events", headers={"Authorization": f"Bearer {tokens['admin']}"},
                       content_type="multipart/form-data",
                       data={"category": "noise", "description": "噪音", "lon": str(lon), "lat": str(lat),
                             "photos": [(io.BytesIO(picture.getvalue()), "a.jpg")]})
    assert made.status_code == 201, made.get_data(as_text=True)
    url = made.get_json()["properties"]["photos"][0]
    assert call(client, "GET", url, tokens["admin"]).status_code == 200
    assert call(client, "GET", url, tokens["commander"]).status_code == 200
    assert call(client, "GET", url, tokens["grid_worker"]).status_code == 404
    assert call(client, "GET", url, tokens["citizen"]).status_code == 403
    assert call(client, "GET", url).status_code == 401


def test_reads_are_cut_to_the_callers_scope(access_app, tokens, objects):
    """The same list, asked by the whole-city commander and by worker1: worker1 gets only its cell's events."""
    client = access_app.test_client()
    everyone = call(client, "GET", "/api/events?limit=1000", tokens["commander"]).get_json()
    mine = call(client, "GET", "/api/events?limit=1000", tokens["grid_worker"]).get_json()
    ids = {f["id"] for f in mine["features"]}
    assert objects["event_in"] in ids and objects["event_out"] not in ids
    assert objects["event_out"] in {f["id"] for f in everyone["features"]}
    grids = call(client, "GET", "/api/grids", tokens["grid_worker"]).get_data(as_text=True)
    assert objects["grid_out"] not in grids


def _fingerprint(engine) -> tuple:
    with engine.connect() as conn:
        return conn.execute(text(
            "SELECT (SELECT count(*) FROM event_log), (SELECT max(rev) FROM event), (SELECT count(*) FROM grid), "
            "(SELECT count(*) FROM department_rating)")).one()


# --- nothing from outside the scope in lists, aggregates and tiles ----------------------------------------

GRID_CODE = re.compile(r"(?<![\d.])\d{6}(?:\.\d{3})+(?![\d.])")  # below the district (bare 6 digits: colours)
# reference outlines every staff role is shown whole (no scope placeholder in their SQL): not the scope's data
OUTLINES = ("communities", "streets", "cells")
EVENT_REF = re.compile(r"\bE\d{8}\b")
COLLECTION_BODIES = {"/search": {}, "/search/export": {}}
QUERY = {"/api/identify": "?radius=2000&lon={lon}&lat={lat}", "/api/events": "?limit=1000",
         "/api/events/export": "?format=csv", "/api/stats/events": "?by=grid&level=cell"}


@pytest.fixture(scope="module")
def worker_view(city_engine, objects):
    """What worker1 may name: codes of its cell's subtree and ancestors, refs of its events, the out-of-scope
    grid's centre and the tile over it."""
    with city_engine.connect() as conn:
        mine = objects["grid_in"]
        codes = set(conn.execute(text(
            "SELECT code FROM grid g WHERE g.path <@ (SELECT path FROM grid WHERE code = :m AND valid_to IS NULL) "
            "OR (SELECT path FROM grid WHERE code = :m AND valid_to IS NULL) <@ g.path"), {"m": mine}).scalars())
        refs = set(conn.execute(text("SELECT e.ref FROM event e JOIN grid g ON g.id = e.grid_id "
                                     "WHERE g.code LIKE :m || '%'"), {"m": mine}).scalars())
        ids = set(conn.execute(text("SELECT e.id FROM event e JOIN grid g ON g.id = e.grid_id "
                                    "WHERE g.code LIKE :m || '%'"), {"m": mine}).scalars())
        lon, lat = conn.execute(text("SELECT ST_X(e.geom), ST_Y(e.geom) FROM event e WHERE e.id = :e"),
                                {"e": objects["event_out"]}).one()
    return {"codes": codes, "refs": refs, "ids": ids, "lon": lon, "lat": lat}


def assert_nothing_outside(body: str, view: dict, what: str) -> None:
    outside_codes = {c for c in GRID_CODE.findall(body) if c not in view["codes"]}
    assert not outside_codes, (what, sorted(outside_codes)[:5])
    outside_refs = set(EVENT_REF.findall(body)) - view["refs"]
    assert not outside_refs, (what, sorted(outside_refs)[:5])


COLLECTIONS = [(m, p) for m, p in STAFF_OPS if "{" not in p and p != "/stream"
               and (m == "GET" or p.endswith(tuple(COLLECTION_BODIES)))]


@pytest.mark.parametrize("method,path", COLLECTIONS, ids=[f"{m} {p}" for m, p in COLLECTIONS])
def test_lists_and_aggregates_hold_nothing_from_outside_the_scope(access_app, tokens, worker_view, method, path):
    url = path + QUERY.get(path, "").format(**worker_view)
    response = call(access_app.test_client(), method, url, tokens["grid_worker"])
    assert response.status_code < 500
    if response.status_code == 200:
        body = response.get_data(as_text=True)
        if path == "/analyst":  # its map draws every cell's outline (OUTLINES); its grid picker is the scope's
            body = " ".join(re.findall(r"<option[^>]*>", body))
        assert_nothing_outside(body, worker_view, url)


def test_overview_counts_only_the_scope(access_app, tokens, worker_view, objects):
    body = call(access_app.test_client(), "GET", "/api/overview", tokens["grid_worker"]).get_json()
    assert {g["code"] for g in body["grids"]} <= worker_view["codes"] and body["grids"]
    everyone = call(access_app.test_client(), "GET", "/api/overview", tokens["commander"]).get_json()
    assert body["totals"]["events"] == len(worker_view["ids"]) < everyone["totals"]["events"]


def _tile_for(lon: float, lat: float, z: int) -> tuple[int, int]:
    """The Web Mercator tile holding lon/lat at zoom z."""
    n = 2 ** z
    return int((lon + 180) / 360 * n), int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)


@pytest.mark.parametrize("z", [10, 13, 15, 18])
def test_tiles_hold_nothing_from_outside_the_scope(access_app, tokens, worker_view, city_engine, z):
    """Every layer's tile over the other community's event, decoded: no code, event id or ref of theirs."""
    import mapbox_vector_tile

    from layers import catalogue
    x, y = _tile_for(worker_view["lon"], worker_view["lat"], z)
    client = access_app.test_client()
    for layer in catalogue.all_layers():
        if not layer.minzoom <= z <= layer.maxzoom or layer.id in OUTLINES:
            continue
        response = call(client, "GET", f"/tiles/{layer.id}/{z}/{x}/{y}.pbf", tokens["grid_worker"])
        assert response.status_code in (200, 204), (layer.id, response.status_code)
        if response.status_code == 204:
            continue
        decoded = mapbox_vector_tile.decode(response.data)
        for feature in decoded.get(layer.id, {}).get("features", []):
            props = feature["properties"]
            if "code" in props:
                assert props["code"] in worker_view["codes"], (layer.id, props)
            if layer.id == "events" and "id" in props:
                assert props["id"] in worker_view["ids"], (layer.id, props)


def test_analysis_tiles_show_only_runs_of_the_callers_scope(access_app, tokens, worker_view, city_engine):
    """A whole-city hotspot run (the commander's) is not what worker1's hotspot tiles show, even over its cell
    (its cells' scores and counts were computed from the whole city's events)."""
    import mapbox_vector_tile
    client = access_app.test_client()
    assert call(client, "GET", "/api/analysis/hotspots?unit=grid", tokens["commander"]).status_code == 200
    with city_engine.connect() as conn:
        lon, lat = conn.execute(text("SELECT ST_X(ST_PointOnSurface(geom)), ST_Y(ST_PointOnSurface(geom)) FROM grid "
                                     "WHERE code = :c AND valid_to IS NULL"), {"c": max(worker_view["codes"], key=len)}).one()
    z = 13
    x, y = _tile_for(lon, lat, z)
    seen = call(client, "GET", f"/tiles/hotspots/{z}/{x}/{y}.pbf", tokens["commander"])
    assert seen.status_code == 200 and mapbox_vector_tile.decode(seen.data)["hotspots"]["features"]
    mine = call(client, "GET", f"/tiles/hotspots/{z}/{x}/{y}.pbf", tokens["grid_worker"])
    shown = {f["properties"]["cell"] for f in (mapbox_vector_tile.decode(mine.data)["hotspots"]["features"]
                                               if mine.status_code == 200 else [])}
    with city_engine.connect() as conn:  # runs worker1 made itself (the sweep above asks for hotspots) may show
        own = set(conn.execute(text(
            "SELECT c.cell FROM analysis_cell c JOIN analysis_run r ON r.id = c.run_id "
            "WHERE r.kind = 'hotspots' AND r.params->'scope' = to_jsonb(CAST(:s AS text[]))"),
            {"s": [max(worker_view["codes"], key=len)]}).scalars())  # worker1's scope: its one cell
    assert shown <= own, sorted(shown - own)[:5]


# --- a department reads the cases dispatched to it ----------------------------------------------------------

def test_a_department_reads_only_its_own_cases(access_app, tokens, city_engine):
    with city_engine.connect() as conn:
        department = conn.execute(text(
            "SELECT department_id FROM app_user WHERE username = (SELECT min(username) FROM app_user "
            "WHERE role = 'department')")).scalar_one()
        theirs = set(conn.execute(text("SELECT id FROM event WHERE department_id = :d OR :d = ANY(joint_department_ids)"),
                                  {"d": department}).scalars())
        other = conn.execute(text("SELECT min(id) FROM event WHERE department_id IS DISTINCT FROM :d "
                                  "AND NOT :d = ANY(joint_department_ids)"), {"d": department}).scalar_one()
    client = access_app.test_client()
    listed = {f["id"] for f in call(client, "GET", "/api/events?limit=1000", tokens["department"]).get_json()["features"]}
    assert listed == theirs
    assert call(client, "GET", f"/api/events/{other}", tokens["department"]).status_code == 404
    summary = call(client, "GET", "/api/live/summary", tokens["department"]).get_json()
    assert {r["id"] for r in summary["latest"]} <= theirs


# --- role x write operation ---------------------------------------------------------------------------------

WRITES = [  # (role, method, path template, body, expected status)
    ("analyst", "POST", "/api/events/{open_in}/transitions", {"to": "in_progress"}, 403),  # a move the table allows
    ("commander", "POST", "/api/grids/edits", {"grids": [{"code": "{grid_in}", "geometry": {
        "type": "Polygon", "coordinates": [[[103.7, 36.0], [103.71, 36.0], [103.71, 36.01], [103.7, 36.0]]]}}]}, 403),
    ("department", "POST", "/api/events/{event_in}/transitions", {"to": "in_progress"}, 404),
    ("analyst", "POST", "/api/events", "report", 403),
    ("commander", "POST", "/api/events", "report", 403),
    ("department", "POST", "/api/events", "report", 403),
    ("grid_worker", "POST", "/api/events", "report_out", 403),
    ("analyst", "PUT", "/api/routing/noise", {"department": "public_security"}, 403),
]


@pytest.mark.parametrize("role,method,path,body,status", WRITES, ids=[f"{r} {m} {p}" for r, m, p, *_ in WRITES])
def test_roles_may_not_make_writes_outside_their_work(access_app, tokens, objects, city_engine, role, method, path,
                                                       body, status):
    with city_engine.connect() as conn:
        spots = {side: conn.execute(text(
            "SELECT ST_X(ST_PointOnSurface(geom)), ST_Y(ST_PointOnSurface(geom)) FROM grid "
            "WHERE code = :c AND valid_to IS NULL"), {"c": objects[f"grid_{side}"]}).one() for side in ("in", "out")}
    if isinstance(body, dict) and "grids" in body:
        body = {"grids": [{**g, "code": objects["grid_in"]} for g in body["grids"]]}
    if isinstance(body, str):
        lon, lat = spots["out" if body == "report_out" else "in"]
        body = {"category": "noise", "description": "矩阵测试", "lon": lon, "lat": lat}
    before = _fingerprint(city_engine), _events(city_engine)
    with city_engine.connect() as conn:
        open_in = conn.execute(text("SELECT min(id) FROM event WHERE status = 'suspended' "
                                    "AND grid_id IS NOT NULL")).scalar_one()
    url = path.format(**objects, open_in=open_in)
    headers = {"Authorization": f"Bearer {tokens[role]}", **({"If-Match": f'"{objects["grid_in"]}@1"'} if url.endswith("/edits") else {})}
    response = access_app.test_client().open(url, method=method, json=body, headers=headers)
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True)[:200])
    assert (_fingerprint(city_engine), _events(city_engine)) == before


NEAR_EDGE_SQL = text("""
WITH mine AS (SELECT geom FROM grid WHERE code = :c AND valid_to IS NULL),
other AS (SELECT g.geom FROM grid g, mine m WHERE g.valid_to IS NULL AND g.level = 'cell' AND g.code <> :c
          AND ST_Intersects(g.geom, m.geom) AND ST_Length(ST_Intersection(ST_Boundary(g.geom), ST_Boundary(m.geom))) > 0
          ORDER BY g.code LIMIT 1),
edge AS (SELECT ST_PointOnSurface(ST_Intersection(ST_Boundary(o.geom), ST_Boundary(m.geom))) AS p FROM mine m, other o),
ring AS (SELECT ST_Buffer(CAST(p AS geography), 15)::geometry AS r FROM edge)
SELECT ST_AsText(ST_PointOnSurface(ST_Intersection(m.geom, ring.r))) AS inside,
       ST_AsText(ST_PointOnSurface(ST_Intersection(o.geom, ring.r))) AS outside
FROM mine m, other o, ring
""")


def test_a_report_answer_names_no_duplicate_outside_the_scope(access_app, tokens, objects, city_engine, own_events):
    """worker1 reports a few metres inside its cell, next to an open case just across the edge: the admin, who
    sees both, is told of that case; worker1 is not (the case lies outside its scope)."""
    with city_engine.begin() as conn:
        inside, outside = conn.execute(NEAR_EDGE_SQL, {"c": objects["grid_in"]}).one()
        across = conn.execute(text(
            "INSERT INTO event (title, category, source, reported_at, geom) "
            "VALUES ('对面的案件', 'noise', 'grid_worker', now(), ST_GeomFromText(:p, 4326)) RETURNING id"),
            {"p": outside}).scalar_one()
    lon, lat = (float(x) for x in inside.removeprefix("POINT(").rstrip(")").split())
    client = access_app.test_client()

    def report(role):
        """The answer's duplicate; the report is then removed, so it is no one's duplicate itself."""
        made = client.post("/api/events", headers={"Authorization": f"Bearer {tokens[role]}"},
                           json={"category": "noise", "description": "重复？", "lon": lon, "lat": lat})
        assert made.status_code == 201, made.get_data(as_text=True)[:200]
        with city_engine.begin() as conn:
            conn.execute(text("DELETE FROM event_log WHERE event_id = :e"), {"e": made.get_json()["id"]})
            conn.execute(text("DELETE FROM event WHERE id = :e"), {"e": made.get_json()["id"]})
        return made.get_json()["properties"]["possible_duplicate_of"]

    assert across not in _ids_in(city_engine, objects["grid_in"])
    duplicate = report("grid_worker")
    assert report("admin") == across  # the case across the edge is the nearest duplicate
    assert duplicate != across
    assert duplicate is None or duplicate in _ids_in(city_engine, objects["grid_in"])


def _ids_in(engine, code: str) -> set[int]:
    with engine.connect() as conn:
        return set(conn.execute(text("SELECT e.id FROM event e JOIN grid g ON g.id = e.grid_id "
                                     "WHERE g.code LIKE :c || '%'"), {"c": code}).scalars())


def _events(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM event")).scalar_one()
