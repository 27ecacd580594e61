"""`/api/grids` and `/api/grids/{code}` against the tiny city."""
from __future__ import annotations

import pytest
import shapely.geometry
from sqlalchemy import text



def walk(nodes):
    for node in nodes:
        yield node
        yield from walk(node["children"])


def test_the_tree_nests_by_code_and_counts_roll_up(client, city_engine):
    roots = client.get("/api/grids").get_json()["grids"]
    assert len(roots) == 1 and roots[0]["level"] == "district"
    with city_engine.connect() as conn:
        households, residents, places = conn.execute(text(
            "SELECT (SELECT count(*) FROM household), (SELECT count(*) FROM person), (SELECT count(*) FROM place)")
        ).one()
        current = conn.execute(text("SELECT count(*) FROM grid WHERE valid_to IS NULL")).scalar_one()
    assert roots[0]["households"] == households and roots[0]["residents"] == residents
    assert roots[0]["places"] == places
    nodes = list(walk(roots))
    assert len(nodes) == current
    for node in nodes:
        if node["children"]:
            assert node["households"] == sum(c["households"] for c in node["children"])
            assert all(c["code"].rpartition(".")[0] == node["code"] for c in node["children"])


def test_one_grid_with_its_polygon_children_and_a_version_etag(client, city_engine):
    with city_engine.connect() as conn:
        code, area = conn.execute(text("SELECT code, ST_Area(geom) FROM grid WHERE level = 'community' "
                                       "AND valid_to IS NULL ORDER BY code LIMIT 1")).one()
    response = client.get(f"/api/grids/{code}")
    assert response.status_code == 200 and response.headers["ETag"].startswith(f'"{code}@1.')
    body = response.get_json()
    assert shapely.geometry.shape(body["geometry"]).area == pytest.approx(area, rel=1e-5)  # 7 decimals: ~1 cm
    assert body["properties"]["parent"] == code.rpartition(".")[0]
    assert body["properties"]["children"] and all(c.startswith(code + ".") for c in body["properties"]["children"])
    again = client.get(f"/api/grids/{code}", headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304


def test_unknown_and_out_of_scope_grids_are_404(client, city_engine):
    assert client.get("/api/grids/990101.999").status_code == 404
    with city_engine.begin() as conn:
        cells = conn.execute(text("SELECT code FROM grid WHERE level = 'cell' AND valid_to IS NULL ORDER BY code "
                                  "LIMIT 2")).scalars().all()
        conn.execute(text("INSERT INTO app_user (username, display_name, role, scope) VALUES "
                          "('grid_scoped', 'x', 'grid_worker', ARRAY[CAST(:c AS ltree)]) ON CONFLICT DO NOTHING"),
                     {"c": cells[0]})
    headers = {"X-Demo-User": "grid_scoped"}
    assert client.get(f"/api/grids/{cells[0]}", headers=headers).status_code == 200
    assert client.get(f"/api/grids/{cells[1]}", headers=headers).status_code == 404
    tree = client.get("/api/grids", headers=headers).get_json()["grids"]
    assert [n["code"] for n in walk(tree)] == [cells[0]]


def test_the_grid_etag_changes_when_its_counts_do(client, city_engine):
    with city_engine.connect() as conn:
        cell, lon, lat = conn.execute(text(
            "SELECT code, ST_X(ST_PointOnSurface(geom)), ST_Y(ST_PointOnSurface(geom)) FROM grid "
            "WHERE level = 'cell' AND kind = 'regular' AND valid_to IS NULL ORDER BY code LIMIT 1")).one()
    before = client.get(f"/api/grids/{cell}")
    with city_engine.begin() as conn:
        conn.execute(text("INSERT INTO event (title, category, source, reported_at, geom) VALUES ('计数', 'noise', "
                          "'citizen_qr', now(), ST_SetSRID(ST_MakePoint(:lon, :lat), 4326))"), {"lon": lon, "lat": lat})
    try:
        after = client.get(f"/api/grids/{cell}", headers={"If-None-Match": before.headers["ETag"]})
        assert after.status_code == 200
        assert after.get_json()["properties"]["open_events"] == before.get_json()["properties"]["open_events"] + 1
    finally:
        with city_engine.begin() as conn:
            conn.execute(text("DELETE FROM event WHERE title = '计数'"))
