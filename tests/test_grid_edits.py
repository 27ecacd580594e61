"""Boundary edits on a fresh copy of the tiny city: edge move, split, merge, undo, refusals, races."""
from __future__ import annotations

import threading

import geopandas as gpd
import numpy as np
import pytest
import shapely
from hypothesis import HealthCheck, given, settings, strategies as st
from sqlalchemy import text

from data.actors import Actor
from data.errors import Refused
from data.grid_edits import Edit, apply, history, undo, validate
from tests.conftest import DEMO_AS_OF, db_name, migrated_engine

ADMIN = Actor("admin", "admin")
PARENT = "990101.001.003"
A, B = "990101.001.003.001", "990101.001.003.002"
PINNED = ("house", "place", "thing", "organization", "event", "visit")


@pytest.fixture(scope="module")
def engine(tiny_city):
    from data.demo.load import load

    engine = migrated_engine(db_name("grid_edits"))
    load(engine, tiny_city, progress=False)
    yield engine
    engine.dispose()


def grids(conn, parent=PARENT) -> dict:
    rows = conn.execute(text("SELECT code, version, ST_AsBinary(geom) FROM grid WHERE valid_to IS NULL "
                             "AND path ~ CAST(:q AS lquery) ORDER BY code"), {"q": f"{parent}.*{{1}}"}).all()
    return {r[0]: (r[1], shapely.from_wkb(bytes(r[2]))) for r in rows}


def geojson(g) -> dict:
    return shapely.geometry.mapping(g)


def inner_vertices(conn):
    """Vertices of the sibling coverage off the parent's boundary, each with the grids that share it."""
    gs = grids(conn)
    outline = parent_geom(conn).boundary
    where: dict[tuple, list] = {}
    for k, (_, g) in gs.items():
        for p in set(map(tuple, shapely.get_coordinates(g).tolist())):
            where.setdefault(p, []).append(k)
    free = sorted((p, ks) for p, ks in where.items() if len(ks) >= 2 and outline.distance(shapely.Point(p)) > 1e-6)
    return free, gs


def parent_geom(conn):
    return shapely.from_wkb(bytes(conn.execute(text(
        "SELECT ST_AsBinary(geom) FROM grid WHERE code = :c AND valid_to IS NULL"), {"c": PARENT}).scalar_one()))


def move_vertex(g, old, new):
    def f(xy):
        hit = (xy[:, 0] == old[0]) & (xy[:, 1] == old[1])
        xy = xy.copy()
        xy[hit] = new
        return xy
    return shapely.transform(g, f)


def edge_move_edit(conn, dx=0.0002, dy=0.0001, index=0) -> Edit:
    """Drag one shared vertex: every grid that has it changes together."""
    free, gs = inner_vertices(conn)
    old, codes = free[index % len(free)]
    new = (old[0] + dx, old[1] + dy)
    entries = [{"code": k, "version": gs[k][0], "geometry": geojson(move_vertex(gs[k][1], old, new))} for k in codes]
    return Edit.parse({"grids": entries, "note": "edge move"})


def moving_edge(conn):
    """The first valid vertex drag that moves some houses."""
    for index in range(60):
        for dx, dy in ((0.0004, 0.0002), (-0.0004, -0.0002), (0.0002, -0.0004), (-0.0002, 0.0004)):
            edit = edge_move_edit(conn, dx, dy, index)
            plan = validate(conn, edit)
            if plan.ok and sum(r["moving_in"]["houses"] for r in plan.rows):
                return edit, plan
    raise AssertionError("no vertex drag moves a house")


def etags(edit: Edit) -> dict:
    return {e.code: e.version for e in edit.entries if e.code}


def split_edit(conn, code=A, i=0, j=None) -> Edit:
    """Cut `code` along a straight line between two of its own vertices (so no neighbour gains a vertex)."""
    version, g = grids(conn)[code]
    ring = shapely.get_coordinates(g.geoms[0].exterior)[:-1]
    j = len(ring) // 2 if j is None else j
    line = shapely.LineString([ring[i], ring[j]])
    parts = shapely.get_parts(shapely.ops.split(g.geoms[0], line))
    first, second = parts[0], shapely.union_all(parts[1:])
    return Edit.parse({"note": "split", "grids": [
        {"code": code, "version": version, "geometry": geojson(first)},
        {"key": "n1", "geometry": geojson(second)}]})


def tiling_ok(conn) -> None:
    gs = grids(conn)
    assert shapely.coverage_is_valid(np.array([g for _, g in gs.values()]))
    union = shapely.union_all([g for _, g in gs.values()])
    assert shapely.symmetric_difference(union, parent_geom(conn)).area < 1e-10


def pins_ok(conn) -> None:
    """Every pin in exactly one current leaf grid, recounted by geopandas, matching the stored grid_id."""
    leaves = gpd.read_postgis(
        "SELECT id, code, geom FROM grid g WHERE valid_to IS NULL AND NOT EXISTS (SELECT 1 FROM grid k "
        "WHERE k.valid_to IS NULL AND k.path <@ g.path AND k.id <> g.id)", conn, geom_col="geom")
    for table in ("house", "place", "thing", "organization", "event"):
        pins = gpd.read_postgis(f"SELECT id, grid_id, geom FROM {table}", conn, geom_col="geom")
        hits = gpd.sjoin(pins, leaves, predicate="within", how="left")
        counts = hits.groupby("id_left").size()
        assert counts.max() == 1, table
        inside = hits.dropna(subset=["id_right"])
        assert (inside["grid_id"] == inside["id_right"]).all(), table


def snapshot(conn) -> tuple:
    return (conn.execute(text("SELECT count(*), max(id) FROM grid")).one(),
            conn.execute(text("SELECT count(*) FROM audit_log")).scalar(),
            conn.execute(text("SELECT md5(string_agg(id || ':' || coalesce(grid_id, 0), ',' ORDER BY id)) FROM house"
                              )).scalar())


def pin_grids(conn) -> dict:
    return {t: dict(conn.execute(text(f"SELECT p.id, g.code FROM {t} p LEFT JOIN grid g ON g.id = p.grid_id")).all())
            for t in ("house", "place", "thing", "organization", "event")}


def check_moved(before, after, preview, done) -> None:
    """What apply moved equals what preview said it would (houses; every pin kind but events counted open),
    and apply's own report (moved rows, pins reassigned) says what really changed."""
    moved = {t: sum(before[t][k] != after[t][k] for k in before[t]) for t in before}
    assert done["moved"] == preview
    assert {t: n for t, n in moved.items() if n} == {t: n for t, n in done["reassigned"].items() if t in moved}
    rows = preview
    assert moved["house"] == sum(r["moving_in"]["houses"] for r in rows)
    assert moved["place"] == sum(r["moving_in"]["places"] for r in rows)
    assert moved["thing"] == sum(r["moving_in"]["things"] for r in rows)
    assert moved["organization"] == sum(r["moving_in"]["organizations"] for r in rows)


def test_edge_move_then_undo(engine):
    with engine.connect() as conn, conn.begin():
        edit, plan = moving_edge(conn)
        parent_before = parent_geom(conn)
        before = pin_grids(conn)
        done = apply(conn, edit, ADMIN, etags(edit))
        assert {g["action"] for g in done["grids"]} == {"change"} and len(done["grids"]) >= 2
        check_moved(before, pin_grids(conn), plan.rows, done)
        tiling_ok(conn)
        pins_ok(conn)
        assert parent_geom(conn).equals_exact(parent_before, 0)
        versions = {k: v for k, (v, _) in grids(conn).items()}
        first = edit.entries[0].code
        undone = undo(conn, first, ADMIN, {first: versions[first]})
        assert all(g["action"] == "change" for g in undone["grids"])
        assert pin_grids(conn) == before
        tiling_ok(conn)
        assert [v["version"] for v in history(conn, first)["versions"]][:3] == [
            versions[first] + 1, versions[first], versions[first] - 1]
        conn.rollback()


def test_split_and_merge_and_undo(engine):
    with engine.connect() as conn, conn.begin():
        before = pin_grids(conn)
        edit = split_edit(conn)
        plan = validate(conn, edit)
        assert plan.ok, plan.as_json()
        done = apply(conn, edit, ADMIN, {A: plan.current[A]["version"]})
        new = next(g["code"] for g in done["grids"] if g["action"] == "create")
        assert new == "990101.001.003.008"  # next unused; 901 is the dedicated grid's own range
        check_moved(before, pin_grids(conn), plan.rows, done)
        tiling_ok(conn)
        pins_ok(conn)
        gs = grids(conn)
        merged = shapely.union_all([gs[A][1], gs[new][1]])
        merge = Edit.parse({"note": "merge back", "grids": [
            {"code": A, "version": gs[A][0], "geometry": geojson(merged)}, {"code": new, "version": 1, "retire": True}]})
        apply(conn, merge, ADMIN, {A: gs[A][0], new: 1})
        assert new not in grids(conn)
        tiling_ok(conn)
        pins_ok(conn)
        assert pin_grids(conn) == before
        undone = undo(conn, A, ADMIN, {A: gs[A][0] + 1})  # the merge undone: the split grid is back as version 2
        assert {g["code"]: g["version"] for g in undone["grids"]}[new] == 2
        tiling_ok(conn)
        pins_ok(conn)
        conn.rollback()


def bad(conn, entries, **kw):
    return validate(conn, Edit.parse({"grids": entries, "note": "x"}), **kw)


def codes_of(plan) -> set:
    return {p["code"] for p in plan.as_json() if p["severity"] == "error"}


@pytest.mark.parametrize("name, shape, code", [
    ("bowtie", {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}, "self_intersection"),
    ("unclosed", {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1]]]}, "unclosed_ring"),
    ("hole_outside", {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]],
                                                         [[2, 2], [3, 2], [3, 3], [2, 2]]]}, "hole_outside_shell"),
    ("empty", {"type": "Polygon", "coordinates": []}, "empty"),
    ("wrong_type", {"type": "LineString", "coordinates": [[0, 0], [1, 1]]}, "wrong_type"),
    ("range", {"type": "Polygon", "coordinates": [[[0, 0], [200, 0], [200, 1], [0, 0]]]}, "out_of_range"),
])
def test_bad_shapes(engine, name, shape, code):
    with engine.connect() as conn:
        gs = grids(conn)
        x, y = gs[A][1].representative_point().coords[0]
        moved = shapely.affinity.translate(shapely.geometry.shape(shape), x, y) if code in (
            "self_intersection", "hole_outside_shell") else None
        geometry = geojson(moved) if moved is not None else shape
        if code == "self_intersection":
            geometry = {"type": "Polygon", "coordinates": [[[x, y], [x + .001, y + .001], [x + .001, y],
                                                            [x, y + .001], [x, y]]]}
        plan = bad(conn, [{"code": A, "geometry": geometry}])
        assert code in codes_of(plan), plan.as_json()
        problem = next(p for p in plan.as_json() if p["code"] == code)
        assert problem["grid"] == A and problem["message"]


def test_swapped_too_many_mixed_retired(engine):
    with engine.connect() as conn:
        gs = grids(conn)
        swapped = shapely.transform(gs[A][1], lambda xy: xy[:, ::-1])
        assert "swapped" in codes_of(bad(conn, [{"code": A, "geometry": geojson(swapped)}]))
        many = gs[A][1].buffer(0.0001, quad_segs=2000)
        assert "too_many_vertices" in codes_of(bad(conn, [{"code": A, "geometry": geojson(many)}]))
        other = "990101.001.002.001"
        assert "mixed_parents" in codes_of(bad(conn, [{"code": A, "geometry": geojson(gs[A][1])},
                                                      {"code": other, "retire": True}]))
        assert "retired_version" in codes_of(bad(conn, [{"code": A, "version": gs[A][0] + 5,
                                                         "geometry": geojson(gs[A][1])}]))
        gap = gs[A][1].buffer(-0.0002)
        assert "gap" in codes_of(bad(conn, [{"code": A, "geometry": geojson(gap)}]))
        grow = shapely.union_all([gs[A][1], gs[B][1].buffer(-0.0002)])
        assert "overlap" in codes_of(bad(conn, [{"code": A, "geometry": geojson(grow)}]))


def test_refusals_write_nothing(engine):
    with engine.connect() as conn:
        before = snapshot(conn)
        edit = edge_move_edit(conn)
        stale = {k: v + (k == edit.entries[-1].code) for k, v in etags(edit).items()}
        for call, status in [
            (lambda c: apply(c, edit, ADMIN, None), 428),
            (lambda c: apply(c, edit, ADMIN, stale), 412),
            (lambda c: apply(c, edit, Actor("leader9", "grid_leader", ("990101.001.001",)), {}), 403),
            (lambda c: apply(c, edit, Actor("w", "grid_worker", (PARENT,)), {}), 403),
            (lambda c: apply(c, Edit.parse({"note": "x", "grids": [{"code": A, "geometry": {"type": "Point",
                                                                   "coordinates": [0, 0]}}]}), ADMIN,
                             {A: 1}), 422),
        ]:
            conn.rollback()
            with conn.begin():
                with pytest.raises(Refused) as caught:
                    call(conn)
                assert caught.value.status == status
            assert snapshot(conn) == before
        conn.rollback()


def test_race_exactly_one_commits(engine):
    with engine.connect() as conn:
        edit, _ = moving_edge(conn)
        before = pin_grids(conn)
        conn.rollback()
    barrier, results = threading.Barrier(2), []

    def run():
        with engine.connect() as c:
            barrier.wait()
            try:
                with c.begin():
                    apply(c, edit, ADMIN, etags(edit))
                results.append("ok")
            except Refused as exc:
                results.append(exc.status)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results, key=str) == [412, "ok"]
    with engine.connect() as conn, conn.begin():
        tiling_ok(conn)
        pins_ok(conn)
        first = edit.entries[0].code
        undo(conn, first, ADMIN, {first: etags(edit)[first] + 1})
        tiling_ok(conn)
        assert pin_grids(conn) == before  # every pin back in its grid


@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
@given(kind=st.sampled_from(["move", "split"]), dx=st.floats(-0.0004, 0.0004), dy=st.floats(-0.0004, 0.0004),
       index=st.integers(0, 40))
def test_random_edits_keep_invariants(engine, kind, dx, dy, index):
    with engine.connect() as conn, conn.begin():
        edit = edge_move_edit(conn, dx, dy, index) if kind == "move" else split_edit(conn, "990101.001.003.003",
                                                                                       index % 5, 5 + index % 20)
        plan = validate(conn, edit)
        if plan.ok:
            before = pin_grids(conn)
            done = apply(conn, edit, ADMIN, {c: r["version"] for c, r in plan.current.items()})
            check_moved(before, pin_grids(conn), plan.rows, done)
            tiling_ok(conn)
            pins_ok(conn)
        else:  # a move that folds a grid over itself is refused with a located problem
            assert all(p["code"] and p["message"] for p in plan.as_json())
        conn.rollback()


@pytest.fixture(scope="module")
def edit_client(engine):
    from data.settings import Settings
    from mapserver import create_app

    url = engine.url.render_as_string(hide_password=False)
    return create_app(Settings(database_url=url), {"TESTING": True, "MINQING_DEMO_LOGIN": True, "MINQING_VERSION_TTL": 0}).test_client()


def test_api_validate_preview_apply_history_undo(engine, edit_client):
    with engine.connect() as conn:
        edit, plan = moving_edge(conn)
        body = {"note": "edge move over HTTP", "grids": [
            {"code": e.code, "version": e.version, "geometry": e.geometry} for e in edit.entries]}
    admin = {"X-Demo-User": "admin"}
    checked = edit_client.post("/api/grids/edits/validate", json=body, headers=admin).get_json()
    assert checked["ok"] and checked["limits"]["snap_tolerance_m"] == 0.5
    preview = edit_client.post("/api/grids/edits/preview", json=body, headers=admin).get_json()
    assert preview["grids"] == plan.rows
    bad_body = {"grids": [{"code": A, "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1]]]}}]}
    refused = edit_client.post("/api/grids/edits/validate", json=bad_body, headers=admin).get_json()
    assert not refused["ok"] and refused["problems"][0]["location"]["type"] == "Point"
    tags = [edit_client.get(f"/api/grids/{e.code}", headers=admin).headers["ETag"] for e in edit.entries]
    assert edit_client.post("/api/grids/edits", json=body, headers=admin).status_code == 428
    stale = ", ".join(t.replace("@", "@9") for t in tags)
    assert edit_client.post("/api/grids/edits", json=body, headers={**admin, "If-Match": stale}).status_code == 412
    leader = {"X-Demo-User": "leader1", "If-Match": ", ".join(tags)}
    scope = edit_client.get("/api/grids", headers={"X-Demo-User": "leader1"}).get_json()
    if not any(g["code"] == PARENT for g in scope["grids"][0]["children"][0]["children"]):
        assert edit_client.post("/api/grids/edits", json=body, headers=leader).status_code == 403
    assert edit_client.post("/api/grids/edits", json=body,
                            headers={"X-Demo-User": "worker1", "If-Match": ", ".join(tags)}).status_code == 403
    done = edit_client.post("/api/grids/edits", json=body, headers={**admin, "If-Match": ", ".join(tags)})
    assert done.status_code == 200, done.get_json()
    applied = done.get_json()
    assert applied["moved"] == plan.rows
    first = applied["grids"][0]
    history_ = edit_client.get(f"/api/grids/{first['code']}/history", headers=admin).get_json()
    assert history_["versions"][0]["change_note"] == "edge move over HTTP"
    undone = edit_client.post(f"/api/grids/{first['code']}/undo", json={"note": "back"},
                              headers={**admin, "If-Match": f'"{first["etag"]}"'})
    assert undone.status_code == 200, undone.get_json()
    with engine.connect() as conn:
        tiling_ok(conn)
        pins_ok(conn)
