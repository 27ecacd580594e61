"""The situation layer (态势): tiles decoded with mapbox-vector-tile, counts equal to plain SQL, per scope."""
from __future__ import annotations

import gzip
import math

import mapbox_vector_tile
import pytest
from sqlalchemy import text

from layers import catalogue

OPEN_SQL = text("""
SELECT g.code, count(e.id) FILTER (WHERE e.status NOT IN ('resolved', 'verified', 'closed', 'rejected')) AS open,
       count(e.id) FILTER (WHERE e.status NOT IN ('resolved', 'verified', 'closed', 'rejected') AND e.overdue)
         AS overdue,
       count(e.id) FILTER (WHERE e.status NOT IN ('resolved', 'verified', 'closed', 'rejected') AND e.is_major)
         AS major
FROM grid g LEFT JOIN grid leaf ON leaf.path <@ g.path LEFT JOIN event e ON e.grid_id = leaf.id
WHERE g.valid_to IS NULL AND g.level = :level
GROUP BY g.code
""")


def tiles_covering(bounds, z):
    def tile_of(lon, lat):
        n = 1 << z
        return (int((lon + 180) / 360 * n),
                int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n))
    x0, y1 = tile_of(bounds[0], bounds[1])
    x1, y0 = tile_of(bounds[2], bounds[3])
    return [(x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)]


@pytest.fixture(scope="module")
def bounds(city_engine):
    with city_engine.connect() as conn:
        return tuple(conn.execute(text(
            "SELECT ST_XMin(geom), ST_YMin(geom), ST_XMax(geom), ST_YMax(geom) FROM grid "
            "WHERE level = 'district' AND valid_to IS NULL")).one())


def features(client, bounds, z, user=None, **query):
    """Every feature of every tile over the district at z, by grid code (a polygon crosses tiles)."""
    out = {}
    headers = {"X-Demo-User": user} if user else {}
    for x, y in tiles_covering(bounds, z):
        response = client.get(f"/tiles/situation/{z}/{x}/{y}.pbf", query_string=query, headers=headers,
                              environ_base={"HTTP_ACCEPT_ENCODING": "gzip"})
        if response.status_code == 204:
            continue
        assert response.status_code == 200, response.get_data(as_text=True)
        body = response.data
        if response.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        for feature in mapbox_vector_tile.decode(body).get("situation", {}).get("features", []):
            out[feature["properties"]["code"]] = feature["properties"]
    return out


def colour(row) -> str:
    return "red" if row["overdue"] or row["major"] else "yellow" if row["open"] else "green"


@pytest.mark.parametrize("z, level", [(9, "street"), (12, "community"), (14, "cell")])
def test_counts_and_colours_equal_sql(client, city_engine, bounds, z, level):
    with city_engine.connect() as conn:
        expected = {r.code: r._asdict() for r in conn.execute(OPEN_SQL, {"level": level})}
    got = features(client, bounds, z)
    assert set(got) == set(expected)
    for code, row in expected.items():
        props = got[code]
        assert (props["open"], props["overdue"], props["major"]) == (row["open"], row["overdue"], row["major"]), code
        assert props["situation"] == colour(row) and props["level"] == level


@pytest.mark.parametrize("user", ["street1", "leader1"])  # the tiny city has one street: leader1 has less
def test_a_scoped_commander_sees_only_their_area(client, city_engine, bounds, user):
    with city_engine.connect() as conn:
        (scope,) = conn.execute(text("SELECT scope::text[] FROM app_user WHERE username = :u"), {"u": user}).one()
        cells = {c for (c,) in conn.execute(text(
            "SELECT code FROM grid WHERE level = 'cell' AND valid_to IS NULL AND path <@ CAST(:s AS ltree[])"),
            {"s": list(scope)})}
    for z in (9, 12, 14):
        got = features(client, bounds, z, user=user)
        assert all(any(code == s or code.startswith(s + ".") for s in scope) for code in got)
    assert set(got) == cells  # z14: every cell of the area, and only those


def test_a_category_filter_counts_only_that_category(client, city_engine, bounds):
    with city_engine.connect() as conn:
        expected = dict(conn.execute(text(
            "SELECT g.code, count(*) FROM event e JOIN grid g ON g.id = e.grid_id WHERE g.level = 'cell' "
            "AND e.category = 'noise' AND e.status NOT IN ('resolved', 'verified', 'closed', 'rejected') "
            "GROUP BY g.code")).all())
    got = features(client, bounds, 14, category="noise")
    assert {c: p["open"] for c, p in got.items() if p["open"]} == expected


def test_the_catalogue_entry_reads_what_changes_it():
    layer = catalogue.get("situation")
    assert set(layer.reads) >= {"grid", "grid_shape", "event"}
    assert [e.label for e in layer.legend] == ["无待办事件", "有待办事件", "超期或重大事件"]
