"""A split drawn as a line: the server turns it into an ordinary edit that validates, applies and keeps coverage."""
from __future__ import annotations

import pytest
import shapely
from sqlalchemy import text

from data import grid_edits, grid_split
from data.actors import Actor
from data.errors import Refused

ADMIN = Actor("admin", "admin")


@pytest.fixture
def cell(city_conn):
    code, version, wkb = city_conn.execute(text(
        "SELECT code, version, ST_AsBinary(geom) FROM grid WHERE level = 'cell' AND kind = 'regular' "
        "AND valid_to IS NULL ORDER BY code LIMIT 1")).one()
    return code, version, shapely.from_wkb(bytes(wkb))


def across(polygon) -> dict:
    """A west–east line through the middle of the polygon, overshooting both sides."""
    x0, y0, x1, y1 = polygon.bounds
    y = polygon.representative_point().y
    return {"type": "LineString", "coordinates": [[x0 - 0.01, y], [x1 + 0.01, y]]}


def test_a_line_across_a_grid_splits_it_into_a_kept_piece_and_a_new_grid(city_conn, cell):
    code, version, polygon = cell
    edit = grid_split.proposal(city_conn, code, across(polygon))
    kept, new = edit["grids"][0], [g for g in edit["grids"] if "key" in g]
    assert kept["code"] == code and kept["version"] == version and [n["key"] for n in new] == ["new-1"]
    pieces = [shapely.geometry.shape(g["geometry"]) for g in [kept, *new]]
    assert abs(sum(p.area for p in pieces) - polygon.area) < 1e-12 and shapely.coverage_is_valid(pieces)
    neighbours = [g for g in edit["grids"][1:] if "code" in g]  # the same outline, with the crossing vertices
    for g in neighbours:
        assert g["code"].rsplit(".", 1)[0] == code.rsplit(".", 1)[0]
    plan = grid_edits.validate(city_conn, grid_edits.Edit.parse(edit))
    assert plan.ok, plan.as_json()
    before = city_conn.execute(text("SELECT count(*) FROM grid WHERE valid_to IS NULL AND level = 'cell'")).scalar()
    versions = {g["code"]: g["version"] for g in edit["grids"] if "code" in g}
    grid_edits.apply(city_conn, grid_edits.Edit.parse({**edit, "note": "新小区分片"}), ADMIN, versions)
    after = city_conn.execute(text("SELECT count(*) FROM grid WHERE valid_to IS NULL AND level = 'cell'")).scalar()
    assert after == before + 1
    outside = city_conn.execute(text("SELECT count(*) FROM house WHERE grid_id IS NULL")).scalar()
    assert outside == 0  # every house still in a current grid


@pytest.mark.parametrize("line,why", [
    ({"type": "Point", "coordinates": [1, 2]}, "LineString"),
    ({"type": "LineString", "coordinates": [[1, 2], [1, 2]]}, "two distinct points"),
    (None, "LineString"),
])
def test_bad_lines_are_refused(city_conn, cell, line, why):
    with pytest.raises(Refused, match=why):
        grid_split.proposal(city_conn, cell[0], line)


def test_a_line_that_does_not_cross_is_refused(city_conn, cell):
    code, _, polygon = cell
    x, y = polygon.representative_point().coords[0]
    with pytest.raises(Refused, match="cross"):
        grid_split.proposal(city_conn, code, {"type": "LineString", "coordinates": [[x, y], [x + 1e-6, y]]})


def test_split_over_http_is_scoped(client, city_engine):
    with city_engine.connect() as conn:
        code, wkb = conn.execute(text(
            "SELECT code, ST_AsBinary(geom) FROM grid WHERE level = 'cell' AND kind = 'regular' "
            "AND valid_to IS NULL ORDER BY code DESC LIMIT 1")).one()
    line = across(shapely.from_wkb(bytes(wkb)))
    ok = client.post(f"/api/grids/{code}/split", json={"line": line}, headers={"X-Demo-User": "admin"})
    assert ok.status_code == 200 and len(ok.get_json()["grids"]) >= 2
    far = client.post(f"/api/grids/{code}/split", json={"line": line}, headers={"X-Demo-User": "worker1"})
    assert far.status_code in (403, 404)
